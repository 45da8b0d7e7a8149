package wt_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/devcert"
	"github.com/wirespeed/wirespeed/internal/testenv/wtecho"
	"github.com/wirespeed/wirespeed/wt"
)

// env is a wt.Server on one port number: HTTPS (h1/h2, the fallback) on
// TCP and HTTP/3 (WebTransport) on UDP, both on 127.0.0.1: through an
// httpx.Server (startEnv), as the package doc recommends, or with
// http.Server and Server.ServeQUIC (startStandalone).
type env struct {
	srv  *wt.Server
	cert *devcert.Cert
	url  string // https://127.0.0.1:port/wt
	port int
	mux  *http.ServeMux
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newServer makes a development certificate and a wt.Server for h,
// mounted at /wt on a new mux.
func newServer(t *testing.T, h wt.Handler, opts *wt.ServerOptions) (*devcert.Cert, *wt.Server, *http.ServeMux) {
	t.Helper()
	cert, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := wt.NewServer(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	return cert, srv, mux
}

func startEnv(t *testing.T, h wt.Handler, opts *wt.ServerOptions) *env {
	t.Helper()
	cert, srv, mux := newServer(t, h, opts)
	hs, err := httpx.NewServer(mux, &httpx.ServerOptions{TLSConfig: cert.ServerTLS(), HTTP3Conns: srv})
	if err != nil {
		t.Fatal(err)
	}
	l, pc, err := httpx.Listen("127.0.0.1:0") // one port number, TCP and UDP
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l, pc) }()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("httpx Serve: %v", err)
		}
	})
	port := l.Addr().(*net.TCPAddr).Port
	return &env{srv: srv, cert: cert, url: "https://127.0.0.1:" + strconv.Itoa(port) + "/wt", port: port, mux: mux}
}

func startStandalone(t *testing.T, h wt.Handler, opts *wt.ServerOptions) *env {
	t.Helper()
	cert, srv, mux := newServer(t, h, opts)
	l, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, TLSConfig: cert.ServerTLS(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = hs.ServeTLS(l, "", "") })
	wg.Go(func() {
		if err := srv.ServeQUIC(pc, cert.ServerTLS(), mux); !errors.Is(err, wt.ErrServerClosed) {
			t.Errorf("ServeQUIC: %v", err)
		}
	})
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		wg.Wait()
	})
	port := l.Addr().(*net.TCPAddr).Port
	return &env{srv: srv, cert: cert, url: "https://127.0.0.1:" + strconv.Itoa(port) + "/wt", port: port, mux: mux}
}

func (e *env) dial(t *testing.T, ctx context.Context, tr wt.Transport, so *wt.Options) wt.Session {
	t.Helper()
	s, info, err := wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr, Session: so})
	if err != nil {
		t.Fatal(err)
	}
	if info.Transport != tr || s.Transport() != tr {
		t.Fatalf("dialled %v, got %v (%+v)", tr, s.Transport(), info)
	}
	t.Cleanup(func() { s.Close(0, "") })
	return s
}

var transports = []wt.Transport{wt.TransportWebTransport, wt.TransportWebSocket}

// echo serves: bidirectional streams echoed, each unidirectional stream
// answered on a new one, datagrams echoed; the datagram "close" closes
// the session with 4001.
var echo = wtecho.Serve

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
