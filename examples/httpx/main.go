// Command httpx shows the httpx package end to end in one process: a server
// that serves HTTP/1.1, HTTP/2 and HTTP/3 on one port and drains
// gracefully, and a shared client that reuses its connections, learns
// Alt-Svc and moves to HTTP/3.
//
//	go run ./examples/httpx
//
// The server listens on a free loopback port with a fresh self-signed
// certificate, so the program needs nothing else and exits when done.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

const (
	requests = 100
	workers  = 10
)

func run(ctx context.Context, out io.Writer) error {
	cert, err := httpx.NewDevCert() // self-signed, for development only
	if err != nil {
		return err
	}

	// The server: one handler, three protocols, one port number.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s\n", r.Proto)
	})
	srv, err := httpx.NewServer(mux, &httpx.ServerOptions{
		TLSConfig:  cert.ServerTLS(),
		DrainDelay: 100 * time.Millisecond, // behind a load balancer: its probe interval × threshold
	})
	if err != nil {
		return err
	}
	mux.Handle("GET /readyz", srv.ReadyHandler())
	tcp, udp, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tcp, udp) }()
	base := "https://" + tcp.Addr().String()
	fmt.Fprintf(out, "server: %s (TCP and UDP)\n", base)

	// The client: create it once, share it. HTTP3 turns on Alt-Svc
	// discovery and racing QUIC against TCP.
	client, err := httpx.NewClient(&httpx.Options{
		TLSConfig: cert.ClientTLS(),
		HTTP3:     &httpx.HTTP3Options{RaceDelay: time.Second}, // generous for a busy machine; default 300ms
	})
	if err != nil {
		return err
	}
	defer client.Close()

	// The first request goes over HTTP/2 and brings the Alt-Svc header;
	// the rest race QUIC and use HTTP/3.
	first, err := get(ctx, client, base+"/hello")
	if err != nil {
		return err
	}
	fmt.Fprint(out, "first request: ", first)
	fmt.Fprintf(out, "server advertised: Alt-Svc: %s\n", srv.AltSvc())
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < requests-1; i += workers {
				if _, err := get(ctx, client, base+"/hello"); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}

	st := client.Stats()
	fmt.Fprintf(out, "client: %d requests: %d over HTTP/2, %d over HTTP/3\n", st.Requests, st.HTTP2, st.HTTP3)
	fmt.Fprintf(out, "client: %d connections (%d TLS handshakes), reuse ratio %.2f\n", st.Dials, st.TLSHandshakes, st.ReuseRatio())
	fmt.Fprintf(out, "client: %d QUIC handshake, raced against TCP by %d requests; QUIC won %d\n", st.H3.QUICDials, st.H3.Races, st.H3.QUICWon)
	ss := srv.Stats()
	fmt.Fprintf(out, "server: HTTP/1.1 %d, HTTP/2 %d, HTTP/3 %d\n", ss.HTTP1, ss.HTTP2, ss.HTTP3)

	// A deploy: readiness turns 503 first, then the server drains.
	srv.StartDrain()
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(out, "draining: /readyz answers %d\n", resp.StatusCode)
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "server: stopped")
	return nil
}

func get(ctx context.Context, c *httpx.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}
