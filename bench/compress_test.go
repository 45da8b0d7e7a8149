package bench

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/CAFxX/httpcompression"
	hcgzip "github.com/CAFxX/httpcompression/contrib/klauspost/gzip"
	hczstd "github.com/CAFxX/httpcompression/contrib/klauspost/zstd"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/wirespeed/wirespeed/compress"
)

// The compression comparison runs each middleware at the same level of the
// same encoder library, which are also wirespeed's and gzhttp's defaults:
// gzip level 5 through klauspost/compress, zstd at klauspost's
// SpeedFastest, brotli 5 (gzhttp has no brotli). httpcompression uses its
// klauspost contrib encoders: its default gzip is the standard library's,
// slower for reasons that are not the middleware's. Every middleware has
// MinSize 1024.

// middleware is one compared implementation, built for one coding.
type middleware struct {
	name string
	wrap func(tb testing.TB, enc string) func(http.Handler) http.Handler
}

var middlewares = []middleware{
	{"wirespeed", func(tb testing.TB, enc string) func(http.Handler) http.Handler {
		mw, err := compress.Middleware(&compress.Options{Encodings: []string{enc}, GzipLevel: 5, BrotliLevel: 5, ZstdLevel: 1})
		if err != nil {
			tb.Fatal(err)
		}
		return mw
	}},
	{"gzhttp", func(tb testing.TB, enc string) func(http.Handler) http.Handler {
		// gzhttp's option type is unexported, so no slice of options.
		var w func(http.Handler) http.HandlerFunc
		var err error
		switch enc {
		case "gzip":
			w, err = gzhttp.NewWrapper(gzhttp.MinSize(1024), gzhttp.CompressionLevel(5), gzhttp.EnableZstd(false))
		case "zstd":
			w, err = gzhttp.NewWrapper(gzhttp.MinSize(1024), gzhttp.EnableGzip(false), gzhttp.ZstdCompressionLevel(int(zstd.SpeedFastest)))
		default:
			return nil
		}
		if err != nil {
			tb.Fatal(err)
		}
		return func(h http.Handler) http.Handler { return w(h) }
	}},
	{"httpcompression", func(tb testing.TB, enc string) func(http.Handler) http.Handler {
		var opt httpcompression.Option
		switch enc {
		case "gzip":
			c, err := hcgzip.New(hcgzip.Options{Level: 5})
			if err != nil {
				tb.Fatal(err)
			}
			opt = httpcompression.GzipCompressor(c)
		case "br":
			opt = httpcompression.BrotliCompressionLevel(5)
		case "zstd":
			c, err := hczstd.New(zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
			if err != nil {
				tb.Fatal(err)
			}
			opt = httpcompression.ZstandardCompressor(c)
		}
		mw, err := httpcompression.Adapter(opt, httpcompression.MinSize(1024))
		if err != nil {
			tb.Fatal(err)
		}
		return mw
	}},
}

// compressJSON returns a JSON array of user records of exactly n bytes, the
// kind of body an API sends (the same generator as the compress package's
// benchmarks).
func compressJSON(n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	words := []string{"alpha", "beta", "gamma", "delta", "admin", "beta-tester", "eu-west", "us-east", "premium", "trial"}
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; ; i++ {
		rec := fmt.Sprintf(`{"id":%d,"name":"user-%d","email":"user%d@example.com","active":%t,"score":%.1f,"tags":["%s","%s"],"created":"2024-%02d-%02dT%02d:%02d:%02dZ"}`,
			1000+i, rng.IntN(100000), rng.IntN(100000), rng.IntN(2) == 0, rng.Float64()*100,
			words[rng.IntN(len(words))], words[rng.IntN(len(words))],
			1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))
		sep := 0
		if i > 0 {
			sep = 1
		}
		if b.Len()+sep+len(rec)+1 > n {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(rec)
	}
	for b.Len() < n-1 {
		b.WriteByte(' ')
	}
	b.WriteByte(']')
	return b.Bytes()
}

func jsonHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// discardWriter counts and drops the body, so the benchmarks measure the
// middleware and its encoder rather than a recorder.
type discardWriter struct {
	h http.Header
	n int64
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// serveBench runs h per iteration, reporting throughput of the
// uncompressed body and the compression ratio.
func serveBench(b *testing.B, h http.Handler, size int) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
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
	b.ReportMetric(float64(size)*float64(b.N)/float64(out), "ratio")
}

var compressSizes = []struct {
	name string
	n    int
}{{"2KiB", 2 << 10}, {"16KiB", 16 << 10}, {"128KiB", 128 << 10}}

func benchmarkCompress(b *testing.B, enc string) {
	for _, size := range compressSizes {
		body := compressJSON(size.n)
		for _, m := range middlewares {
			mw := m.wrap(b, enc)
			if mw == nil {
				continue
			}
			b.Run(size.name+"/"+m.name, func(b *testing.B) { serveBench(b, mw(jsonHandler(body)), size.n) })
		}
	}
}

func BenchmarkCompressGzip(b *testing.B)   { benchmarkCompress(b, "gzip") }
func BenchmarkCompressBrotli(b *testing.B) { benchmarkCompress(b, "br") }
func BenchmarkCompressZstd(b *testing.B)   { benchmarkCompress(b, "zstd") }

// BenchmarkCompressBelowMinSize is a 100-byte response, which no
// middleware compresses, next to the handler alone ("none"): the cost of
// the middleware itself. The handler-level figure has no I/O, so it
// magnifies that cost; BenchmarkCompressBelowMinSizeHTTP puts it in a real
// request over loopback.
func BenchmarkCompressBelowMinSize(b *testing.B) {
	body := compressJSON(100)
	b.Run("100B/none", func(b *testing.B) { serveBench(b, jsonHandler(body), len(body)) })
	for _, m := range middlewares {
		mw := m.wrap(b, "gzip")
		b.Run("100B/"+m.name, func(b *testing.B) { serveBench(b, mw(jsonHandler(body)), len(body)) })
	}
}

func BenchmarkCompressBelowMinSizeHTTP(b *testing.B) {
	body := compressJSON(100)
	run := func(b *testing.B, h http.Handler) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("100B/none", func(b *testing.B) { run(b, jsonHandler(body)) })
	for _, m := range middlewares {
		mw := m.wrap(b, "gzip")
		b.Run("100B/"+m.name, func(b *testing.B) { run(b, mw(jsonHandler(body))) })
	}
}

// TestCompressPeersRoundTrip checks that every compared middleware, for
// every coding it offers, sends a body that decodes to the original, so
// the benchmarks compare working configurations.
func TestCompressPeersRoundTrip(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		for _, size := range compressSizes {
			body := compressJSON(size.n)
			for _, m := range middlewares {
				mw := m.wrap(t, enc)
				if mw == nil {
					continue
				}
				t.Run(enc+"/"+size.name+"/"+m.name, func(t *testing.T) {
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
					rec := httptest.NewRecorder()
					mw(jsonHandler(body)).ServeHTTP(rec, req)
					if ce := rec.Header().Get("Content-Encoding"); ce != enc {
						t.Fatalf("Content-Encoding %q, want %q", ce, enc)
					}
					got, err := decodeBody(enc, rec.Body.Bytes())
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, body) {
						t.Fatalf("decoded %d bytes that differ from the %d sent", len(got), len(body))
					}
				})
			}
		}
	}
}

func decodeBody(enc string, b []byte) ([]byte, error) {
	switch enc {
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case "br":
		return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	case "zstd":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(b, nil)
	}
	return nil, fmt.Errorf("unknown coding %q", enc)
}
