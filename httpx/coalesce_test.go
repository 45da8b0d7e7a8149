package httpx_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wirespeed/wirespeed/httpx"
)

// countingTLS is the test certificate's server config, counting the
// ClientHellos it answers: the server's view of how many handshakes a
// client made.
func countingTLS(nextProtos ...string) (*tls.Config, *atomic.Int64) {
	var n atomic.Int64
	cfg := testCert().ServerTLS()
	cfg.NextProtos = nextProtos
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		n.Add(1)
		return nil, nil
	}
	return cfg, &n
}

// TestColdBurstSharesOneDial sends 50 concurrent GETs from a new client to
// an origin it has no connection to. Over HTTP/2 they must share one
// connection: one handshake seen by the server, one dial, and a ReuseRatio
// that agrees (new connections = GotConns - Reused = handshakes). An
// HTTP/1.1-only origin under the same burst still gets a connection per
// request.
func TestColdBurstSharesOneDial(t *testing.T) {
	const burst = 50
	tests := []struct {
		name      string
		protos    []string
		handler   http.Handler
		wantProto string
		wantConns int64
	}{
		{"h2", []string{"h2", "http/1.1"}, hello, "HTTP/2.0", 1},
		// The barrier holds every request until all arrived: 50 at once.
		{"h1 only", []string{"http/1.1"}, newBarrier(burst), "HTTP/1.1", burst},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, handshakes := countingTLS(tc.protos...)
			srv := startServer(t, tc.handler, &httpx.ServerOptions{TLSConfig: cfg}, false, false)
			c := newClient(t, nil)
			ctx := testCtx(t)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for range burst {
				wg.Go(func() {
					<-start
					if _, proto := get(t, ctx, c.Client, srv.URL); proto != tc.wantProto {
						t.Errorf("request over %s, want %s", proto, tc.wantProto)
					}
				})
			}
			close(start)
			wg.Wait()
			st := c.Stats()
			if got := handshakes.Load(); got != tc.wantConns {
				t.Errorf("server saw %d TLS handshakes, want %d", got, tc.wantConns)
			}
			if st.Dials != tc.wantConns || st.TLSHandshakes != tc.wantConns {
				t.Errorf("client counted %d dials, %d handshakes; want %d", st.Dials, st.TLSHandshakes, tc.wantConns)
			}
			if st.GotConns != burst || st.GotConns-st.Reused != st.TLSHandshakes {
				t.Errorf("GotConns %d, Reused %d (ReuseRatio %.2f) disagree with %d handshakes", st.GotConns, st.Reused, st.ReuseRatio(), st.TLSHandshakes)
			}
		})
	}
}

// TestColdBurstHTTP3 sends a cold burst to an origin that also serves
// HTTP/3, then, once Alt-Svc is known, a second burst: one TCP connection
// for the first, one QUIC connection for the second.
func TestColdBurstHTTP3(t *testing.T) {
	const burst = 50
	cfg, handshakes := countingTLS("h2", "http/1.1")
	srv := startServer(t, hello, &httpx.ServerOptions{TLSConfig: cfg}, true, false)
	c := newClient(t, &httpx.Options{HTTP3: patientHTTP3})
	ctx := testCtx(t)
	run := func(want string) {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				<-start
				if _, proto := get(t, ctx, c.Client, srv.URL); proto != want {
					t.Errorf("request over %s, want %s", proto, want)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	run("HTTP/2.0")
	if st := c.Stats(); st.Dials != 1 || handshakes.Load() != 1 {
		t.Fatalf("cold burst: %d dials, server saw %d handshakes; want 1", st.Dials, handshakes.Load())
	}
	run("HTTP/3.0")
	st := c.Stats()
	if st.Dials != 2 || st.TLSHandshakes != 2 || handshakes.Load() != 2 || st.H3.QUICDials != 1 || st.HTTP2 != burst || st.HTTP3 != burst {
		t.Errorf("counts %+v, HTTP/3 %+v, server saw %d handshakes; want one TCP and one QUIC connection", st.Counts, st.H3, handshakes.Load())
	}
	if st.GotConns-st.Reused != st.TLSHandshakes {
		t.Errorf("GotConns %d, Reused %d disagree with %d handshakes", st.GotConns, st.Reused, st.TLSHandshakes)
	}
}

// TestColdBurstLeaderStalls: while the first dial's handshake hangs, the
// other requests wait for it without dialing, and return when their
// context ends.
func TestColdBurstLeaderStalls(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	var held []net.Conn
	t.Cleanup(func() {
		l.Close()
		for c := range accepted {
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
	})
	c := newClient(t, nil)
	ctx, cancel := context.WithCancel(testCtx(t))
	errs := make(chan error, 10)
	for range cap(errs) {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+l.Addr().String()+"/", nil)
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	held = append(held, <-accepted) // the leader's connection
	cancel()
	for range cap(errs) {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("request ended with %v, want context.Canceled", err)
		}
	}
	select {
	case c, ok := <-accepted:
		if ok {
			held = append(held, c)
			t.Errorf("a second connection while the first handshake hung")
		}
	default:
	}
}

// TestColdBurstLeaderFails: when the first handshake fails, the waiting
// requests dial on their own and succeed.
func TestColdBurstLeaderFails(t *testing.T) {
	const burst = 20
	var hellos atomic.Int64
	cfg := testCert().ServerTLS()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if hellos.Add(1) == 1 {
			return nil, errors.New("first handshake refused")
		}
		return nil, nil
	}
	srv := startServer(t, hello, &httpx.ServerOptions{TLSConfig: cfg, Logger: slog.New(slog.DiscardHandler)}, false, false)
	c := newClient(t, nil)
	ctx := testCtx(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range burst {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			resp.Body.Close()
		})
	}
	close(start)
	wg.Wait()
	if n := failed.Load(); n > 1 {
		t.Errorf("%d requests failed; only the first handshake's may", n)
	}
	if st := c.Stats(); st.TLSErrors != 1 || hellos.Load() < 2 {
		t.Errorf("TLS errors %d, server hellos %d; want the first refused and later ones served", st.TLSErrors, hellos.Load())
	}
}

// TestColdBurstFewStreams: an HTTP/2 origin that allows 5 concurrent
// streams gets a cold burst of 50 slow requests. Requests the shared
// connection has no stream for are retried by net/http on connections of
// their own; every request succeeds over HTTP/2.
func TestColdBurstFewStreams(t *testing.T) {
	const burst, streams = 50, 5
	release := make(chan struct{})
	var inFlight atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight.Add(1) == burst {
			close(release)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, r.Proto)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.TLS = testCert().ServerTLS()
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: streams}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := newClient(t, nil)
	ctx := testCtx(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			<-start
			if _, proto := get(t, ctx, c.Client, srv.URL); proto != "HTTP/2.0" {
				t.Errorf("request over %s, want HTTP/2.0", proto)
			}
		})
	}
	close(start)
	wg.Wait()
	st := c.Stats()
	if st.Failures != 0 || st.HTTP2 != burst {
		t.Errorf("counts %+v, want %d HTTP/2 responses", st.Counts, burst)
	}
	if min := int64(burst / streams); st.TLSHandshakes < min {
		t.Errorf("%d handshakes for %d requests held at once with %d streams each, want at least %d", st.TLSHandshakes, burst, streams, min)
	}
}
