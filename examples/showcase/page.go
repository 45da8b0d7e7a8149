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
	"github.com/wirespeed/wirespeed/internal/devcert"
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
}

// demo is one primitive on the page.
type demo struct {
	Name    string     // key in /debug/stats, e.g. "pool"
	Title   string     // heading on the page
	Summary string     // one sentence on what it shows
	Try     []link     // endpoints a visitor can open
	Stats   func() any // live statistics, rendered as JSON; may be nil
	Close   func()     // releases what the demo holds; may be nil
}

type link struct{ Label, Href string }

// showcase is the registry the demos add themselves to.
type showcase struct {
	cert    *devcert.Cert
	mux     *http.ServeMux
	started time.Time
	// compressor compresses every response of the showcase; the compress
	// demo shows its statistics.
	compressor *compress.Compressor
	// servers are the showcase's own servers, registered by run, for
	// /readyz and the httpx demo's statistics.
	servers serverList

	mu    sync.Mutex // protects demos
	demos []demo
}

func newShowcase(cert *devcert.Cert) *showcase {
	sc := &showcase{cert: cert, mux: http.NewServeMux(), started: time.Now(), compressor: &compress.Compressor{}}
	sc.mux.HandleFunc("GET /{$}", sc.index)
	sc.mux.HandleFunc("GET /debug/stats", sc.stats)
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

func (sc *showcase) index(w http.ResponseWriter, r *http.Request) {
	sc.mu.Lock()
	ds := append([]demo(nil), sc.demos...)
	sc.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	indexTmpl.Execute(w, struct {
		Demos    []demo
		Proto    string
		CertHash string
	}{ds, r.Proto, sc.cert.HashHex()})
}

// statsResponse is the JSON document of /debug/stats.
type statsResponse struct {
	UptimeSeconds float64        `json:"uptime_seconds"`
	Goroutines    int            `json:"goroutines"`
	HeapBytes     uint64         `json:"heap_bytes"`
	Demos         map[string]any `json:"demos"`
}

func (sc *showcase) stats(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	resp := statsResponse{
		UptimeSeconds: time.Since(sc.started).Seconds(),
		Goroutines:    runtime.NumGoroutine(),
		HeapBytes:     ms.HeapAlloc,
		Demos:         map[string]any{},
	}
	sc.mu.Lock()
	for _, d := range sc.demos {
		if d.Stats != nil {
			resp.Demos[d.Name] = d.Stats()
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
