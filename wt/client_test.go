package wt_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

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

// TestRetryAfter: a server at its session limit answers 503 with
// Retry-After; Dial reports it (on either transport, without falling
// back from a refused WebTransport upgrade), and a Client waits that long
// before its next attempt, bounded by its MaxBackoff.
func TestRetryAfter(t *testing.T) {
	e := startEnv(t, func(ctx context.Context, s wt.Session) { <-ctx.Done() }, &wt.ServerOptions{MaxSessions: 1, RetryAfter: 2 * time.Second})
	ctx := testCtx(t)
	held := e.dial(t, ctx, wt.TransportWebSocket, nil)

	for _, tr := range []wt.Transport{0, wt.TransportWebTransport, wt.TransportWebSocket} {
		_, info, err := wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr})
		var re *wt.RefusedError
		if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable || re.RetryAfter != 2*time.Second {
			t.Fatalf("Dial %v at the limit: %v (%+v), want a RefusedError 503 with RetryAfter 2s", tr, err, re)
		}
		if want := max(tr, wt.TransportWebTransport); re.Transport != want || (tr == 0 && info.FallbackReason != "") {
			t.Fatalf("Dial %v: refused by %v, info %+v; want %v and no fallback", tr, re.Transport, info, want)
		}
	}

	for _, tc := range []struct {
		name       string
		maxBackoff time.Duration
	}{{"honoured", time.Hour}, {"bounded", 20 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			var sessions atomic.Int64
			c, err := wt.NewClient(e.url, func(ctx context.Context, s wt.Session) { sessions.Add(1); <-ctx.Done() }, &wt.ClientOptions{
				Dial:       &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: wt.TransportWebSocket},
				MinBackoff: time.Millisecond, MaxBackoff: tc.maxBackoff,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			eventually(t, "a refused attempt", func() bool { return c.Stats().Failures >= 1 })
			if tc.maxBackoff == time.Hour {
				// Without Retry-After, 1ms doubling backoff makes about
				// ten attempts in a second; with it, none comes before 2s.
				time.Sleep(time.Second)
				if n := c.Stats().Failures; n != 1 {
					t.Fatalf("%d attempts within a second of a Retry-After of 2s", n)
				}
				return
			}
			eventually(t, "attempts every MaxBackoff despite Retry-After", func() bool { return c.Stats().Failures >= 5 })
		})
	}
	held.Close(0, "")
}
