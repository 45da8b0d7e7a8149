package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/httpx"
)

// resourceHandler serves /r/N with an 8 KiB body: one of a page's small
// resources (a script, an icon, an API call's JSON).
var resourceHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(resourceBody)
})

var resourceBody = []byte(strings.Repeat("wirespeed", 8<<10/9+1)[:8<<10])

// pageClients are the page-load clients, each new per page (cold
// connections, as a first visit): HTTP/1.1 with at most 6 connections (a
// browser's limit per host), HTTP/2 (httpx's client, one connection), and
// HTTP/3 (quic-go's http3.Transport, which knows the server speaks it, as
// a browser with a remembered Alt-Svc).
var pageClients = []struct {
	name string
	make func() (*http.Client, func())
}{
	{"h1-6conns", func() (*http.Client, func()) {
		conf := wanClientTLS()
		conf.NextProtos = []string{"http/1.1"}
		tr := &http.Transport{
			TLSClientConfig: conf, MaxConnsPerHost: 6, MaxIdleConnsPerHost: 6,
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		}
		return &http.Client{Transport: tr}, tr.CloseIdleConnections
	}},
	{"h2", func() (*http.Client, func()) {
		c, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS()})
		if err != nil {
			panic(err)
		}
		return c.Client, func() { c.Close() }
	}},
	{"h3", func() (*http.Client, func()) {
		tr := &http3.Transport{TLSClientConfig: wanClientTLS()}
		return &http.Client{Transport: tr}, func() { tr.Close() }
	}},
}

// BenchmarkWanPage loads a page of 50 small resources (8 KiB each), all
// requested at once on a new client, at RTT 50 ms and loss 0, 1, 2 and 5%
// in each direction. ns/op is the page's mean total time, "page-p50-ms"
// its median; "p95-ms" and "p50-ms" are percentiles of the resources'
// completion times over all pages.
func BenchmarkWanPage(b *testing.B) {
	l := wanLink(b)
	url := wanServe(b, l, resourceHandler, false)
	const rtt = 50 * time.Millisecond
	for _, loss := range []float64{0, 0.01, 0.02, 0.05} {
		wanShape(b, l, wanem.Symmetric(rtt, loss))
		for _, pc := range pageClients {
			b.Run(lossName(loss)+"/"+pc.name, func(b *testing.B) {
				var all, pages []time.Duration
				for b.Loop() {
					c, done := pc.make()
					start := time.Now()
					times, err := loadPage(c, url, 50)
					pages = append(pages, time.Since(start))
					done()
					if err != nil {
						b.Fatal(err)
					}
					all = append(all, times...)
				}
				b.ReportMetric(ms(pct(pages, 50)), "page-p50-ms")
				b.ReportMetric(ms(pct(all, 95)), "p95-ms")
				b.ReportMetric(ms(pct(all, 50)), "p50-ms")
			})
		}
	}
}

// loadPage requests n resources at once and returns each one's completion
// time from the start.
func loadPage(c *http.Client, url string, n int) ([]time.Duration, error) {
	start := time.Now()
	times := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = wanGet(c, url+"r/"+strconv.Itoa(i))
			times[i] = time.Since(start)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return times, nil
}

// BenchmarkWanReuse sends sequential small GETs at RTT 50 ms through one
// shared httpx client (HTTP/2 over a kept connection) and through a new
// client per request (TCP + TLS 1.3 handshakes each time). "RTTs" is the
// time per request in round trips.
func BenchmarkWanReuse(b *testing.B) {
	l := wanLink(b)
	url := wanServe(b, l, okHandler, false)
	const rtt = 50 * time.Millisecond
	wanShape(b, l, wanem.Symmetric(rtt, 0))
	b.Run("rtt=50ms/pooled", func(b *testing.B) {
		c := wanHTTPX(b, nil)
		if err := wanGet(c.Client, url); err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			if err := wanGet(c.Client, url); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
		}
		b.ReportMetric(rtts(total/time.Duration(b.N), rtt), "RTTs")
	})
	b.Run("rtt=50ms/new-connection", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			c, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS()})
			if err != nil {
				b.Fatal(err)
			}
			err = wanGet(c.Client, url)
			c.Close()
			if err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
		}
		b.ReportMetric(rtts(total/time.Duration(b.N), rtt), "RTTs")
	})
}

// BenchmarkWanRace measures httpx's racing transport at RTT 50 ms on a
// client that has learnt the origin's Alt-Svc: with UDP blocked (QUIC
// never answers: TCP starts after the 300 ms head start; once the QUIC
// handshake times out the origin is marked broken and requests use TCP
// at once) and with QUIC slow (200 ms of extra one-way delay on UDP).
// Medians: "first-ms" is the first request on a new connection after learning,
// "second-ms" the next one after CloseIdleConnections (with UDP blocked,
// after the origin was marked broken), "tcp-ms" the same request from a
// client without HTTP/3; "quic-won/op" and "tcp-won/op" count which
// connection the races picked. Each op uses a new client.
func BenchmarkWanRace(b *testing.B) {
	l := wanLink(b)
	url := wanServe(b, l, okHandler, false)
	const rtt = 50 * time.Millisecond
	for _, tc := range []struct {
		name  string
		shape wanem.Shape
	}{
		{"udp-blocked", wanem.Shape{Delay: rtt / 2, BlockUDP: true}},
		{"quic-slow", wanem.Shape{Delay: rtt / 2, UDPDelay: 200 * time.Millisecond}},
		{"quic-ok", wanem.Shape{Delay: rtt / 2}},
	} {
		b.Run("rtt=50ms/"+tc.name, func(b *testing.B) {
			wanShape(b, l, tc.shape)
			var first, second, tcp []time.Duration
			var quicWon, tcpWon int64
			for b.Loop() {
				c, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS(),
					HTTP3: &httpx.HTTP3Options{HandshakeTimeout: time.Second}})
				if err != nil {
					b.Fatal(err)
				}
				if err := wanGet(c.Client, url); err != nil { // learns Alt-Svc over TCP
					b.Fatal(err)
				}
				c.CloseIdleConnections()
				start := time.Now()
				if err := wanGet(c.Client, url); err != nil {
					b.Fatal(err)
				}
				first = append(first, time.Since(start))
				if tc.shape.BlockUDP {
					deadline := time.Now().Add(10 * time.Second)
					for c.Stats().H3.BrokenMarks == 0 && time.Now().Before(deadline) {
						time.Sleep(10 * time.Millisecond)
					}
				}
				c.CloseIdleConnections()
				start = time.Now()
				if err := wanGet(c.Client, url); err != nil {
					b.Fatal(err)
				}
				second = append(second, time.Since(start))
				st := c.Stats().H3
				quicWon += st.QUICWon
				tcpWon += st.TCPWon
				c.Close()

				t, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS()})
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				err = wanGet(t.Client, url)
				tcp = append(tcp, time.Since(start))
				t.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(ms(pct(first, 50)), "first-ms")
			b.ReportMetric(ms(pct(second, 50)), "second-ms")
			b.ReportMetric(ms(pct(tcp, 50)), "tcp-ms")
			b.ReportMetric(float64(quicWon)/float64(b.N), "quic-won/op")
			b.ReportMetric(float64(tcpWon)/float64(b.N), "tcp-won/op")
		})
	}
}

// TestWanSmoke is the emulator's smoke test in `go test ./...`: one GET
// through httpx's client to an httpx.Server across a 40 ms link. A TCP
// connection cannot be established in less than one emulated round trip
// (less the forwarding latency the link compensates for); no upper bound
// is asserted.
func TestWanSmoke(t *testing.T) {
	l := wanLink(t)
	const rtt = 40 * time.Millisecond
	wanShape(t, l, wanem.Symmetric(rtt, 0))
	url := wanServe(t, l, okHandler, false)
	c := wanHTTPX(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if string(body) != "ok" || resp.ProtoMajor != 2 {
		t.Fatalf("got %q over %s, want ok over HTTP/2", body, resp.Proto)
	}
	// TCP handshake, TLS 1.3 handshake and the request: three round
	// trips at the least.
	if floor := 3 * (rtt - 2*l.Overhead()); took < floor {
		t.Errorf("a new-connection GET took %v across a %v link, less than 3 round trips (%v)", took, rtt, floor)
	}
	if ab := l.Counters(wanem.AtoB); ab.Forwarded == 0 {
		t.Errorf("no packets forwarded A→B: %+v", ab)
	}
	t.Logf("new-connection GET across %v RTT: %v (%.1f RTTs); %s", rtt, took, rtts(took, rtt), fmt.Sprint(l.Counters(wanem.AtoB)))
}
