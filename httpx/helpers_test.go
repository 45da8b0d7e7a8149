package httpx_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
)

// testCert is one development certificate for the whole test binary.
var testCert = sync.OnceValue(func() *httpx.DevCert {
	c, err := httpx.NewDevCert()
	if err != nil {
		panic(err)
	}
	return c
})

// testCtx is the safety net of one test: no test waits longer than this,
// and no assertion depends on it.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testServer is an httpx.Server on a loopback port, closed by the test's
// cleanup.
type testServer struct {
	*httpx.Server
	URL  string // "https://127.0.0.1:port/" (or http:// without TLS)
	Port int
	done chan error
}

// startServer serves h; with udp it also serves HTTP/3 on the same port.
// opts may be nil; its TLSConfig defaults to the test certificate unless
// plain is set.
func startServer(t testing.TB, h http.Handler, opts *httpx.ServerOptions, udp, plain bool) *testServer {
	t.Helper()
	var o httpx.ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.TLSConfig == nil && !plain {
		o.TLSConfig = testCert().ServerTLS()
	}
	if _, ok := t.(*testing.B); ok && o.Logger == nil {
		// Dials that a benchmark's cleanup cancels log handshake errors.
		o.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := httpx.NewServer(h, &o)
	if err != nil {
		t.Fatal(err)
	}
	var (
		l  net.Listener
		pc net.PacketConn
	)
	if udp {
		l, pc, err = httpx.Listen("127.0.0.1:0")
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, Port: l.Addr().(*net.TCPAddr).Port, done: make(chan error, 1)}
	scheme := "https"
	if plain {
		scheme = "http"
	}
	ts.URL = scheme + "://127.0.0.1:" + strconv.Itoa(ts.Port) + "/"
	go func() { ts.done <- srv.Serve(l, pc) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-ts.done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ts
}

// newClient returns a client that trusts the test certificate, closed by
// the test's cleanup.
func newClient(t testing.TB, opts *httpx.Options) *httpx.Client {
	t.Helper()
	var o httpx.Options
	if opts != nil {
		o = *opts
	}
	if o.TLSConfig == nil {
		o.TLSConfig = testCert().ClientTLS()
	}
	c, err := httpx.NewClient(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// do sends req and returns the response with its body read.
func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// get GETs url and returns the response (body read) and its protocol.
func get(t testing.TB, ctx context.Context, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// hello answers every request with its protocol.
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, r.Proto)
})
