package wt_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"

	"github.com/wirespeed/wirespeed/wt"
)

// The package doc's quick start: an echo server on both transports and
// the browser module, on one port number.
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
	mux.Handle("/wt", srv)          // the fallback, over HTTP/1.1 and HTTP/2
	mux.Handle("/wt.js", wt.Script) // the browser module
	udpConn, err := net.ListenPacket("udp", "[::]:8443")
	if err != nil {
		log.Fatal(err)
	}
	go srv.ServeQUIC(udpConn, tlsConf, mux) // WebTransport, on the same port number
	hs := &http.Server{Addr: ":8443", Handler: mux, TLSConfig: tlsConf}
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
