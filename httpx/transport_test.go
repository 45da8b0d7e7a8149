package httpx_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

func TestNewTransportOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *httpx.Options
		ok   bool
	}{
		{"nil", nil, true},
		{"zero", &httpx.Options{}, true},
		{"HTTP/3 defaults", &httpx.Options{HTTP3: &httpx.HTTP3Options{}}, true},
		{"negative dial timeout", &httpx.Options{DialTimeout: -1}, false},
		{"negative idle conns", &httpx.Options{MaxIdleConnsPerHost: -1}, false},
		{"idle total below per host", &httpx.Options{MaxIdleConns: 4, MaxIdleConnsPerHost: 8}, false},
		{"negative idle timeout", &httpx.Options{IdleConnTimeout: -time.Second}, false},
		{"negative conns per host", &httpx.Options{MaxConnsPerHost: -1}, false},
		{"negative QUIC handshake timeout", &httpx.Options{HTTP3: &httpx.HTTP3Options{HandshakeTimeout: -1}}, false},
		{"max backoff below backoff", &httpx.Options{HTTP3: &httpx.HTTP3Options{BrokenBackoff: time.Hour, MaxBrokenBackoff: time.Minute}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := httpx.NewTransport(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("NewTransport(%+v) error %v, want ok=%v", tc.opts, err, tc.ok)
			}
			if tr != nil {
				tr.Close()
			}
		})
	}
}

// barrier holds each request until n have arrived, so a burst of n
// HTTP/1.1 requests needs n connections at once.
type barrier struct {
	mu      sync.Mutex
	n, seen int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.seen++
	all := b.all
	if b.seen%b.n == 0 { // the last of a burst releases it
		close(b.all)
		b.all = make(chan struct{})
	}
	b.mu.Unlock()
	select {
	case <-all:
	case <-r.Context().Done():
	}
	io.WriteString(w, r.Proto)
}

// TestTransportKeepsIdleConnections sends two bursts of 16 concurrent
// HTTP/1.1 requests. The second burst reuses the 16 connections of the
// first; with net/http's default of 2 idle connections per host, 14 of
// them would have been closed and dialed again.
func TestTransportKeepsIdleConnections(t *testing.T) {
	const burst = 16
	tlsConf := testCert().ServerTLS()
	tlsConf.NextProtos = []string{"http/1.1"}
	srv := startServer(t, newBarrier(burst), &httpx.ServerOptions{TLSConfig: tlsConf}, false, false)
	ctx := testCtx(t)
	run := func(c *httpx.Client) {
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				if _, proto := get(t, ctx, c.Client, srv.URL); proto != "HTTP/1.1" {
					t.Errorf("request over %s, want HTTP/1.1", proto)
				}
			})
		}
		wg.Wait()
	}

	c := newClient(t, nil)
	run(c)
	run(c)
	st := c.Stats()
	key := "127.0.0.1:" + strconv.Itoa(srv.Port)
	if h := st.Hosts[key]; st.Requests != 2*burst || h.Requests != 2*burst || st.HTTP1 != 2*burst || st.Failures != 0 {
		t.Errorf("counts %+v, want %d HTTP/1.1 requests to %s", st.Counts, 2*burst, key)
	}
	if st.Dials != burst || st.TLSHandshakes != burst || st.Reused != burst || st.GotConns != 2*burst {
		t.Errorf("counts %+v, want %d dials and handshakes, the second burst all reused", st.Counts, burst)
	}
	if r := st.ReuseRatio(); r != 0.5 {
		t.Errorf("reuse ratio %.2f, want 0.5", r)
	}
	if st.Open != burst || st.ReusedIdle <= 0 {
		t.Errorf("Open = %d, ReusedIdle = %v; want %d open and some idle time", st.Open, st.ReusedIdle, burst)
	}
	c.CloseIdleConnections()
	testenv.WaitFor(t, 10*time.Second, "idle connections to close", func() bool {
		return c.Stats().Open == 0
	})
	if st := c.Stats(); st.Closed != burst {
		t.Errorf("Closed = %d, want %d", st.Closed, burst)
	}

	// net/http's default: 2 idle connections per host.
	c2 := newClient(t, &httpx.Options{MaxIdleConnsPerHost: 2})
	run(c2)
	run(c2)
	if st := c2.Stats(); st.Dials != 2*burst-2 {
		t.Errorf("with 2 idle connections per host: %d dials, want %d", st.Dials, 2*burst-2)
	}
}

// TestTransportHTTP2 multiplexes requests on one HTTP/2 connection.
func TestTransportHTTP2(t *testing.T) {
	srv := startServer(t, hello, nil, false, false)
	c := newClient(t, nil)
	ctx := testCtx(t)
	if _, proto := get(t, ctx, c.Client, srv.URL); proto != "HTTP/2.0" {
		t.Fatalf("first request over %s, want HTTP/2.0", proto)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { get(t, ctx, c.Client, srv.URL) })
	}
	wg.Wait()
	st := c.Stats()
	if st.HTTP2 != 51 || st.Dials != 1 || st.Reused != 50 {
		t.Errorf("counts %+v, want 51 HTTP/2 requests on one connection", st.Counts)
	}

	// DisableHTTP2 keeps HTTP/1.1.
	c1 := newClient(t, &httpx.Options{DisableHTTP2: true})
	if _, proto := get(t, ctx, c1.Client, srv.URL); proto != "HTTP/1.1" {
		t.Errorf("DisableHTTP2: request over %s", proto)
	}
}

// TestTransportResolvesThroughCache dials a name three times: one DNS
// query, two cache hits, counted per host.
func TestTransportResolvesThroughCache(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("api.test", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, TTL: 60})
	srv := startServer(t, hello, nil, false, false)
	tlsConf := testCert().ClientTLS()
	tlsConf.ServerName = "localhost" // the certificate's name; the URL uses api.test
	c := newClient(t, &httpx.Options{TLSConfig: tlsConf, Resolver: newResolver(t, dns, nil)})
	u := "https://api.test:" + strconv.Itoa(srv.Port) + "/"
	for range 3 {
		get(t, testCtx(t), c.Client, u)
		c.CloseIdleConnections()
	}
	h := c.Stats().Hosts["api.test:"+strconv.Itoa(srv.Port)]
	if h.Dials != 3 || h.DNSLookups != 3 || h.DNSCacheHits != 2 || h.TLSHandshakes != 3 {
		t.Errorf("host counts %+v, want 3 dials, 3 lookups, 2 cache hits", h)
	}
	if q := dns.Queries("api.test"); q != 2 { // A and AAAA, once
		t.Errorf("%d DNS queries, want 2", q)
	}
	if st := c.Stats(); st.Resolver.CacheHits != 2 {
		t.Errorf("resolver stats %+v", st.Resolver)
	}
}

// TestTransportFaults: a connection reset mid-response and a server that
// never answers give errors, not hangs.
func TestTransportFaults(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	release := make(chan struct{})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				switch req.URL.Path {
				case "/reset":
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
					c.(*net.TCPConn).SetLinger(0) // RST instead of FIN
				case "/silent":
					<-release
				}
			})
		}
	})
	defer close(release)
	base := "http://" + l.Addr().String()
	c := newClient(t, &httpx.Options{ResponseHeaderTimeout: 200 * time.Millisecond})
	ctx := testCtx(t)

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/reset", nil)
	resp, err := c.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("reset mid-response: no error")
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/silent", nil)
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("silent server: %v, want a response header timeout", err)
	}
	if st := c.Stats(); st.Failures != 1 {
		t.Errorf("Failures = %d, want 1 (the reset one failed while reading the body)", st.Failures)
	}

	// A dial to a closed port fails and is counted.
	if _, err := c.Get("http://127.0.0.1:1/"); err == nil {
		t.Error("dial to a closed port succeeded")
	}
	if st := c.Stats(); st.DialErrors != 1 {
		t.Errorf("DialErrors = %d, want 1", st.DialErrors)
	}
}

func TestTransportProxyErrorAndClose(t *testing.T) {
	boom := errors.New("no proxy today")
	c := newClient(t, &httpx.Options{Proxy: func(*http.Request) (*url.URL, error) { return nil, boom }})
	if _, err := c.Get("http://127.0.0.1:1/"); !errors.Is(err, boom) {
		t.Errorf("proxy error: %v, want it wrapped", err)
	}

	tr, err := httpx.NewTransport(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	tr.Close() // idempotent
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", strings.NewReader("body"))
	if _, err := tr.RoundTrip(req); !errors.Is(err, httpx.ErrTransportClosed) {
		t.Errorf("after Close: %v, want ErrTransportClosed", err)
	}
}

// TestTransportViaProxy sends a plain HTTP request through a forward
// proxy: it goes through the proxied transport and is counted.
func TestTransportViaProxy(t *testing.T) {
	origin := startServer(t, hello, nil, false, true)
	var proxied int
	var mu sync.Mutex
	proxy := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied++
		mu.Unlock()
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}), nil, false, true)
	pu, _ := url.Parse(proxy.URL)
	c := newClient(t, &httpx.Options{Proxy: http.ProxyURL(pu)})
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if _, body := get(t, testCtx(t), c.Client, origin.URL); body != "HTTP/1.1" {
		t.Errorf("body %q", body)
	}
	if proxied != 1 {
		t.Errorf("proxy saw %d requests, want 1", proxied)
	}
}
