package compress_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wirespeed/wirespeed/compress"
)

// discardWriter is a ResponseWriter that counts and drops the body, so a
// benchmark measures the middleware and the encoder, not a recorder.
type discardWriter struct {
	h http.Header
	n int64
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// benchServe runs h once per iteration on req and reports throughput (of
// the uncompressed body) and the compression ratio.
func benchServe(b *testing.B, h http.Handler, req *http.Request, size int) {
	w := &discardWriter{h: http.Header{}}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var out int64
	for b.Loop() {
		clear(w.h)
		w.n = 0
		h.ServeHTTP(w, req)
		out += w.n
	}
	if out > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/float64(out), "ratio")
	}
}

func jsonHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// BenchmarkMiddleware compresses JSON API responses of three sizes with
// each coding at its default level.
func BenchmarkMiddleware(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"2KiB", 2 << 10}, {"16KiB", 16 << 10}, {"128KiB", 128 << 10}} {
		body := apiJSON(size.n)
		for _, enc := range []string{compress.Gzip, compress.Brotli, compress.Zstd} {
			b.Run(size.name+"/"+enc, func(b *testing.B) {
				c := mustNew(b, &compress.Options{Encodings: []string{enc}})
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
				benchServe(b, c.Handler(jsonHandler(body)), req, size.n)
			})
		}
	}
}

// BenchmarkBelowMinSize is the cost of the middleware on a response too
// small to compress, next to the handler alone.
func BenchmarkBelowMinSize(b *testing.B) {
	body := apiJSON(100)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	b.Run("none", func(b *testing.B) { benchServe(b, jsonHandler(body), req, len(body)) })
	b.Run("middleware", func(b *testing.B) { benchServe(b, mustNew(b, nil).Handler(jsonHandler(body)), req, len(body)) })
}

// BenchmarkLevels maps each coding's levels on JSON of two sizes, for the
// ratio-versus-CPU table in bench/README.md.
func BenchmarkLevels(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	for _, size := range []struct {
		name string
		n    int
	}{{"16KiB", 16 << 10}, {"128KiB", 128 << 10}} {
		body := apiJSON(size.n)
		for _, tc := range []struct {
			name string
			opt  compress.Options
			enc  string
		}{
			{"gzip-1", compress.Options{GzipLevel: 1}, compress.Gzip},
			{"gzip-5", compress.Options{GzipLevel: 5}, compress.Gzip},
			{"gzip-9", compress.Options{GzipLevel: 9}, compress.Gzip},
			{"br-3", compress.Options{BrotliLevel: 3}, compress.Brotli},
			{"br-4", compress.Options{BrotliLevel: 4}, compress.Brotli},
			{"br-5", compress.Options{BrotliLevel: 5}, compress.Brotli},
			{"br-6", compress.Options{BrotliLevel: 6}, compress.Brotli},
			{"zstd-1", compress.Options{ZstdLevel: 1}, compress.Zstd},
			{"zstd-3", compress.Options{ZstdLevel: 3}, compress.Zstd},
			{"zstd-7", compress.Options{ZstdLevel: 7}, compress.Zstd},
		} {
			b.Run(size.name+"/"+tc.name, func(b *testing.B) {
				opts := tc.opt
				opts.Encodings = []string{tc.enc}
				c := mustNew(b, &opts)
				benchServe(b, c.Handler(jsonHandler(body)), req, len(body))
			})
		}
	}
}

func BenchmarkNegotiate(b *testing.B) {
	lines := []string{"gzip, deflate, br, zstd"}
	b.ReportAllocs()
	for b.Loop() {
		compress.Negotiate(lines, compress.Zstd, compress.Brotli, compress.Gzip)
	}
}
