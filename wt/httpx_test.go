package wt_test

import (
	"context"
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
	"github.com/wirespeed/wirespeed/internal/devcert"
	"github.com/wirespeed/wirespeed/wt"
)

// A Server takes over an httpx.Server's HTTP/3 connections.
var _ httpx.HTTP3ConnServer = (*wt.Server)(nil)

// httpxEnv is a wt.Server mounted in one httpx.Server: plain HTTP, the
// WebSocket fallback and WebTransport on one port number, one TLS config,
// with the Server's Alt-Svc. RegisterOnShutdown wires wt's Shutdown into
// httpx's drain.
type httpxEnv struct {
	wt   *wt.Server
	srv  *httpx.Server
	cert *devcert.Cert
	base string // https://127.0.0.1:port
	port int
	done chan error

	// /slow answers once release is closed.
	started chan struct{}
	release chan struct{}
}

func startHTTPX(t *testing.T, h wt.Handler, opts *wt.ServerOptions, hopts httpx.ServerOptions) *httpxEnv {
	t.Helper()
	cert, ws, mux := newServer(t, h, opts)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain "+r.Proto) })
	e := &httpxEnv{wt: ws, cert: cert, done: make(chan error, 1), started: make(chan struct{}, 1), release: make(chan struct{})}
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		e.started <- struct{}{}
		select {
		case <-e.release:
			io.WriteString(w, "slow "+r.Proto)
		case <-r.Context().Done():
		}
	})
	hopts.TLSConfig, hopts.HTTP3Conns = cert.ServerTLS(), ws
	srv, err := httpx.NewServer(mux, &hopts)
	if err != nil {
		t.Fatal(err)
	}
	ws.RegisterOnShutdown(srv, 0)
	l, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.port = srv, l.Addr().(*net.TCPAddr).Port
	e.base = "https://127.0.0.1:" + strconv.Itoa(e.port)
	go func() { e.done <- srv.Serve(l, pc) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-e.done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		ws.Close()
	})
	return e
}

// TestHTTPXServer serves WebTransport, the WebSocket fallback and plain
// HTTP/1.1, HTTP/2 and HTTP/3 through one httpx.Server, then drains it:
// httpx.Server.Shutdown closes both sessions with CodeGoingAway and the
// reconnect hint, and returns once they and the QUIC connections ended.
func TestHTTPXServer(t *testing.T) {
	e := startHTTPX(t, echo, nil, httpx.ServerOptions{})
	ctx := testCtx(t)

	// Plain HTTP on both sockets; TCP responses advertise the UDP port.
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: e.cert.ClientTLS(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: e.cert.ClientTLS(), ForceAttemptHTTP2: true}}
	h3tr := &http3.Transport{TLSClientConfig: e.cert.ClientTLS()}
	defer h3tr.Close()
	alt := `h3=":` + strconv.Itoa(e.port) + `"`
	for _, tc := range []struct {
		c     *http.Client
		proto string
		alt   string
	}{
		{h1, "HTTP/1.1", alt},
		{h2, "HTTP/2.0", alt},
		{&http.Client{Transport: h3tr}, "HTTP/3.0", ""},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/", nil)
		resp, err := tc.c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.proto, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "plain "+tc.proto || resp.Header.Get("Alt-Svc") != tc.alt {
			t.Errorf("GET over %s: %q, Alt-Svc %q; want %q and %q", tc.proto, b, resp.Header.Get("Alt-Svc"), "plain "+tc.proto, tc.alt)
		}
	}
	if e.srv.AltSvc() != alt {
		t.Errorf("AltSvc %q, want %q", e.srv.AltSvc(), alt)
	}
	h1.CloseIdleConnections()
	h2.CloseIdleConnections()

	// One session on each transport, same URL.
	sessions := map[wt.Transport]wt.Session{}
	for _, tr := range transports {
		s, info, err := wt.Dial(ctx, e.base+"/wt", &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr})
		if err != nil {
			t.Fatalf("dial %v: %v", tr, err)
		}
		t.Cleanup(func() { s.Close(0, "") })
		if info.Transport != tr {
			t.Fatalf("dialled %v, got %+v", tr, info)
		}
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte("hello " + tr.String()))
		st.Close()
		if b, err := io.ReadAll(st); err != nil || string(b) != "hello "+tr.String() {
			t.Fatalf("%v echo: %q, %v", tr, b, err)
		}
		sessions[tr] = s
	}
	if st := e.wt.Stats(); st.WebTransport != 1 || st.WebSocket != 1 {
		t.Errorf("Stats %+v: want one session per transport", st)
	}

	// A plain HTTP/3 request is in flight when the drain starts.
	slow := make(chan string, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/slow", nil)
		resp, err := (&http.Client{Transport: h3tr}).Do(req)
		if err != nil {
			slow <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			slow <- err.Error()
			return
		}
		slow <- string(b)
	}()
	<-e.started

	// The drain: wt's Shutdown runs as a drain hook and closes the
	// sessions; the plain request on the same QUIC connection goes on.
	shut := make(chan error, 1)
	go func() { shut <- e.srv.Shutdown(ctx) }()
	for tr, s := range sessions {
		select {
		case <-s.Context().Done():
		case <-ctx.Done():
			t.Fatalf("%v session still open while draining", tr)
		}
	}
	select {
	case r := <-slow:
		t.Fatalf("the plain HTTP/3 request in flight ended with the sessions: %q", r)
	case err := <-shut:
		t.Fatalf("httpx Shutdown returned %v with a request in flight", err)
	default:
	}
	close(e.release)
	if r := <-slow; r != "slow HTTP/3.0" {
		t.Errorf("the plain HTTP/3 request in flight: %q, want it completed", r)
	}
	if err := <-shut; err != nil {
		t.Fatalf("httpx Shutdown: %v", err)
	}
	for tr, s := range sessions {
		var se *wt.SessionError
		if !errors.As(context.Cause(s.Context()), &se) || se.Code != wt.CodeGoingAway || se.Reason != "server shutting down; reconnect" || !se.Remote {
			t.Errorf("%v session ended with %v, want code %d from the server with the reconnect hint", tr, context.Cause(s.Context()), wt.CodeGoingAway)
		}
	}
	if st := e.wt.Stats(); st.WebTransport != 0 || st.WebSocket != 0 {
		t.Errorf("Stats after Shutdown %+v: want no sessions", st)
	}
	if err := <-e.done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	e.done <- http.ErrServerClosed // for the cleanup
}

// TestIdleSession: a WebTransport session without traffic outlives the
// QUIC idle timeout (1s here, the httpx.Server's IdleTimeout) thanks to
// keep-alive PINGs (Options.KeepAlive); without them the connection
// times out, and the session's context says so rather than staying open.
func TestIdleSession(t *testing.T) {
	t.Run("KeepAlive", func(t *testing.T) {
		e := startHTTPX(t, echo, nil, httpx.ServerOptions{IdleTimeout: time.Second})
		ctx := testCtx(t)
		s, _, err := wt.Dial(ctx, e.base+"/wt", &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: wt.TransportWebTransport})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(0, "")
		time.Sleep(3 * time.Second) // three idle timeouts without a byte from the application
		if err := context.Cause(s.Context()); err != nil {
			t.Fatalf("the idle session ended: %v", err)
		}
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte("still here"))
		st.Close()
		if b, err := io.ReadAll(st); err != nil || string(b) != "still here" {
			t.Fatalf("echo after idling: %q, %v", b, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		none := &wt.Options{KeepAlive: -1}
		e := startHTTPX(t, echo, &wt.ServerOptions{Session: none}, httpx.ServerOptions{IdleTimeout: time.Second})
		ctx := testCtx(t)
		s, _, err := wt.Dial(ctx, e.base+"/wt", &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: wt.TransportWebTransport, Session: none})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(0, "")
		select {
		case <-s.Context().Done():
		case <-ctx.Done():
			t.Fatal("the session outlived its timed-out connection")
		}
		if err := context.Cause(s.Context()); !errors.Is(err, wt.ErrSessionLost) {
			t.Fatalf("session ended with %v, want ErrSessionLost", err)
		}
	})
}
