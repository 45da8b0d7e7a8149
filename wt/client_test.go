package wt_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/wirespeed/wirespeed/wt"
)

// TestClientReconnects: the client redials after the server closes the
// session, on each transport, and Close ends it.
func TestClientReconnects(t *testing.T) {
	var served atomic.Int64
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		if served.Add(1) <= 2 {
			s.Close(wt.CodeGoingAway, "go away")
			return
		}
		<-ctx.Done()
	}, nil)
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			served.Store(0)
			var sessions atomic.Int64
			c, err := wt.NewClient(e.url, func(ctx context.Context, s wt.Session) {
				if s.Transport() != tr {
					t.Errorf("transport %v", s.Transport())
				}
				sessions.Add(1)
				<-ctx.Done()
			}, &wt.ClientOptions{Dial: &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "a third session that stays", func() bool { return sessions.Load() == 3 && c.Stats().Connected })
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			st := c.Stats()
			if st.Connected || st.WebTransport+st.WebSocket != 3 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestClientBacksOff: attempts against nothing fail, are counted, and
// Close stops them.
func TestClientBacksOff(t *testing.T) {
	var errs atomic.Int64
	c, err := wt.NewClient("https://127.0.0.1:1/wt", func(context.Context, wt.Session) {}, &wt.ClientOptions{
		Dial:    &wt.DialOptions{Transport: wt.TransportWebSocket},
		OnError: func(error) { errs.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "three failed attempts", func() bool { return c.Stats().Failures >= 3 && errs.Load() >= 3 })
	c.Close()
}
