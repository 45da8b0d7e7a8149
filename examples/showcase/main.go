// Command showcase serves every wirespeed primitive from one process, on
// embedded defaults, with a web page that shows each one's live statistics.
//
//	go run ./examples/showcase
//
// It listens on https://localhost:8443 (HTTP/1.1 and HTTP/2 over TCP and
// HTTP/3 over UDP on the same port, advertised with Alt-Svc, with a fresh
// development certificate from httpx.NewDevCert) and http://localhost:8080
// (HTTP/1.1 and h2c), answers /readyz for load balancers, and on SIGINT or
// SIGTERM drains: /readyz turns 503, new connections are refused after
// -drain-delay, requests in flight get -drain to finish. Flags change the
// addresses; -h lists them.
//
// Browsers refuse HTTP/3 with a self-signed certificate even when told to
// ignore certificate errors, so at start the showcase prints the Chromium
// command line that accepts this one (by its public key hash) and goes
// straight to QUIC. With a locally trusted certificate (mkcert, a company
// CA), pass it with -cert and -key (or SHOWCASE_CERT_FILE and
// SHOWCASE_KEY_FILE) and any browser uses HTTP/3 after its first visit.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
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
	certFile   string // PEM certificate chain to serve instead of the development certificate
	keyFile    string // its PEM private key
}

// Environment variables that set -cert and -key when the flags are absent.
const (
	envCertFile = "SHOWCASE_CERT_FILE"
	envKeyFile  = "SHOWCASE_KEY_FILE"
)

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("showcase", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.httpsAddr, "https", "localhost:8443", "`address` for HTTPS: HTTP/1.1 and HTTP/2 on TCP, HTTP/3 on UDP, same port; empty disables it")
	fs.StringVar(&c.httpAddr, "http", "localhost:8080", "`address` for plain HTTP; empty disables it")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "how long shutdown waits for requests in flight")
	fs.DurationVar(&c.drainDelay, "drain-delay", 0, "how long shutdown keeps serving with /readyz at 503 before it stops accepting (behind a load balancer: its probe interval × failure threshold)")
	fs.StringVar(&c.certFile, "cert", os.Getenv(envCertFile), "PEM certificate `file` (chain) to serve HTTPS and HTTP/3 with, e.g. from mkcert; default $"+envCertFile+", else a fresh development certificate")
	fs.StringVar(&c.keyFile, "key", os.Getenv(envKeyFile), "PEM private key `file` of -cert; default $"+envKeyFile)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return c, fmt.Errorf("-cert and -key (or $%s and $%s) go together: give both or neither", envCertFile, envKeyFile)
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
	serverTLS := dev.ServerTLS()
	sc := newShowcase(dev)
	if cfg.certFile != "" {
		kp, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		if err != nil {
			return fmt.Errorf("-cert/-key: %w", err)
		}
		serverTLS.Certificates = []tls.Certificate{kp}
		sum := sha256.Sum256(kp.Certificate[0])
		sc.certHash = hex.EncodeToString(sum[:])
		sc.spki = ""
	}
	defer sc.close()
	for _, setup := range demos {
		if err := setup(ctx, sc); err != nil {
			return err
		}
	}
	// Readiness for a load balancer: 503 as soon as shutdown begins.
	sc.mux.HandleFunc("GET /readyz", sc.servers.ready)

	var (
		servers    []*httpx.Server
		wg         sync.WaitGroup // joins the Serve goroutines
		quicOrigin string         // host:port of the HTTP/3 listener
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
			opts.TLSConfig = serverTLS.Clone()
			if sc.wt != nil {
				opts.HTTP3Conns = sc.wt // WebTransport on this port's HTTP/3
			}
		} else {
			opts.H2C = true
		}
		srv, err := httpx.NewServer(sc.handler(), opts)
		if err != nil {
			return err
		}
		if sc.wt != nil {
			sc.wt.RegisterOnShutdown(srv, cfg.drain) // sessions get 1001 when draining starts
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
			quicOrigin = quicHost(pc.LocalAddr().(*net.UDPAddr))
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
		if cfg.certFile != "" {
			fmt.Fprintf(out, "showcase: certificate sha-256 %s (from %s)\n", sc.certHash, cfg.certFile)
			fmt.Fprintf(out, "showcase: browsers that trust it switch to HTTP/3 after the first response; to start on it, run\n%s\n",
				chromiumCommand(quicOrigin, ""))
		} else {
			fmt.Fprintf(out, "showcase: certificate sha-256 %s (self-signed, for development)\n", sc.certHash)
			fmt.Fprintf(out, "showcase: browsers refuse HTTP/3 with a self-signed certificate; to see it, run\n%s\n",
				chromiumCommand(quicOrigin, dev.SPKIHash()))
		}
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

// chromiumCommand is the command line that opens the page in Chromium on
// HTTP/3 from the first request: --origin-to-force-quic-on skips the TCP
// visit that would learn Alt-Svc, and --ignore-certificate-errors-spki-list
// (which Chromium honours only with --user-data-dir) accepts the
// development certificate on QUIC too, where --ignore-certificate-errors
// does not (ERR_QUIC_HANDSHAKE_FAILED). spki is empty for a trusted
// certificate.
func chromiumCommand(origin, spki string) string {
	cmd := "  chromium --user-data-dir=/tmp/showcase-chromium"
	if spki != "" {
		cmd += " --ignore-certificate-errors-spki-list=" + spki
	}
	return cmd + " --origin-to-force-quic-on=" + origin + " https://" + origin + "/"
}

// quicHost renders the UDP listener's address as Chromium must name the
// origin: the address it is bound to (localhost may resolve to ::1 first,
// where nothing listens), 127.0.0.1 when it listens on all addresses.
func quicHost(a *net.UDPAddr) string {
	ip := a.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
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
