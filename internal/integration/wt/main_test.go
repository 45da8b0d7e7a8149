package wt_test

import (
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/devcert"
	"github.com/wirespeed/wirespeed/internal/leakcheck"
	"github.com/wirespeed/wirespeed/wt"
)

// wt sessions with Chromium's WebTransport and, through wt.js, its
// WebSocket fallback. The package's own tests are in wt/.

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// env is a wt.Server at /wt of an httpx.Server that serves HTTPS on TCP
// and HTTP/3 on UDP, both on one 127.0.0.1 port number.
type env struct {
	srv  *wt.Server
	cert *devcert.Cert
	port int
	mux  *http.ServeMux
}

func startEnv(t *testing.T, h wt.Handler) *env {
	t.Helper()
	cert, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := wt.NewServer(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	hs, err := httpx.NewServer(mux, &httpx.ServerOptions{TLSConfig: cert.ServerTLS(), HTTP3Conns: srv})
	if err != nil {
		t.Fatal(err)
	}
	l, pc, err := httpx.Listen("127.0.0.1:0")
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
	return &env{srv: srv, cert: cert, port: l.Addr().(*net.TCPAddr).Port, mux: mux}
}
