package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/compress"
	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/wt"
)

// demos are the setup functions of every demo, in page order. Each file of
// this package that adds a demo adds itself here.
var demos = []func(context.Context, *showcase) error{
	setupPool,
	setupCompress,
	setupBatch,
	setupHTTPX,
	setupPaginate,
	setupWS,
	setupSSE,
	setupPubsub,
	setupUpload,
	setupGRPCX,
	setupWT,
}

// demo is one primitive on the page. The page draws every demo the same
// way from these fields and from the JSON its Try links answer, so a new
// demo is one file and one line in demos, with no change to index.html:
//
//   - A Try link's JSON answer may carry "headline" (a [headline]) and
//     "chart" (a [chart]); the page shows them at the top of the demo and
//     the rest of the answer behind a toggle.
//   - Headline, when set, is polled with the statistics: a live headline
//     for demos without a one-shot measurement (ws, sse).
//   - Live names statistics the page charts over time.
type demo struct {
	Name     string           // key in /debug/stats, e.g. "pool"
	Title    string           // heading on the page
	Summary  string           // one sentence on what it shows
	Try      []link           // endpoints a visitor can open
	Measure  string           // Href of the Try link the page runs on load, for the headline; may be empty
	Stats    func() any       // live statistics, rendered as JSON (see tidy); may be nil
	Headline func() *headline // live headline, polled; may be nil
	Live     []liveSeries     // statistics charted over time; may be empty
	Close    func()           // releases what the demo holds; may be nil
}

// link is a Try entry. The page fetches it and shows its JSON answer in
// place; an answer that is an HTML page opens as a page instead.
type link struct{ Label, Href string }

// headline is one number with its units that proves a demo's technique,
// and a line that says what it measured and how much it varies.
type headline struct {
	Value  string `json:"value"`            // e.g. "50 lookups → 1 query"
	Detail string `json:"detail,omitempty"` // what was measured; spread or why it varies
}

// chart is what the page's SVG function draws. Kinds:
//
//   - "bars": one bar per point (X is the label, Y the value).
//   - "lines": one line per series over a numeric X.
//   - "dist": each series' Values as a strip of dots on a log axis, with
//     its median marked: a distribution of timings.
type chart struct {
	Kind   string `json:"kind"`
	Title  string `json:"title"`
	XLabel string `json:"x_label,omitempty"`
	Unit   string `json:"unit"` // of the values, e.g. "ms", "bytes"
	Log    bool   `json:"log,omitempty"`
	// Baseline marks the first bar as the result without the technique:
	// the page colours it apart and the smallest bar as the best.
	Baseline bool          `json:"baseline,omitempty"`
	Series   []chartSeries `json:"series"`
}

type chartSeries struct {
	Name   string       `json:"name"`
	Points []chartPoint `json:"points,omitempty"` // bars and lines
	Values []float64    `json:"values,omitempty"` // dist
}

type chartPoint struct {
	X any     `json:"x"` // a label (bars) or a number (lines)
	Y float64 `json:"y"`
}

// liveSeries is one statistic the page charts over time: Key is a
// top-level key of the demo's statistics; Rate charts its change per
// second instead of its value.
type liveSeries struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Rate  bool   `json:"rate,omitempty"`
}

// showcase is the registry the demos add themselves to.
type showcase struct {
	// cert is the development certificate of the demos' in-process
	// backends (and of the showcase itself unless -cert is given).
	cert *httpx.DevCert
	// certHash is the SHA-256 of the certificate the showcase serves, in
	// hex, shown on the page.
	certHash string
	// spki is the SHA-256 of the served certificate's public key for
	// Chromium's --ignore-certificate-errors-spki-list; empty when the
	// certificate is the user's (-cert), which browsers trust.
	spki    string
	mux     *http.ServeMux
	started time.Time
	// compressor compresses every response of the showcase; the compress
	// demo shows its statistics.
	compressor *compress.Compressor
	// servers are the showcase's own servers, registered by run, for
	// /readyz and the httpx demo's statistics.
	servers serverList
	// wt is the live-cursors demo's WebTransport server: run hands it the
	// HTTPS server's QUIC connections and registers it for every server's
	// drain.
	wt *wt.Server

	mu    sync.Mutex // protects demos
	demos []demo
}

func newShowcase(cert *httpx.DevCert) *showcase {
	sc := &showcase{cert: cert, certHash: cert.CertHashHex(), spki: cert.SPKIHash(), mux: http.NewServeMux(), started: time.Now(), compressor: &compress.Compressor{}}
	sc.mux.HandleFunc("GET /{$}", sc.index)
	sc.mux.HandleFunc("GET /debug/stats", sc.stats)
	sc.mux.HandleFunc("GET /favicon.ico", favicon)
	sc.mux.HandleFunc("GET /favicon.svg", favicon)
	return sc
}

// add registers a demo. Its routes are registered by the demo itself on
// sc.mux.
func (sc *showcase) add(d demo) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.demos = append(sc.demos, d)
}

// handler is what the servers serve: every route, through the compress
// middleware (see compress.go).
func (sc *showcase) handler() http.Handler { return sc.compressor.Handler(sc.mux) }

// close releases every demo, last added first.
func (sc *showcase) close() {
	sc.mu.Lock()
	ds := sc.demos
	sc.demos = nil
	sc.mu.Unlock()
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Close != nil {
			ds[i].Close()
		}
	}
}

//go:embed index.html
var indexHTML string

var indexTmpl = template.Must(template.New("index").Parse(indexHTML))

// faviconSVG is the page's icon, served for both names browsers ask for.
const faviconSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0b5cad"/><path d="M5 20h7l3-9 4 14 3-9h5" fill="none" stroke="#fff" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>`

func favicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write([]byte(faviconSVG))
}

// pageDemo is a demo as the page template sees it.
type pageDemo struct {
	demo
	LiveJSON string // Live, as JSON for a data attribute
}

func (sc *showcase) index(w http.ResponseWriter, r *http.Request) {
	sc.mu.Lock()
	ds := make([]pageDemo, len(sc.demos))
	for i, d := range sc.demos {
		ds[i].demo = d
		if len(d.Live) > 0 {
			b, _ := json.Marshal(d.Live)
			ds[i].LiveJSON = string(b)
		}
	}
	sc.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	indexTmpl.Execute(w, struct {
		Demos    []pageDemo
		Proto    string
		CertHash string
		SPKI     string
	}{ds, r.Proto, sc.certHash, sc.spki})
}

// statsResponse is the JSON document of /debug/stats. Every name in it is
// snake_case and every quantity carries its unit in its name (see tidy).
type statsResponse struct {
	UptimeSeconds float64              `json:"uptime_seconds"`
	Goroutines    int                  `json:"goroutines"`
	HeapBytes     uint64               `json:"heap_bytes"`
	Demos         map[string]any       `json:"demos"`
	Headlines     map[string]*headline `json:"headlines,omitempty"`
}

func (sc *showcase) stats(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	resp := statsResponse{
		UptimeSeconds: time.Since(sc.started).Seconds(),
		Goroutines:    runtime.NumGoroutine(),
		HeapBytes:     ms.HeapAlloc,
		Demos:         map[string]any{},
		Headlines:     map[string]*headline{},
	}
	sc.mu.Lock()
	for _, d := range sc.demos {
		if d.Stats != nil {
			resp.Demos[d.Name] = tidy(d.Stats())
		}
		if d.Headline != nil {
			if h := d.Headline(); h != nil {
				resp.Headlines[d.Name] = h
			}
		}
	}
	sc.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
