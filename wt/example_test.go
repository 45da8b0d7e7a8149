package wt_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/wt"
)

// The package doc's quick start: an echo server on both transports, the
// browser module and the rest of the site, on one port number through an
// httpx.Server, drained on SIGTERM.
func Example() {
	var tlsConf *tls.Config // the certificate, as for HTTPS
	srv, err := wt.NewServer(func(ctx context.Context, s wt.Session) {
		for {
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return // the session ended; context.Cause(ctx) says how
			}
			go func() { io.Copy(st, st); st.Close() }() // echo
		}
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)          // WebTransport and the fallback, one URL
	mux.Handle("/wt.js", wt.Script) // the browser module
	hs, err := httpx.NewServer(mux, &httpx.ServerOptions{
		TLSConfig:  tlsConf,
		HTTP3Conns: srv, // WebTransport on the HTTP/3 port, same Alt-Svc
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.RegisterOnShutdown(hs, 10*time.Second) // sessions get 1001 when draining starts
	go hs.ListenAndServe(":443")               // TCP and UDP, one port number
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	hs.Shutdown(context.Background())
}

// ServeQUIC serves WebTransport on its own UDP socket, next to a plain
// http.Server on the TCP port with the same number.
func ExampleServer_ServeQUIC() {
	var tlsConf *tls.Config
	srv, err := wt.NewServer(func(ctx context.Context, s wt.Session) { <-ctx.Done() }, nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	udpConn, err := net.ListenPacket("udp", "[::]:8443") // dual-stack: Chromium tries ::1 for localhost
	if err != nil {
		log.Fatal(err)
	}
	go srv.ServeQUIC(udpConn, tlsConf, mux)
	hs := &http.Server{Addr: ":8443", Handler: mux, TLSConfig: tlsConf}
	srv.RegisterOnShutdown(hs, 0)
	log.Fatal(hs.ListenAndServeTLS("", ""))
}

// Dial tries WebTransport, then the WebSocket fallback, and says which it
// got.
func ExampleDial() {
	ctx := context.Background()
	s, info, err := wt.Dial(ctx, "https://example.com/wt", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(wt.CodeNormal, "")
	log.Printf("connected over %v (fell back because %q)", info.Transport, info.FallbackReason)
	st, err := s.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	st.Write([]byte("hello"))
	st.Close()
	reply, _ := io.ReadAll(st)
	log.Printf("%s", reply)
}
