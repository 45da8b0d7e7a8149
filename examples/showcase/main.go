// Command showcase serves every wirespeed primitive from one process, on
// embedded defaults, with a web page that shows each one's live statistics.
//
//	go run ./examples/showcase
//
// It listens on https://localhost:8443 (HTTP/1.1 and HTTP/2 over TCP and
// HTTP/3 over UDP on the same port, advertised with Alt-Svc, with a fresh
// self-signed certificate) and http://localhost:8080 (HTTP/1.1 and h2c),
// answers /readyz for load balancers, and on SIGINT or SIGTERM drains: /readyz
// turns 503, new connections are refused after -drain-delay, requests in
// flight get -drain to finish. Flags change the addresses; -h lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/devcert"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.SetFlags(0)
		log.Fatalf("showcase: %v", err)
	}
}

// config is what the flags set.
type config struct {
	httpsAddr  string
	httpAddr   string
	drain      time.Duration
	drainDelay time.Duration
}

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("showcase", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.httpsAddr, "https", "localhost:8443", "`address` for HTTPS: HTTP/1.1 and HTTP/2 on TCP, HTTP/3 on UDP, same port; empty disables it")
	fs.StringVar(&c.httpAddr, "http", "localhost:8080", "`address` for plain HTTP; empty disables it")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "how long shutdown waits for requests in flight")
	fs.DurationVar(&c.drainDelay, "drain-delay", 0, "how long shutdown keeps serving with /readyz at 503 before it stops accepting (behind a load balancer: its probe interval × failure threshold)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.drain < 0 || c.drainDelay < 0 {
		return c, errors.New("-drain and -drain-delay must not be negative")
	}
	if c.httpsAddr == "" && c.httpAddr == "" {
		return c, errors.New("both -https and -http are empty: nothing to serve")
	}
	return c, nil
}

// run serves until ctx is cancelled, then drains and returns nil.
func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	dev, err := httpx.NewDevCert() // self-signed, for development only
	if err != nil {
		return err
	}
	sc := newShowcase(devcert.Wrap(dev))
	defer sc.close()
	for _, setup := range demos {
		if err := setup(ctx, sc); err != nil {
			return err
		}
	}
	// Readiness for a load balancer: 503 as soon as shutdown begins.
	sc.mux.HandleFunc("GET /readyz", sc.servers.ready)

	var (
		servers []*httpx.Server
		wg      sync.WaitGroup // joins the Serve goroutines
	)
	errc := make(chan error, 2)
	serve := func(addr string, secure bool) error {
		opts := &httpx.ServerOptions{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			DrainDelay:        cfg.drainDelay,
			DrainTimeout:      cfg.drain,
		}
		scheme := "http"
		if secure {
			scheme = "https"
			opts.TLSConfig = dev.ServerTLS()
		} else {
			opts.H2C = true
		}
		srv, err := httpx.NewServer(sc.handler(), opts)
		if err != nil {
			return err
		}
		var (
			l  net.Listener
			pc net.PacketConn
		)
		if secure {
			l, pc, err = httpx.Listen(addr) // TCP and UDP, one port number
		} else {
			l, err = net.Listen("tcp", addr)
		}
		if err != nil {
			return err
		}
		servers = append(servers, srv)
		sc.servers.add(scheme, srv)
		fmt.Fprintf(out, "showcase: serving %s://%s/\n", scheme, displayAddr(l.Addr()))
		if pc != nil {
			fmt.Fprintf(out, "showcase: HTTP/3 on UDP port %d, advertised by Alt-Svc\n", pc.LocalAddr().(*net.UDPAddr).Port)
		}
		wg.Go(func() {
			if err := srv.Serve(l, pc); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server: %w", scheme, err)
			}
		})
		return nil
	}
	stop := func() {
		shutdownAll(servers, cfg.drainDelay+cfg.drain)
		wg.Wait()
	}
	if cfg.httpsAddr != "" {
		if err := serve(cfg.httpsAddr, true); err != nil {
			return err
		}
		fmt.Fprintf(out, "showcase: certificate sha-256 %s (self-signed, for development)\n", dev.CertHashHex())
	}
	if cfg.httpAddr != "" {
		if err := serve(cfg.httpAddr, false); err != nil {
			stop()
			return err
		}
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		stop()
		return err
	}
	fmt.Fprintln(out, "showcase: shutting down")
	stop()
	fmt.Fprintln(out, "showcase: stopped")
	return nil
}

// shutdownAll drains the servers concurrently, for at most d: readiness
// turns 503 on all of them at once, then each waits its drain delay, stops
// accepting and lets requests in flight finish.
func shutdownAll(servers []*httpx.Server, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for _, s := range servers {
		s.StartDrain()
	}
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.Shutdown(ctx); err != nil {
				log.Printf("showcase: %v", err)
			}
		})
	}
	wg.Wait()
}

// displayAddr renders a listener address as a URL host, naming localhost
// for loopback addresses so the certificate matches.
func displayAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := ta.IP.String()
	if ta.IP.IsLoopback() || ta.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(ta.Port))
}
