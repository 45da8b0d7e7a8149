package wt_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"

	"github.com/wirespeed/wirespeed/wt"
)

// upgradeStatus sends one upgrade on tr with header h and returns the
// response's status and Retry-After; a session that opens is closed.
func upgradeStatus(t *testing.T, ctx context.Context, e *env, tr wt.Transport, h http.Header) (int, string) {
	t.Helper()
	if h == nil {
		h = http.Header{}
	}
	if tr == wt.TransportWebSocket {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url, nil)
		req.Header = h.Clone()
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Protocol", wt.Subprotocol)
		htr := &http.Transport{TLSClientConfig: e.cert.ClientTLS(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
		defer htr.CloseIdleConnections()
		resp, err := htr.RoundTrip(req)
		if err != nil {
			t.Fatalf("WebSocket upgrade: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	tlsConf := e.cert.ClientTLS()
	tlsConf.NextProtos = []string{http3.NextProtoH3}
	qconn, err := quic.DialAddr(ctx, "127.0.0.1:"+itoa(e.port), tlsConf, &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true})
	if err != nil {
		t.Fatalf("QUIC dial: %v", err)
	}
	defer qconn.CloseWithError(0, "")
	wtr := &webtransport.Transport{}
	defer wtr.Close()
	cc, err := wtr.NewClientConn(qconn)
	if err != nil {
		t.Fatal(err)
	}
	rsp, s, err := cc.Dial(ctx, e.url, h.Clone())
	if s != nil {
		s.CloseWithError(0, "")
	}
	if rsp == nil {
		t.Fatalf("WebTransport CONNECT: no response: %v", err)
	}
	return rsp.StatusCode, rsp.Header.Get("Retry-After")
}

// TestSessionLimits: over MaxSessions or MaxSessionsPerIP an upgrade gets
// 503 with Retry-After before the upgrade, on both transports; the
// sessions of both transports count together; a session that ends frees
// its place.
func TestSessionLimits(t *testing.T) {
	byHeader := func(r *http.Request) string { return r.Header.Get("X-Client") }
	for _, tc := range []struct {
		name  string
		opts  *wt.ServerOptions
		other string // a client the limit does not hold back; "" if none
	}{
		{"MaxSessions", &wt.ServerOptions{MaxSessions: 2, RetryAfter: 1500 * time.Millisecond}, ""},
		{"MaxSessionsPerIP", &wt.ServerOptions{MaxSessionsPerIP: 2, ClientIP: byHeader, RetryAfter: 1500 * time.Millisecond}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, echo, tc.opts)
			ctx := testCtx(t)
			a := http.Header{"X-Client": {"a"}}
			var held []wt.Session
			for _, tr := range transports {
				s, _, err := wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr, Header: a})
				if err != nil {
					t.Fatalf("session %v under the limit: %v", tr, err)
				}
				t.Cleanup(func() { s.Close(0, "") })
				held = append(held, s)
			}
			for _, tr := range transports {
				if code, ra := upgradeStatus(t, ctx, e, tr, a); code != http.StatusServiceUnavailable || ra != "2" {
					t.Errorf("%v upgrade over the limit: %d, Retry-After %q; want 503 and 2", tr, code, ra)
				}
			}
			if n := e.srv.Stats().RejectedLimit; n != 2 {
				t.Errorf("RejectedLimit %d, want 2", n)
			}
			if tc.other != "" {
				s, _, err := wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Header: http.Header{"X-Client": {tc.other}}})
				if err != nil {
					t.Fatalf("another client: %v", err)
				}
				s.Close(0, "")
			}
			// A session that ends frees its place, on either transport.
			for i, tr := range transports {
				held[i].Close(0, "")
				eventually(t, "the place to be freed", func() bool {
					s, _, err := wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr, Header: a})
					if err != nil {
						return false
					}
					t.Cleanup(func() { s.Close(0, "") })
					return true
				})
			}
		})
	}
}

// TestClientIPPanics: a ClientIP hook that panics or calls
// runtime.Goexit costs its request a 500, is counted, and the server
// goes on.
func TestClientIPPanics(t *testing.T) {
	e := startEnv(t, echo, &wt.ServerOptions{ClientIP: func(r *http.Request) string {
		switch r.Header.Get("X-Fail") {
		case "panic":
			panic("boom")
		case "goexit":
			runtime.Goexit()
		}
		return "ok"
	}})
	ctx := testCtx(t)
	for _, tr := range transports {
		for _, how := range []string{"panic", "goexit"} {
			if code, _ := upgradeStatus(t, ctx, e, tr, http.Header{"X-Fail": {how}}); code != http.StatusInternalServerError {
				t.Errorf("%v with a ClientIP that calls %s: %d, want 500", tr, how, code)
			}
		}
		e.dial(t, ctx, tr, nil)
	}
	if n := e.srv.Stats().HandlerPanics; n != 4 {
		t.Errorf("HandlerPanics %d, want 4", n)
	}
}

// TestShutdown closes sessions a few at a time with jitter; every one of
// them, on both transports, gets CodeGoingAway and the hint; upgrades
// after it get 503. Served by ServeQUIC, it also closes the QUIC socket;
// behind an httpx.Server the QUIC connections are httpx's, and a
// WebTransport CONNECT gets the 503 too.
func TestShutdown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(*testing.T, wt.Handler, *wt.ServerOptions) *env
		after []wt.Transport // transports still reachable after Shutdown
	}{
		{"httpx", startEnv, transports},
		{"ServeQUIC", startStandalone, []wt.Transport{wt.TransportWebSocket}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.start(t, echo, &wt.ServerOptions{ShutdownBatch: 1, ShutdownJitter: 20 * time.Millisecond, ShutdownReason: "deploy; reconnect in a moment"})
			ctx := testCtx(t)
			var sess []wt.Session
			for range 3 {
				for _, tr := range transports {
					sess = append(sess, e.dial(t, ctx, tr, nil))
				}
			}
			eventually(t, "all sessions registered", func() bool { st := e.srv.Stats(); return st.WebTransport == 3 && st.WebSocket == 3 })
			if err := e.srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			for _, s := range sess {
				<-s.Context().Done()
				var se *wt.SessionError
				if err := context.Cause(s.Context()); !errors.As(err, &se) || se.Code != wt.CodeGoingAway || se.Reason != "deploy; reconnect in a moment" {
					t.Errorf("%v session saw %v", s.Transport(), err)
				}
			}
			for _, tr := range tc.after {
				if code, ra := upgradeStatus(t, ctx, e, tr, nil); code != http.StatusServiceUnavailable || ra == "" {
					t.Errorf("%v upgrade after Shutdown: %d, Retry-After %q; want 503 with Retry-After", tr, code, ra)
				}
			}
		})
	}
}

func TestServerOptions(t *testing.T) {
	echoH := wt.Handler(echo)
	for _, tc := range []struct {
		name  string
		opts  *wt.ServerOptions
		field string // "" when valid
	}{
		{"nil", nil, ""},
		{"no limits", &wt.ServerOptions{MaxSessions: -1, MaxSessionsPerIP: -1}, ""},
		{"all at once, no pause", &wt.ServerOptions{ShutdownBatch: -1, ShutdownJitter: -1}, ""},
		{"negative RetryAfter", &wt.ServerOptions{RetryAfter: -time.Second}, "RetryAfter"},
		{"bad pattern", &wt.ServerOptions{OriginPatterns: []string{"["}}, "OriginPatterns"},
		{"long reason", &wt.ServerOptions{ShutdownReason: strings.Repeat("x", 124)}, "ShutdownReason"},
		{"negative session option", &wt.ServerOptions{Session: &wt.Options{StreamWindow: -1}}, "Options.StreamWindow is negative (-1)"},
		{"negative session timeout", &wt.ServerOptions{Session: &wt.Options{PongTimeout: -time.Second}}, "Options.PongTimeout is negative (-1s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := wt.NewServer(echoH, tc.opts)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("NewServer: %v", err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "wt: ") {
				t.Fatalf("NewServer error %v, want one naming %s", err, tc.field)
			}
		})
	}
	if _, err := wt.NewServer(nil, nil); err == nil {
		t.Error("NewServer accepted a nil handler")
	}
}
