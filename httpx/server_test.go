package httpx_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/wirespeed/wirespeed/httpx"
)

// h3Client is a plain quic-go HTTP/3 client that trusts the test
// certificate, closed by the test's cleanup.
func h3Client(t testing.TB) *http.Client {
	tr := &http3.Transport{TLSClientConfig: testCert().ClientTLS()}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr}
}

// TestServerOnePort serves the three protocols on one port number and
// advertises HTTP/3 on the TCP ones.
func TestServerOnePort(t *testing.T) {
	srv := startServer(t, hello, nil, true, false)
	ctx := testCtx(t)
	h1 := newClient(t, &httpx.Options{DisableHTTP2: true})
	h2 := newClient(t, nil)
	alt := `h3=":` + strconv.Itoa(srv.Port) + `"`
	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  string
		altSvc string
	}{
		{"HTTP/1.1", h1.Client, "HTTP/1.1", alt},
		{"HTTP/2", h2.Client, "HTTP/2.0", alt},
		{"HTTP/3", h3Client(t), "HTTP/3.0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, ctx, tc.client, srv.URL)
			if body != tc.proto || resp.Proto != tc.proto {
				t.Errorf("served over %s (resp.Proto %s), want %s", body, resp.Proto, tc.proto)
			}
			if got := resp.Header.Get("Alt-Svc"); got != tc.altSvc {
				t.Errorf("Alt-Svc %q, want %q", got, tc.altSvc)
			}
		})
	}
	if srv.AltSvc() != alt {
		t.Errorf("AltSvc() = %q, want %q", srv.AltSvc(), alt)
	}
	st := srv.Stats()
	if st.HTTP1 != 1 || st.HTTP2 != 1 || st.HTTP3 != 1 || st.InFlight != 0 || st.ConnsAccepted != 2 || st.Draining {
		t.Errorf("server stats %+v, want one request per protocol on 2 TCP connections", st)
	}
}

func TestServerH2C(t *testing.T) {
	srv := startServer(t, hello, &httpx.ServerOptions{H2C: true}, false, true)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	if _, body := get(t, testCtx(t), &http.Client{Transport: tr}, srv.URL); body != "HTTP/2.0" {
		t.Errorf("h2c request over %s", body)
	}
	// HTTP/1.1 still works on the same port.
	if _, body := get(t, testCtx(t), newClient(t, nil).Client, srv.URL); body != "HTTP/1.1" {
		t.Errorf("plain request over %s", body)
	}
}

// TestServerMaxConnAge ages every connection out at once: each HTTP/1.1
// response closes its connection, each HTTP/2 connection gets a GOAWAY.
func TestServerMaxConnAge(t *testing.T) {
	srv := startServer(t, hello, &httpx.ServerOptions{MaxConnAge: time.Nanosecond}, false, false)
	ctx := testCtx(t)
	h1 := newClient(t, &httpx.Options{DisableHTTP2: true})
	for range 3 {
		resp, _ := get(t, ctx, h1.Client, srv.URL)
		if !resp.Close {
			t.Error("HTTP/1.1 response of an aged connection does not close it")
		}
	}
	if st := h1.Stats(); st.Dials != 3 || st.Reused != 0 {
		t.Errorf("HTTP/1.1 client %+v, want a new connection per request", st.Counts)
	}
	h2 := newClient(t, nil)
	for range 3 {
		if _, body := get(t, ctx, h2.Client, srv.URL); body != "HTTP/2.0" {
			t.Errorf("over %s", body)
		}
	}
	if st := h2.Stats(); st.Dials != 3 {
		t.Errorf("HTTP/2 client dialed %d connections for 3 requests, want 3 (one GOAWAY each)", st.Dials)
	}
	if st := srv.Stats(); st.ConnsAged != 6 {
		t.Errorf("ConnsAged = %d, want 6", st.ConnsAged)
	}
}

func TestNewServerOptions(t *testing.T) {
	cert := testCert().ServerTLS()
	for _, tc := range []struct {
		name string
		h    http.Handler
		opts *httpx.ServerOptions
		ok   bool
	}{
		{"nil options", hello, nil, true},
		{"TLS", hello, &httpx.ServerOptions{TLSConfig: cert}, true},
		{"nil handler", nil, nil, false},
		{"TLS without certificate", hello, &httpx.ServerOptions{TLSConfig: &tls.Config{}}, false},
		{"Alt-Svc port without TLS", hello, &httpx.ServerOptions{AltSvcPort: 443}, false},
		{"bad Alt-Svc port", hello, &httpx.ServerOptions{TLSConfig: cert, AltSvcPort: 70000}, false},
		{"negative max age", hello, &httpx.ServerOptions{MaxConnAge: -1}, false},
		{"negative drain delay", hello, &httpx.ServerOptions{DrainDelay: -1}, false},
		{"negative idle timeout", hello, &httpx.ServerOptions{IdleTimeout: -1}, false},
		{"HTTP3Conns without TLS", hello, &httpx.ServerOptions{HTTP3Conns: &rawConns{}}, false},
		{"HTTP3Conns", hello, &httpx.ServerOptions{TLSConfig: cert, HTTP3Conns: &rawConns{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := httpx.NewServer(tc.h, tc.opts)
			if (err == nil) != tc.ok {
				t.Errorf("NewServer error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	srv, err := httpx.NewServer(hello, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l, nil) }()
	// Wait until it serves, then a second Serve is refused.
	resp, err := http.Get("http://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.Serve(l2, nil); !errors.Is(err, httpx.ErrServerStarted) {
		t.Errorf("second Serve: %v, want ErrServerStarted", err)
	}
	l2.Close()
	srv.Close()
	srv.Close() // idempotent
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if err := srv.Shutdown(testCtx(t)); err != nil {
		t.Errorf("Shutdown after Close: %v", err)
	}
	// Serve after Close: closed at once, listeners released.
	l3, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.Serve(l3, nil); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
	if _, err := net.Dial("tcp", l3.Addr().String()); err == nil {
		t.Error("Serve after Close left the listener open")
	}

	// Listen binds the same port on TCP and UDP.
	tl, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tp, up := tl.Addr().(*net.TCPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port; tp != up {
		t.Errorf("TCP port %d, UDP port %d", tp, up)
	}
	tl.Close()
	pc.Close()
	if _, _, err := httpx.Listen("no-port"); err == nil {
		t.Error("Listen accepted an address without a port")
	}
}
