// Command wt runs an echo server for wt sessions on a loopback port
// through one httpx.Server (HTTPS, the WebSocket fallback and plain pages
// on TCP, WebTransport and HTTP/3 on UDP, one port number, one
// development certificate, HTTP/3 advertised by Alt-Svc), talks to it
// with a Go client over each transport, then drains the server and exits:
//
//   - a bidirectional stream is echoed, and a datagram is echoed (sent
//     again until one comes back: on WebTransport datagrams may be lost);
//   - the second client forces the WebSocket fallback, which the server
//     counts in Stats.Fallbacks;
//   - httpx.Server.Shutdown starts the drain, and the wt Server, wired in
//     with RegisterOnShutdown, closes the remaining session with code 1001
//     and a reconnect hint.
//
// Run it with
//
//	go run ./examples/wt
//
// Browsers load the same sessions with the module the server serves at
// /wt.js (see the package doc of wt).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/devcert"
	"github.com/wirespeed/wirespeed/wt"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.SetFlags(0)
		log.Fatalf("wt: %v", err)
	}
}

// echo answers streams and datagrams with what they carried. Its
// goroutines end with the session, and it waits for them.
func echo(ctx context.Context, s wt.Session) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			b, err := s.ReceiveDatagram(ctx)
			if err != nil {
				return
			}
			s.SendDatagram(b)
		}
	})
	for {
		st, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			io.Copy(st, st)
			st.Close()
		})
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cert, err := devcert.New()
	if err != nil {
		return err
	}
	srv, err := wt.NewServer(echo, nil)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	mux.Handle("GET /wt.js", wt.Script)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "served over %s", r.Proto) })
	hs, err := httpx.NewServer(mux, &httpx.ServerOptions{TLSConfig: cert.ServerTLS(), HTTP3Conns: srv})
	if err != nil {
		return err
	}
	srv.RegisterOnShutdown(hs, 10*time.Second)
	l, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l, pc) }()
	defer hs.Close() // on an early return; after Shutdown it does nothing
	base := "https://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	url := base + "/wt"

	page, err := get(ctx, cert.ClientTLS(), base+"/")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "page: %s, Alt-Svc advertises HTTP/3 on the same port: %v\n", page.body, page.altSvc == hs.AltSvc() && hs.AltSvc() != "")

	var last wt.Session
	for _, tr := range []wt.Transport{0, wt.TransportWebSocket} {
		s, info, err := wt.Dial(ctx, url, &wt.DialOptions{TLSConfig: cert.ClientTLS(), Transport: tr})
		if err != nil {
			return err
		}
		how := "preferred"
		if info.FallbackReason != "" {
			how = "fallback " + info.FallbackReason
		}
		reply, err := exchange(ctx, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%v (%s): %s\n", s.Transport(), how, reply)
		if last != nil {
			last.Close(wt.CodeNormal, "")
		}
		last = s
	}
	st := srv.Stats()
	fmt.Fprintf(out, "server: %d sessions opened, %d forced fallback\n", st.SessionsTotal, st.Fallbacks.Forced)
	if err := hs.Shutdown(ctx); err != nil {
		return err
	}
	<-last.Context().Done()
	var se *wt.SessionError
	if errors.As(context.Cause(last.Context()), &se) {
		fmt.Fprintf(out, "after shutdown: closed with %d %q\n", se.Code, se.Reason)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return srv.Close()
}

type pageInfo struct{ body, altSvc string }

// get fetches url over HTTPS (HTTP/2) with the development certificate.
func get(ctx context.Context, tlsConf *tls.Config, url string) (pageInfo, error) {
	tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return pageInfo{}, err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return pageInfo{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return pageInfo{string(b), resp.Header.Get("Alt-Svc")}, err
}

// exchange echoes one stream and one datagram.
func exchange(ctx context.Context, s wt.Session) (string, error) {
	st, err := s.OpenStream(ctx)
	if err != nil {
		return "", err
	}
	st.Write([]byte("hello"))
	st.Close()
	b, err := io.ReadAll(st)
	if err != nil {
		return "", err
	}
	got := make(chan []byte, 1)
	go func() {
		d, _ := s.ReceiveDatagram(ctx)
		got <- d
	}()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if err := s.SendDatagram([]byte("ping")); err != nil {
			return "", err
		}
		select {
		case d := <-got:
			return fmt.Sprintf("stream echo %q, datagram echo %q", b, d), nil
		case <-t.C:
		}
	}
}
