package wt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/wirespeed/wirespeed/wt"
)

func TestEcho(t *testing.T) {
	e := startEnv(t, echo, nil)
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			caps := s.Capabilities()
			if caps.Transport != tr || caps.ReliableDatagrams != (tr == wt.TransportWebSocket) || caps.IndependentStreams != (tr == wt.TransportWebTransport) {
				t.Fatalf("capabilities %+v", caps)
			}
			// Eight streams at once, each larger than a window.
			errc := make(chan error, 8)
			for i := range 8 {
				go func() {
					st, err := s.OpenStream(ctx)
					if err != nil {
						errc <- err
						return
					}
					msg := bytes.Repeat([]byte{byte(i)}, 600<<10)
					go func() {
						st.Write(msg)
						st.Close()
					}()
					got, err := io.ReadAll(st)
					if err == nil && !bytes.Equal(got, msg) {
						err = fmt.Errorf("stream %d: got %d bytes, want %d", i, len(got), len(msg))
					}
					errc <- err
				}()
			}
			for range 8 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			w, err := s.OpenUniStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("uni hello"))
			w.Close()
			r, err := s.AcceptUniStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(r); err != nil || string(b) != "uni hello" {
				t.Fatalf("uni echo %q, %v", b, err)
			}
			// Datagrams: on loopback they arrive; resend until one does.
			got := make(chan []byte, 1)
			go func() {
				b, err := s.ReceiveDatagram(ctx)
				if err == nil {
					got <- b
				}
				close(got)
			}()
			for sent := 0; ; sent++ {
				if err := s.SendDatagram([]byte("dgram")); err != nil {
					t.Fatal(err)
				}
				select {
				case b := <-got:
					if string(b) != "dgram" {
						t.Fatalf("datagram %q", b)
					}
					return
				case <-ctx.Done():
					t.Fatal("no datagram came back")
				case <-afterMillis(50):
				}
			}
		})
	}
}

// TestCloseCode: the code and reason of whichever side closes arrive at
// the other, on both transports; on WebTransport this is the
// webtransport-go pitfall (the session context's cause and
// ReceiveDatagram lose the code).
func TestCloseCode(t *testing.T) {
	seen := make(chan error, 4)
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		_, err := s.ReceiveDatagram(ctx)
		if err == nil {
			s.Close(4002, "server says bye")
			return
		}
		seen <- err
		_, err = s.AcceptStream(context.Background())
		seen <- err
		seen <- context.Cause(ctx)
	}, nil)
	for _, tr := range transports {
		t.Run(tr.String()+"/client closes", func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			if err := s.Close(4001, "client says bye"); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				var se *wt.SessionError
				if err := <-seen; !errors.As(err, &se) || se.Code != 4001 || se.Reason != "client says bye" || !se.Remote {
					t.Fatalf("server saw %v", err)
				}
			}
		})
		t.Run(tr.String()+"/server closes", func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			for ctx.Err() == nil && s.Context().Err() == nil {
				s.SendDatagram([]byte("x"))
				select {
				case <-s.Context().Done():
				case <-afterMillis(50):
				}
			}
			for _, err := range []error{context.Cause(s.Context()), func() error { _, err := s.ReceiveDatagram(ctx); return err }(), func() error { _, err := s.AcceptUniStream(ctx); return err }()} {
				var se *wt.SessionError
				if !errors.As(err, &se) || se.Code != 4002 || se.Reason != "server says bye" || !se.Remote {
					t.Fatalf("client saw %v", err)
				}
			}
		})
	}
}

// TestCloseWhilePeerCloses: a handler that closes its session as soon as
// the peer's close ends AcceptStream still sees the peer's code as the
// cause (the local Close must not take over a close that already came),
// and the server then closes the client's QUIC connection, so the
// client's Close does not wait out its linger.
func TestCloseWhilePeerCloses(t *testing.T) {
	seen := make(chan error, 1)
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		s.AcceptStream(ctx)
		s.Close(wt.CodeNormal, "")
		seen <- context.Cause(ctx)
	}, nil)
	for i := range 20 {
		ctx := testCtx(t)
		s := e.dial(t, ctx, wt.TransportWebTransport, nil)
		s.Close(4005, "client done")
		var se *wt.SessionError
		if err := <-seen; !errors.As(err, &se) || se.Code != 4005 || !se.Remote {
			t.Fatalf("attempt %d: server saw %v", i, err)
		}
	}
}
