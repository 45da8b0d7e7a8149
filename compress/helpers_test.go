package compress_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/wirespeed/wirespeed/compress"
)

// apiJSON returns a JSON array of user records of exactly n bytes (n ≥ 2),
// the same for the same n: the kind of body an API sends.
func apiJSON(n int) []byte {
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

// decode undoes the content coding enc ("" for none).
func decode(t testing.TB, enc string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip header: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unknown content coding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

// newReader returns a streaming decoder for enc reading from r.
func newReader(t testing.TB, enc string, r io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "":
		return r
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip header: %v", err)
		}
		return zr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	t.Fatalf("unknown content coding %q", enc)
	return nil
}

// mustNew is compress.New for options a test knows are valid.
func mustNew(t testing.TB, opts *compress.Options) *compress.Compressor {
	t.Helper()
	c, err := compress.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// record serves req through h with a ResponseRecorder.
func record(h http.Handler, req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// get builds a GET request with the given Accept-Encoding (none if "-").
func get(target, acceptEncoding string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if acceptEncoding != "-" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	return req
}

// readAll reads and closes a response body.
func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// quietServer starts an httptest server whose error log (handler panics)
// is discarded, closed at the end of the test.
func quietServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = discardLogger
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// rawClient is a client that leaves Accept-Encoding and the body alone.
func rawClient(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// discardLogger silences net/http's log of handler panics.
var discardLogger = log.New(io.Discard, "", 0)
