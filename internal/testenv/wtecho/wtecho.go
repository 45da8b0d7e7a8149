// Package wtecho is the echo handler that wt's tests serve, in this module
// and in internal/integration: each bidirectional stream is echoed, each
// unidirectional stream is answered on a new one, and datagrams are echoed;
// the datagram "close" closes the session with 4001 "bye".
package wtecho

import (
	"context"
	"io"
	"sync"

	"github.com/wirespeed/wirespeed/wt"
)

// Serve is a wt.Handler that echoes until the session ends.
func Serve(ctx context.Context, s wt.Session) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				io.Copy(st, st)
				st.Close()
			})
		}
	})
	wg.Go(func() {
		for {
			r, err := s.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				b, err := io.ReadAll(r)
				if err != nil {
					return
				}
				w, err := s.OpenUniStream(ctx)
				if err != nil {
					return
				}
				w.Write(b)
				w.Close()
			})
		}
	})
	for {
		b, err := s.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if string(b) == "close" {
			s.Close(4001, "bye")
			return
		}
		s.SendDatagram(b)
	}
}
