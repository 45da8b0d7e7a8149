package compress_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/compress"
)

// conformanceVariant is one middleware configuration the conformance tests
// run real clients against, under the URL prefix /name/.
type conformanceVariant struct {
	name     string // URL prefix
	encoding string // the only coding enabled, so the client must decode it
	padding  int    // Options.RandomPadding
	autoSSE  bool   // the SSE handler relies on the event-stream auto-flush
}

var conformanceVariants = []conformanceVariant{
	{name: "gzip", encoding: compress.Gzip},
	{name: "br", encoding: compress.Brotli},
	{name: "zstd", encoding: compress.Zstd},
	{name: "gzip-padded", encoding: compress.Gzip, padding: 256},
	{name: "zstd-padded", encoding: compress.Zstd, padding: 256, autoSSE: true},
}

// conformanceApp serves, per variant, /name/data.json (json16 with a
// strong ETag, compared byte for byte as naive handlers do) and
// /name/events (three Server-Sent Events, each written only after the
// client acknowledged the previous one with a request to /ack). It reports
// the Content-Encoding of every response it finished on sent.
type conformanceApp struct {
	mux   *http.ServeMux
	acks  chan struct{}
	sent  chan string
	comps map[string]*compress.Compressor
}

func newConformanceApp(t *testing.T) *conformanceApp {
	a := &conformanceApp{
		mux:   http.NewServeMux(),
		acks:  make(chan struct{}),
		sent:  make(chan string, 64),
		comps: map[string]*compress.Compressor{},
	}
	page := mustNew(t, nil)
	a.mux.Handle("GET /{$}", page.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>compress conformance</title>"+strings.Repeat("<p>wirespeed</p>", 100))
	})))
	a.mux.HandleFunc("GET /favicon.ico", http.NotFound)
	a.mux.HandleFunc("POST /ack", func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.acks <- struct{}{}:
		case <-r.Context().Done():
		case <-time.After(safety):
			http.Error(w, "nobody waits for an ack", http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for _, v := range conformanceVariants {
		c := mustNew(t, &compress.Options{Encodings: []string{v.encoding}, RandomPadding: v.padding})
		a.comps[v.name] = c
		a.mux.Handle("GET /"+v.name+"/data.json", a.report(c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("Etag", `"data-v1"`)
			if r.Header.Get("If-None-Match") == `"data-v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write(json16)
		}))))
		a.mux.Handle("GET /"+v.name+"/events", a.report(c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-store")
			// A long retry keeps EventSource from reconnecting when the
			// stream ends, before the script closes it.
			io.WriteString(w, "retry: 60000\n")
			for i := range 3 {
				fmt.Fprintf(w, "id: %d\ndata: event %d of %s\n\n", i, i, v.name)
				if !v.autoSSE {
					w.(http.Flusher).Flush()
				}
				select {
				case <-a.acks:
				case <-r.Context().Done():
					return
				}
			}
		}))))
	}
	return a
}

func (a *conformanceApp) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// report sends the Content-Encoding h gave the response on a.sent once h
// returned.
func (a *conformanceApp) report(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		a.sent <- r.URL.Path + " " + w.Header().Get("Content-Encoding")
	})
}

// expectSent waits for the report of path and checks its coding.
func (a *conformanceApp) expectSent(t *testing.T, path, encoding string) {
	t.Helper()
	select {
	case got := <-a.sent:
		if want := path + " " + encoding; got != want {
			t.Errorf("server sent %q, want %q", got, want)
		}
	case <-time.After(safety):
		t.Fatalf("no response finished for %s", path)
	}
}
