package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
)

// The httpx demo shows both halves of the package. The showcase itself is
// served by httpx.Servers (HTTP/1.1, HTTP/2 and HTTP/3 on one port, Alt-Svc,
// graceful drain behind /readyz); their per-protocol request counts are on
// the page. And an internal httpx.Client with HTTP/3 on talks to a small
// in-process backend, also an httpx.Server: its first request goes over
// HTTP/2 and learns Alt-Svc, the next ones race QUIC against TCP and use
// HTTP/3, and its statistics show the reuse ratio.

type serverList struct {
	mu      sync.Mutex // protects servers
	servers []namedServer
}

type namedServer struct {
	scheme string
	srv    *httpx.Server
}

func (l *serverList) add(scheme string, s *httpx.Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.servers = append(l.servers, namedServer{scheme, s})
}

func (l *serverList) list() []namedServer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]namedServer(nil), l.servers...)
}

// ready answers 200 while every server takes traffic and 503 once any has
// started draining.
func (l *serverList) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	for _, s := range l.list() {
		if s.srv.Stats().Draining {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready\n")
}

type httpxDemo struct {
	backend *httpx.Server
	url     string // the backend's base URL
	served  chan error
	client  *httpx.Client
	tlsOpts *httpx.Options // for the new-client-per-request comparison
	servers *serverList    // the showcase's own servers
}

func setupHTTPX(_ context.Context, sc *showcase) error {
	backend, err := httpx.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}), &httpx.ServerOptions{TLSConfig: sc.cert.ServerTLS()})
	if err != nil {
		return fmt.Errorf("httpx demo backend: %w", err)
	}
	l, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("httpx demo backend: %w", err)
	}
	d := &httpxDemo{
		backend: backend,
		url:     "https://" + l.Addr().String() + "/",
		served:  make(chan error, 1),
		tlsOpts: &httpx.Options{TLSConfig: sc.cert.ClientTLS()},
		servers: &sc.servers,
	}
	go func() { d.served <- backend.Serve(l, pc) }()
	d.client, err = httpx.NewClient(&httpx.Options{
		TLSConfig: sc.cert.ClientTLS(),
		HTTP3:     &httpx.HTTP3Options{},
	})
	if err != nil {
		d.close()
		return err
	}
	sc.mux.HandleFunc("GET /httpx/fetch", d.fetch)
	sc.mux.HandleFunc("GET /httpx/new-clients", d.newClients)
	sc.add(demo{
		Name:    "httpx",
		Title:   "HTTP/1.1, HTTP/2 and HTTP/3 with reuse",
		Summary: "This page is served over HTTP/1.1, HTTP/2 and HTTP/3 on one port with Alt-Svc and a graceful drain behind /readyz. An internal shared client learns Alt-Svc from its first response and races QUIC against TCP for the next; compare it with a new client per request.",
		Try: []link{
			{"50 parallel requests through the shared client", "/httpx/fetch?n=50"},
			{"20 requests, a new client each, vs the shared client", "/httpx/new-clients?n=20"},
			{"readiness", "/readyz"},
		},
		Measure: "/httpx/fetch?n=50",
		Stats:   d.stats,
		Close:   d.close,
	})
	return nil
}

func (d *httpxDemo) close() {
	if d.client != nil {
		d.client.Close()
	}
	d.backend.Close()
	if err := <-d.served; !errors.Is(err, http.ErrServerClosed) {
		fmt.Printf("showcase: httpx demo backend: %v\n", err)
	}
}

// get runs one request through c and returns its protocol.
func (d *httpxDemo) get(ctx context.Context, c *http.Client) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Proto, nil
}

// fetch sends n parallel requests through the shared client.
func (d *httpxDemo) fetch(w http.ResponseWriter, r *http.Request) {
	n, err := queryInt(r, "n", 50, 1000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	before := d.client.Stats()
	start := time.Now()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		protos = map[string]int{}
		failed int
	)
	for range n {
		wg.Go(func() {
			p, err := d.get(r.Context(), d.client.Client)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			protos[p]++
		})
	}
	wg.Wait()
	after := d.client.Stats()
	elapsed := time.Since(start)
	dials := after.Dials - before.Dials
	handshakes := after.TLSHandshakes - before.TLSHandshakes
	bars := chartSeries{Name: "requests"}
	for _, p := range []string{"HTTP/1.1", "HTTP/2.0", "HTTP/3.0"} {
		bars.Points = append(bars.Points, chartPoint{X: p, Y: float64(protos[p])})
	}
	detail := "The client's first request learns Alt-Svc over HTTP/2; from the next, it races QUIC against TCP and keeps the winner. "
	if protos["HTTP/3.0"] == 0 {
		detail += "Run it again to see HTTP/3. "
	}
	detail += fmt.Sprintf("Reuse ratio over the client's life: %.0f%%.", 100*after.ReuseRatio())
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("%d parallel requests → %d new %s, %d TLS %s, in %s",
				n, dials, plural(dials, "connection", "connections"), handshakes, plural(handshakes, "handshake", "handshakes"), fmtMS(ms(elapsed))),
			Detail: detail,
		},
		"chart":          chart{Kind: "bars", Title: "requests by protocol", Unit: "requests", Series: []chartSeries{bars}},
		"requests":       n,
		"failed":         failed,
		"by_protocol":    protos,
		"new_conns":      dials,
		"tls_handshakes": handshakes,
		"elapsed_ms":     ms(elapsed),
		"reuse_ratio":    round3(after.ReuseRatio()),
	})
}

// newClients sends n sequential requests, each through a new client: the
// pitfall, one handshake per request.
func (d *httpxDemo) newClients(w http.ResponseWriter, r *http.Request) {
	n, err := queryInt(r, "n", 20, 200)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var handshakes int64
	fresh := make([]float64, 0, n)
	shared := make([]float64, 0, n)
	for range n { // interleaved, so both see the same machine load
		start := time.Now()
		c, err := httpx.NewClient(d.tlsOpts)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, err = d.get(r.Context(), c.Client)
		handshakes += c.Stats().TLSHandshakes
		c.Close()
		if err != nil {
			http.Error(w, "request: "+err.Error(), http.StatusBadGateway)
			return
		}
		fresh = append(fresh, ms(time.Since(start)))
		start = time.Now()
		if _, err := d.get(r.Context(), d.client.Client); err != nil {
			http.Error(w, "request: "+err.Error(), http.StatusBadGateway)
			return
		}
		shared = append(shared, ms(time.Since(start)))
	}
	f, sh := summarize(fresh), summarize(shared)
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("%s with a new client per request vs %s with one shared client", fmtMS(f.Median), fmtMS(sh.Median)),
			Detail: fmt.Sprintf("Medians of %d requests each, interleaved; p10–p90 new %s–%s, shared %s–%s. "+
				"A new client pays a TCP and TLS handshake every time (%d here); the ratio varies between runs because the shared client's request is well under a millisecond.",
				n, fmtMS(f.P10), fmtMS(f.P90), fmtMS(sh.P10), fmtMS(sh.P90), handshakes),
		},
		"chart": chart{
			Kind: "dist", Title: "latency of each request (log scale)", Unit: "ms", Log: true,
			Series: []chartSeries{{Name: "shared client", Values: shared}, {Name: "new client", Values: fresh}},
		},
		"requests":                  n,
		"new_client_handshakes":     handshakes,
		"new_client_ms":             f,
		"shared_client_ms":          sh,
		"shared_client_reuse_ratio": round3(d.client.Stats().ReuseRatio()),
	})
}

func brokenOrigins(s httpx.Stats) []string {
	var out []string
	for k, o := range s.H3.Origins {
		if !o.BrokenUntil.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// httpxStats is the demo's part of /debug/stats.
type httpxStats struct {
	// Served counts the showcase's own requests by protocol, per server.
	Served map[string]httpx.ServerStats `json:"served"`
	// Client is the internal client's view.
	Client clientStats `json:"client"`
}

type clientStats struct {
	Requests      int64   `json:"requests"`
	HTTP1         int64   `json:"http1"`
	HTTP2         int64   `json:"http2"`
	HTTP3         int64   `json:"http3"`
	Conns         int64   `json:"conns_opened"`
	Open          int64   `json:"conns_open"`
	TLSHandshakes int64   `json:"tls_handshakes"`
	ReuseRatio    float64 `json:"reuse_ratio"`
	QUICRaces     int64   `json:"quic_races"`
	QUICWon       int64   `json:"quic_won"`
	H3Broken      int     `json:"h3_broken_origins"`
}

func (d *httpxDemo) stats() any {
	st := d.client.Stats()
	out := httpxStats{
		Served: map[string]httpx.ServerStats{},
		Client: clientStats{
			Requests:      st.Requests,
			HTTP1:         st.HTTP1,
			HTTP2:         st.HTTP2,
			HTTP3:         st.HTTP3,
			Conns:         st.Dials,
			Open:          st.Open,
			TLSHandshakes: st.TLSHandshakes,
			ReuseRatio:    st.ReuseRatio(),
			QUICRaces:     st.H3.Races,
			QUICWon:       st.H3.QUICWon,
			H3Broken:      len(brokenOrigins(st)),
		},
	}
	for _, s := range d.servers.list() {
		out.Served[s.scheme] = s.srv.Stats()
	}
	out.Served["demo-backend"] = d.backend.Stats()
	return out
}
