package compress_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"

	"github.com/wirespeed/wirespeed/compress"
)

// A JSON API behind the middleware, asked for the codings a browser sends.
func ExampleMiddleware() {
	mw, err := compress.Middleware(nil) // zstd, br, gzip; 1 KiB minimum; text-like types
	if err != nil {
		log.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"items":[%s0]}`, strings.Repeat(`"wirespeed",`, 200))
	})
	srv := httptest.NewServer(mw(api))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	// DisableCompression keeps the client from asking for and decoding
	// gzip by itself, so the example shows what is on the wire.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	wire, _ := io.ReadAll(resp.Body)
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	body, _ := dec.DecodeAll(wire, nil)

	fmt.Println("Content-Encoding:", resp.Header.Get("Content-Encoding"))
	fmt.Println("Vary:", resp.Header.Get("Vary"))
	fmt.Printf("%d bytes decoded from fewer than %d on the wire\n", len(body), len(body)/10)
	// Output:
	// Content-Encoding: zstd
	// Vary: Accept-Encoding
	// 2413 bytes decoded from fewer than 241 on the wire
}

// Options tune the Compressor; keeping it gives its statistics.
func ExampleCompressor_Stats() {
	c, err := compress.New(&compress.Options{
		Encodings: []string{compress.Brotli, compress.Gzip}, // preference order
		MinSize:   512,                                      // bytes; negative: no minimum
	})
	if err != nil {
		log.Fatal(err)
	}
	h := c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("all work and no play ", 100))
	}))
	for _, ae := range []string{"gzip", "br", "gzip;q=0.5, br", "identity", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept-Encoding", ae)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	st := c.Stats()
	fmt.Printf("gzip %d, brotli %d, uncompressed %d (client accepts none: %d)\n",
		st.Gzip.Responses, st.Brotli.Responses, st.Identity.Responses, st.SkippedNotAccepted)
	fmt.Printf("brotli made the bodies more than %d times smaller\n", int(st.Brotli.Ratio())/10*10)
	// Output:
	// gzip 1, brotli 2, uncompressed 2 (client accepts none: 2)
	// brotli made the bodies more than 60 times smaller
}

// FileServer prefers a precompressed sidecar when the client accepts it.
func ExampleFileServer() {
	js := []byte(strings.Repeat("console.log('wirespeed');\n", 100))
	fsys := fstest.MapFS{
		"app.js":    {Data: js},
		"app.js.br": {Data: []byte("pretend these are brotli bytes")}, // written by Precompress in real life
	}
	files, err := compress.FileServer(fsys, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, ae := range []string{"br", "identity"} {
		req := httptest.NewRequest(http.MethodGet, "/app.js", nil)
		req.Header.Set("Accept-Encoding", ae)
		rec := httptest.NewRecorder()
		files.ServeHTTP(rec, req)
		fmt.Printf("%-8s → %q %s, %d bytes\n", ae, rec.Header().Get("Content-Encoding"),
			rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	// Output:
	// br       → "br" text/javascript; charset=utf-8, 30 bytes
	// identity → "" text/javascript; charset=utf-8, 2600 bytes
}

// Precompress writes the sidecars FileServer serves; go:generate runs it
// through compress/cmd/precompress.
func ExamplePrecompress() {
	dir, err := os.MkdirTemp("", "static")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	css := strings.Repeat("body { margin: 0 }\n", 200)
	os.WriteFile(filepath.Join(dir, "site.css"), []byte(css), 0o644)

	st, err := compress.Precompress(context.Background(), dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d file, %d sidecars written\n", st.Files, st.Written)
	names, _ := filepath.Glob(filepath.Join(dir, "site.css.*"))
	for _, n := range names {
		fmt.Println(filepath.Base(n))
	}
	// Output:
	// 1 file, 3 sidecars written
	// site.css.br
	// site.css.gz
	// site.css.zst
}
