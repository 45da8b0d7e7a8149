package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quic-go/quic-go/http3"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/devcert"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// The HTTP client comparisons run against an httpx.Server on loopback with
// a development certificate. Every request is a small GET ("ok"), so the
// figures are the cost of connections and protocol, not of payloads. The
// peers are what a Go service gets without httpx: net/http's
// DefaultTransport (cloned, to trust the certificate) and quic-go's
// http3.Transport. Loopback has no latency or loss: handshakes cost CPU
// only, so these ratios understate what reuse saves across a network.

var httpxCert = sync.OnceValue(func() *devcert.Cert {
	c, err := devcert.New()
	if err != nil {
		panic(err)
	}
	return c
})

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
})

// httpxServe starts an httpx.Server for the benchmark: HTTP/1.1 only when
// h1Only, else HTTP/1.1, HTTP/2 and (with UDP) HTTP/3 on one port. It
// returns the https URL; the cleanup stops the server.
func httpxServe(tb testing.TB, h1Only bool) string {
	tb.Helper()
	tlsConf := httpxCert().ServerTLS()
	if h1Only {
		tlsConf.NextProtos = []string{"http/1.1"}
	}
	srv, err := httpx.NewServer(okHandler, &httpx.ServerOptions{
		TLSConfig: tlsConf,
		Logger:    slog.New(slog.DiscardHandler), // cancelled dials at cleanup log handshake errors
	})
	if err != nil {
		tb.Fatal(err)
	}
	var (
		l  net.Listener
		pc net.PacketConn
	)
	if h1Only {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	} else {
		l, pc, err = httpx.Listen("127.0.0.1:0")
	}
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l, pc) }()
	tb.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("Serve: %v", err)
		}
	})
	return "https://" + l.Addr().String() + "/"
}

// httpxClient returns a shared httpx client trusting the certificate.
func httpxClient(tb testing.TB, h3 bool) *httpx.Client {
	tb.Helper()
	opts := &httpx.Options{TLSConfig: httpxCert().ClientTLS()}
	if h3 {
		opts.HTTP3 = &httpx.HTTP3Options{}
	}
	c, err := httpx.NewClient(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// countingTransport is a clone of http.DefaultTransport that trusts the
// certificate and counts its dials.
type countingTransport struct {
	*http.Transport
	dials atomic.Int64
}

func newCountingTransport(tb testing.TB) *countingTransport {
	ct := &countingTransport{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	ct.TLSClientConfig = httpxCert().ClientTLS()
	var d net.Dialer
	ct.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ct.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	tb.Cleanup(ct.CloseIdleConnections)
	return ct
}

func httpxGet(tb testing.TB, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
}

// BenchmarkHTTPClientReuse is the "new client per request" pitfall:
// sequential requests over HTTP/2 with TLS through one shared httpx client,
// one shared default client, and a new default client per request (a TCP
// and TLS handshake each).
func BenchmarkHTTPClientReuse(b *testing.B) {
	url := httpxServe(b, false)
	b.Run("sequential-h2-tls/wirespeed", func(b *testing.B) {
		c := httpxClient(b, false)
		b.ReportAllocs()
		for b.Loop() {
			httpxGet(b, c.Client, url)
		}
		b.ReportMetric(float64(c.Stats().TLSHandshakes)/float64(b.N), "handshakes/op")
	})
	b.Run("sequential-h2-tls/default-client-shared", func(b *testing.B) {
		ct := newCountingTransport(b)
		c := &http.Client{Transport: ct}
		b.ReportAllocs()
		for b.Loop() {
			httpxGet(b, c, url)
		}
		b.ReportMetric(float64(ct.dials.Load())/float64(b.N), "handshakes/op")
	})
	b.Run("sequential-h2-tls/new-client-per-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = httpxCert().ClientTLS()
			httpxGet(b, &http.Client{Transport: tr}, url)
			tr.CloseIdleConnections()
		}
		b.ReportMetric(1, "handshakes/op")
	})
}

// BenchmarkHTTPClient sends requests from 64 goroutines to one HTTP/1.1
// TLS host: DefaultTransport keeps 2 idle connections per host, so most
// connections are closed after use and dialed again; httpx keeps 64.
func BenchmarkHTTPClient(b *testing.B) {
	url := httpxServe(b, true)
	run := func(b *testing.B, c *http.Client, dials func() int64) {
		b.ReportAllocs()
		b.SetParallelism(max(64/runtime.GOMAXPROCS(0), 1)) // 64 goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				httpxGet(b, c, url)
			}
		})
		b.ReportMetric(float64(dials())/float64(b.N), "dials/op")
	}
	b.Run("64-concurrent-h1-tls/wirespeed", func(b *testing.B) {
		c := httpxClient(b, false)
		run(b, c.Client, func() int64 { return c.Stats().Dials })
	})
	b.Run("64-concurrent-h1-tls/default-transport", func(b *testing.B) {
		ct := newCountingTransport(b)
		run(b, &http.Client{Transport: ct}, ct.dials.Load)
	})
}

// BenchmarkHTTPProtocol sends 50 small requests in parallel per operation,
// a page's worth of API calls, on warm connections. wirespeed is the httpx
// client with HTTP/3 on: after the first response's Alt-Svc it races QUIC
// against TCP and uses HTTP/3. The peers are net/http over HTTP/1.1 (with
// 64 idle connections per host) and HTTP/2, and quic-go's http3.Transport.
func BenchmarkHTTPProtocol(b *testing.B) {
	url := httpxServe(b, false)
	h1URL := httpxServe(b, true)
	h3 := &http3.Transport{TLSClientConfig: httpxCert().ClientTLS()}
	b.Cleanup(func() { h3.Close() })
	ws := httpxClient(b, true)
	// Enough idle connections for 50 parallel HTTP/1.1 requests, so the
	// comparison is of protocols, not of DefaultTransport's 2-idle churn.
	h1Tuned := newCountingTransport(b)
	h1Tuned.MaxIdleConnsPerHost = 64
	for _, tc := range []struct {
		name string
		c    *http.Client
		url  string
	}{
		{"wirespeed", ws.Client, url},
		{"h1-net-http", &http.Client{Transport: h1Tuned}, h1URL},
		{"h2-net-http", &http.Client{Transport: newCountingTransport(b)}, url},
		{"h3-quic-go", &http.Client{Transport: h3}, url},
	} {
		b.Run("50-parallel/"+tc.name, func(b *testing.B) {
			httpxGet(b, tc.c, tc.url) // warm up; learns Alt-Svc
			httpxGet(b, tc.c, tc.url)
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for range 50 {
					wg.Go(func() { httpxGet(b, tc.c, tc.url) })
				}
				wg.Wait()
			}
		})
	}
	if st := ws.Stats(); st.HTTP3 < st.Requests-2 {
		b.Errorf("the httpx client sent %d of %d requests over HTTP/3", st.HTTP3, st.Requests)
	}
}

// BenchmarkDNSLookup resolves one name against a DNS server on loopback:
// httpx's Resolver answers from its cache for the record's TTL; net's
// pure-Go resolver (what a Go binary uses without cgo) sends a query per
// lookup.
func BenchmarkDNSLookup(b *testing.B) {
	dns, err := testenv.NewDNSServer()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(dns.Close)
	dns.Set("api.internal", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.7")}, TTL: 3600})
	ctx := context.Background()
	lookup := func(b *testing.B, f func() ([]netip.Addr, error)) {
		b.ReportAllocs()
		for b.Loop() {
			if addrs, err := f(); err != nil || len(addrs) != 1 {
				b.Fatal(addrs, err)
			}
		}
	}
	b.Run("ttl-3600/wirespeed", func(b *testing.B) {
		r, err := httpx.NewResolver(&httpx.ResolverOptions{Servers: []string{dns.Addr}})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		lookup(b, func() ([]netip.Addr, error) { return r.LookupNetIP(ctx, "ip4", "api.internal") })
	})
	b.Run("ttl-3600/net-resolver-go", func(b *testing.B) {
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, dns.Addr)
		}}
		lookup(b, func() ([]netip.Addr, error) { return r.LookupNetIP(ctx, "ip4", "api.internal.") })
	})
}

// TestHTTPIdleConnectionsClaim checks the claim behind BenchmarkHTTPClient
// without timing: two bursts of 32 concurrent HTTP/1.1 requests that each
// need their own connection. httpx keeps the first burst's connections for
// the second; DefaultTransport keeps 2 and dials 30 again.
func TestHTTPIdleConnectionsClaim(t *testing.T) {
	const burst = 32
	var (
		mu   sync.Mutex
		seen int
		all  = make(chan struct{})
	)
	hold := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen++
		ch := all
		if seen%burst == 0 {
			close(all)
			all = make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
		}
		io.WriteString(w, "ok")
	})
	tlsConf := httpxCert().ServerTLS()
	tlsConf.NextProtos = []string{"http/1.1"}
	srv, err := httpx.NewServer(hold, &httpx.ServerOptions{TLSConfig: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, nil)
	defer srv.Close()
	url := "https://" + l.Addr().String() + "/"

	bursts := func(c *http.Client) {
		for range 2 {
			var wg sync.WaitGroup
			for range burst {
				wg.Go(func() { httpxGet(t, c, url) })
			}
			wg.Wait()
		}
	}
	ws := httpxClient(t, false)
	bursts(ws.Client)
	ct := newCountingTransport(t)
	bursts(&http.Client{Transport: ct})
	if got := ws.Stats().Dials; got != burst {
		t.Errorf("httpx dialed %d connections for two bursts of %d, want %d", got, burst, burst)
	}
	if got := ct.dials.Load(); got != 2*burst-2 {
		t.Errorf("DefaultTransport dialed %d connections, want %d", got, 2*burst-2)
	}
}
