package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/wirespeed/wirespeed/compress"
)

// The compress demo. Every response of the showcase, the page and every
// demo's API, goes through sc.compressor (see showcase.handler), so its
// statistics are the bytes the page itself saved; /compress/compare runs
// one JSON payload through each coding in process and shows the bytes
// before and after, and the CPU each took.

// compressDemo holds one Compressor per coding, for the comparison.
type compressDemo struct {
	single map[string]*compress.Compressor
}

// compressCodings are the codings compared, in the middleware's default
// order of preference.
var compressCodings = []string{compress.Zstd, compress.Brotli, compress.Gzip}

func setupCompress(_ context.Context, sc *showcase) error {
	d := &compressDemo{single: map[string]*compress.Compressor{}}
	for _, enc := range compressCodings {
		c, err := compress.New(&compress.Options{Encodings: []string{enc}})
		if err != nil {
			return fmt.Errorf("compress demo: %w", err)
		}
		d.single[enc] = c
	}
	sc.mux.HandleFunc("GET /compress/compare", d.compare)
	sc.mux.HandleFunc("GET /compress/payload", d.payload)
	sc.add(demo{
		Name:  "compress",
		Title: "response compression",
		Summary: "Every response of this page goes through the compress middleware, which picks zstd, brotli or gzip from your browser's Accept-Encoding; " +
			"the statistics are this page's own bytes before and after. Compare runs one JSON payload through each coding.",
		Try: []link{
			{Label: "bytes per coding (150 users)", Href: "/compress/compare?users=150"},
			{Label: "bytes per coding (2000 users)", Href: "/compress/compare?users=2000"},
			{Label: "the payload, compressed for your browser", Href: "/compress/payload?users=20"},
		},
		Measure: "/compress/compare?users=150",
		Stats:   func() any { return compressStats(sc.compressor) },
	})
	return nil
}

// codingStats is one line of the demo's statistics.
type codingStats struct {
	Responses   int64   `json:"responses"`
	BytesBefore int64   `json:"bytes_before"`
	BytesAfter  int64   `json:"bytes_after"`
	Ratio       float64 `json:"ratio"`
}

func newCodingStats(s compress.EncodingStats) codingStats {
	return codingStats{s.Responses, s.BytesIn, s.BytesOut, round2(s.Ratio())}
}

// compressStats reports the page's own traffic per coding.
func compressStats(c *compress.Compressor) any {
	st := c.Stats()
	return struct {
		Zstd         codingStats `json:"zstd"`
		Brotli       codingStats `json:"br"`
		Gzip         codingStats `json:"gzip"`
		Uncompressed codingStats `json:"uncompressed"`
		SkippedSmall int64       `json:"skipped_below_min_size"`
		SkippedType  int64       `json:"skipped_content_type"`
		NotAccepted  int64       `json:"client_accepts_none"`
	}{
		newCodingStats(st.Zstd), newCodingStats(st.Brotli), newCodingStats(st.Gzip), newCodingStats(st.Identity),
		st.SkippedSmall, st.SkippedType, st.SkippedNotAccepted,
	}
}

// compareResult is one coding's line in /compress/compare.
type compareResult struct {
	Encoding string  `json:"encoding"`
	Bytes    int64   `json:"bytes"`
	Ratio    float64 `json:"ratio"`
	Saved    float64 `json:"saved_percent"`
	CPU      float64 `json:"cpu_ms_per_response"`
}

// compare compresses the payload with each coding, as the middleware would
// for a client that accepts only that coding, and reports the sizes and
// the mean CPU time of a few runs.
func (d *compressDemo) compare(w http.ResponseWriter, r *http.Request) {
	body, err := payloadFor(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	const runs = 10
	handler := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
	results := []compareResult{{Encoding: "identity", Bytes: int64(len(body)), Ratio: 1}}
	for _, enc := range compressCodings {
		h := d.single[enc].Handler(http.HandlerFunc(handler))
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/compress/payload", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header.Set("Accept-Encoding", enc)
		cw := countingWriter{h: http.Header{}}
		h.ServeHTTP(&cw, req) // warm the encoder pool
		start := time.Now()
		for range runs {
			cw = countingWriter{h: http.Header{}}
			h.ServeHTTP(&cw, req)
		}
		elapsed := time.Since(start)
		results = append(results, compareResult{
			Encoding: enc,
			Bytes:    cw.n,
			Ratio:    round2(float64(len(body)) / float64(cw.n)),
			Saved:    round2(100 * (1 - float64(cw.n)/float64(len(body)))),
			CPU:      round3(ms(elapsed) / runs),
		})
	}
	best := results[1]
	bars := chartSeries{Name: "bytes"}
	for _, res := range results {
		if res.Bytes < best.Bytes {
			best = res
		}
		bars.Points = append(bars.Points, chartPoint{X: res.Encoding, Y: float64(res.Bytes)})
	}
	var cpu string
	for _, res := range results[1:] {
		cpu += fmt.Sprintf(", %s %s", res.Encoding, fmtMS(res.CPU))
	}
	writeJSON(w, http.StatusOK, struct {
		Headline     headline        `json:"headline"`
		Chart        chart           `json:"chart"`
		PayloadBytes int             `json:"payload_bytes"`
		Results      []compareResult `json:"results"`
		YourBrowser  string          `json:"your_accept_encoding"`
	}{
		Headline: headline{
			Value: fmt.Sprintf("bytes on the wire: %s %s vs %s identity", fmtBytes(best.Bytes), best.Encoding, fmtBytes(int64(len(body)))),
			Detail: fmt.Sprintf("One %s JSON list of users, %.0f× smaller with %s. CPU per response (mean of %d)%s. Sizes are exact and the same every run; CPU times vary with load.",
				fmtBytes(int64(len(body))), best.Ratio, best.Encoding, runs, cpu),
		},
		Chart:        chart{Kind: "bars", Baseline: true, Title: "response body size per coding", Unit: "bytes", Series: []chartSeries{bars}},
		PayloadBytes: len(body),
		Results:      results,
		YourBrowser:  r.Header.Get("Accept-Encoding"),
	})
}

// payload serves the JSON the comparison compresses; the page's
// middleware compresses it for the browser.
func (d *compressDemo) payload(w http.ResponseWriter, r *http.Request) {
	body, err := payloadFor(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// payloadFor builds the JSON list of ?users= users (1 to 5000, default
// 150), the same for the same count.
func payloadFor(r *http.Request) ([]byte, error) {
	n := 150
	if s := r.URL.Query().Get("users"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 5000 {
			return nil, fmt.Errorf("users must be an integer from 1 to 5000")
		}
		n = v
	}
	type user struct {
		ID      int      `json:"id"`
		Name    string   `json:"name"`
		Email   string   `json:"email"`
		Active  bool     `json:"active"`
		Roles   []string `json:"roles"`
		Created string   `json:"created"`
	}
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	roles := []string{"admin", "editor", "viewer", "billing", "support"}
	users := make([]user, n)
	for i := range users {
		users[i] = user{
			ID:      1000 + i,
			Name:    fmt.Sprintf("user-%05d", rng.IntN(100000)),
			Email:   fmt.Sprintf("user%05d@example.com", rng.IntN(100000)),
			Active:  rng.IntN(4) > 0,
			Roles:   []string{roles[rng.IntN(len(roles))]},
			Created: time.Date(2024, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.RFC3339),
		}
	}
	return json.Marshal(users)
}

// countingWriter is a ResponseWriter that only counts the body's bytes.
type countingWriter struct {
	h http.Header
	n int64
}

func (c *countingWriter) Header() http.Header         { return c.h }
func (c *countingWriter) WriteHeader(int)             {}
func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
