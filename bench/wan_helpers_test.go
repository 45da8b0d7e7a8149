package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// The Wan benchmarks run the library across an emulated WAN (package
// wanem): side A is this process's own network namespace (so clients that
// dial on goroutines of their own, httpx's and quic-go's, go through the
// link unchanged), side B a namespace holding the servers. They need root
// and /dev/net/tun; elsewhere they skip, and fail under
// WIRESPEED_INTEGRATION=require. bench/cmd/claims runs them and writes
// CLAIMS.md.

// wanLink creates a link for tb with side A in this process's namespace,
// closed at cleanup.
func wanLink(tb testing.TB) *wanem.Link {
	tb.Helper()
	if err := wanem.Available(); err != nil {
		testenv.Unavailable(tb, err.Error())
	}
	l, err := wanem.New(&wanem.Options{HostA: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Error(err)
		}
	})
	return l
}

// wanShape sets both directions of l to RTT rtt and loss in each
// direction.
func wanShape(tb testing.TB, l *wanem.Link, s wanem.Shape) {
	tb.Helper()
	if err := l.SetShape(wanem.Both, s); err != nil {
		tb.Fatal(err)
	}
}

// wanAddr is "[side B's IPv6]:0", to listen on.
func wanAddr(l *wanem.Link) string { return netip.AddrPortFrom(l.B.Addr6, 0).String() }

// wanServe serves h with an httpx.Server on side B (HTTP/1.1 only when
// h1Only, else HTTP/1.1, HTTP/2 and HTTP/3 on one port) and returns its
// https URL. The client must use wanClientTLS (the certificate names
// localhost, not the link's address).
func wanServe(tb testing.TB, l *wanem.Link, h http.Handler, h1Only bool) string {
	tb.Helper()
	tlsConf := httpxCert().ServerTLS()
	if h1Only {
		tlsConf.NextProtos = []string{"http/1.1"}
	}
	srv, err := httpx.NewServer(h, &httpx.ServerOptions{
		TLSConfig: tlsConf,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	var (
		ln net.Listener
		pc net.PacketConn
	)
	err = l.B.Do(func() (err error) {
		if h1Only {
			ln, err = net.Listen("tcp", wanAddr(l))
		} else {
			ln, pc, err = httpx.Listen(wanAddr(l))
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, pc) }()
	tb.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("Serve: %v", err)
		}
	})
	return "https://" + ln.Addr().String() + "/"
}

// wanClientTLS trusts the development certificate for any address of the
// link.
func wanClientTLS() *tls.Config {
	c := httpxCert().ClientTLS()
	c.ServerName = "localhost"
	return c
}

// wanHTTPX returns an httpx client for the link; h3 turns HTTP/3 on.
func wanHTTPX(tb testing.TB, h3 *httpx.HTTP3Options) *httpx.Client {
	tb.Helper()
	c, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS(), HTTP3: h3})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// rtts reports d as a multiple of rtt.
func rtts(d, rtt time.Duration) float64 { return float64(d) / float64(rtt) }

// pct returns the p-th percentile (0..100) of ds.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p/100 + 0.5)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// lossName formats a loss rate for a sub-benchmark name: "loss=2%".
func lossName(p float64) string { return fmt.Sprintf("loss=%g%%", p*100) }
