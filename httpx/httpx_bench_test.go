package httpx_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/quic-go/quic-go/http3"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// fetch GETs url and drains the body; it fails b on any error.
func fetch(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// BenchmarkClientReuse compares one shared client with the pitfall of a
// new client (and so a new TCP and TLS handshake) per request.
func BenchmarkClientReuse(b *testing.B) {
	srv := startServer(b, protoHandler, nil, false, false)
	b.Run("shared", func(b *testing.B) {
		c := newClient(b, nil)
		b.ReportAllocs()
		for b.Loop() {
			fetch(b, c.Client, srv.URL)
		}
		b.ReportMetric(c.Stats().HandshakesPerRequest(), "handshakes/op")
	})
	b.Run("new-client-per-request", func(b *testing.B) {
		b.ReportAllocs()
		var handshakes int64
		for b.Loop() {
			c, err := httpx.NewClient(&httpx.Options{TLSConfig: testCert().ClientTLS()})
			if err != nil {
				b.Fatal(err)
			}
			fetch(b, c.Client, srv.URL)
			handshakes += c.Stats().TLSHandshakes
			c.Close()
		}
		b.ReportMetric(float64(handshakes)/float64(b.N), "handshakes/op")
	})
}

// BenchmarkConcurrent64 sends requests from 64 goroutines to one HTTP/1.1
// TLS host: net/http's default of 2 idle connections per host closes and
// redials most connections; httpx keeps them.
func BenchmarkConcurrent64(b *testing.B) {
	tlsConf := testCert().ServerTLS()
	tlsConf.NextProtos = []string{"http/1.1"}
	srv := startServer(b, protoHandler, &httpx.ServerOptions{TLSConfig: tlsConf}, false, false)
	run := func(b *testing.B, c *http.Client, dials func() int64) {
		b.ReportAllocs()
		b.SetParallelism(max(64/runtime.GOMAXPROCS(0), 1)) // 64 goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				fetch(b, c, srv.URL)
			}
		})
		b.ReportMetric(float64(dials())/float64(b.N), "dials/op")
	}
	b.Run("httpx", func(b *testing.B) {
		c := newClient(b, nil)
		run(b, c.Client, func() int64 { return c.Stats().Dials })
	})
	b.Run("default-transport", func(b *testing.B) {
		var dials countingDialer
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = testCert().ClientTLS()
		tr.DialContext = dials.DialContext
		defer tr.CloseIdleConnections()
		run(b, &http.Client{Transport: tr}, dials.n)
	})
}

// countingDialer counts the dials of a plain http.Transport.
type countingDialer struct {
	mu    sync.Mutex
	dials int64
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dials++
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *countingDialer) n() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials
}

// BenchmarkProtocols sends 50 small requests in parallel per operation
// (a page's worth of API calls) over each protocol, on warm connections.
func BenchmarkProtocols(b *testing.B) {
	h1TLS := testCert().ServerTLS()
	h1TLS.NextProtos = []string{"http/1.1"}
	h1 := startServer(b, protoHandler, &httpx.ServerOptions{TLSConfig: h1TLS}, false, false)
	all := startServer(b, protoHandler, nil, true, false)
	h3tr := &http3.Transport{TLSClientConfig: testCert().ClientTLS()}
	b.Cleanup(func() { h3tr.Close() })
	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"h1", newClient(b, nil).Client, h1.URL},
		{"h2", newClient(b, nil).Client, all.URL},
		{"h3", &http.Client{Transport: h3tr}, all.URL},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fetch(b, tc.client, tc.url) // warm up
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for range 50 {
					wg.Go(func() { fetch(b, tc.client, tc.url) })
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/request")
		})
	}
}

// BenchmarkResolver compares a cached lookup with a query per lookup to a
// DNS server on loopback.
func BenchmarkResolver(b *testing.B) {
	dns := testenv.StartDNS(b)
	dns.Set("api.test", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, TTL: 3600})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts httpx.ResolverOptions
	}{
		{"cached", httpx.ResolverOptions{}},
		{"uncached", httpx.ResolverOptions{MaxEntries: -1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tc.opts.Servers = []string{dns.Addr}
			r, err := httpx.NewResolver(&tc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.LookupNetIP(ctx, "ip4", "api.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseAltSvc(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := httpx.ParseAltSvc(`h3=":443"; ma=2592000, h2=":443"; ma=86400`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdBurst sends 50 concurrent GETs from a new client to an
// origin, the start of a program or a client made per job. Over HTTP/2,
// with dials coalesced, one handshake serves the burst, where net/http
// alone makes one per request; HTTP/1.1 needs one per request either way.
func BenchmarkColdBurst(b *testing.B) {
	h1TLS := testCert().ServerTLS()
	h1TLS.NextProtos = []string{"http/1.1"}
	h1 := startServer(b, protoHandler, &httpx.ServerOptions{TLSConfig: h1TLS}, false, false)
	h2 := startServer(b, protoHandler, nil, false, false)
	const burst = 50
	for _, tc := range []struct{ name, url string }{{"h2", h2.URL}, {"h1", h1.URL}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var handshakes int64
			for b.Loop() {
				c, err := httpx.NewClient(&httpx.Options{TLSConfig: testCert().ClientTLS()})
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				for range burst {
					wg.Go(func() {
						resp, err := c.Get(tc.url)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					})
				}
				wg.Wait()
				handshakes += c.Stats().TLSHandshakes
				c.Close()
			}
			b.ReportMetric(float64(handshakes)/float64(b.N), "handshakes/op")
		})
	}
}
