package compress_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/wirespeed/wirespeed/compress"
)

func encodeAll(t testing.TB, enc string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch enc {
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "br":
		w := brotli.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "zstd":
		w, _ := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1))
		w.Write(data)
		w.Close()
	}
	return b.Bytes()
}

func TestFileServer(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	js := apiJSON(8 << 10) // JSON text, served as JavaScript
	css := apiJSON(4 << 10)
	weird := apiJSON(3 << 10)
	png := make([]byte, 4096)
	rand.Read(png)
	brJS, gzJS := encodeAll(t, "br", js), encodeAll(t, "gzip", js)
	fsys := fstest.MapFS{
		"app.js":              {Data: js, ModTime: now},
		"app.js.br":           {Data: brJS, ModTime: now},
		"app.js.gz":           {Data: gzJS, ModTime: now},
		"style.css":           {Data: css, ModTime: now},
		"style.css.zst":       {Data: encodeAll(t, "zstd", css), ModTime: now.Add(-time.Hour)}, // stale
		"data.weird":          {Data: weird, ModTime: now},
		"data.weird.zst":      {Data: encodeAll(t, "zstd", weird), ModTime: now},
		"logo.png":            {Data: png, ModTime: now},
		"docs/index.html":     {Data: append([]byte("<!doctype html>"), js...), ModTime: now},
		"docs/index.html.br":  {Data: encodeAll(t, "br", append([]byte("<!doctype html>"), js...)), ModTime: now},
		"small.txt":           {Data: []byte("hello"), ModTime: now},
		"empty-dir/.keep.txt": {Data: nil, ModTime: now},
	}
	fsrv, err := compress.FileServer(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	etagOf := map[string]string{} // path+ae → ETag, filled by the first pass

	for _, tc := range []struct {
		name, path, ae string
		method         string
		header         []string
		wantStatus     int
		wantCE         string
		wantType       string
		wantBody       []byte // decoded; nil skips
		wantRaw        []byte // as sent; nil skips
		wantLocation   string
		weakETag       bool
	}{
		{name: "brotli sidecar", path: "/app.js", ae: "gzip, deflate, br, zstd", wantStatus: 200, wantCE: "br",
			wantType: "text/javascript; charset=utf-8", wantBody: js, wantRaw: brJS},
		{name: "gzip sidecar", path: "/app.js", ae: "gzip", wantStatus: 200, wantCE: "gzip", wantType: "text/javascript; charset=utf-8", wantRaw: gzJS},
		{name: "q-values pick the sidecar", path: "/app.js", ae: "br;q=0.5, gzip", wantStatus: 200, wantCE: "gzip", wantRaw: gzJS},
		{name: "no zstd sidecar: on the fly", path: "/app.js", ae: "zstd", wantStatus: 200, wantCE: "zstd", wantBody: js, weakETag: true},
		{name: "identity", path: "/app.js", ae: "identity", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantRaw: js},
		{name: "stale sidecar ignored", path: "/style.css", ae: "zstd", wantStatus: 200, wantCE: "zstd", wantBody: css, weakETag: true},
		{name: "type from the original's content", path: "/data.weird", ae: "zstd", wantStatus: 200, wantCE: "zstd",
			wantType: "text/plain; charset=utf-8", wantBody: weird},
		{name: "image never compressed", path: "/logo.png", ae: "gzip, br, zstd", wantStatus: 200, wantType: "image/png", wantRaw: png},
		{name: "small file", path: "/small.txt", ae: "gzip", wantStatus: 200, wantRaw: []byte("hello")},
		{name: "range on identity", path: "/app.js", ae: "identity", header: []string{"Range", "bytes=0-9"},
			wantStatus: http.StatusPartialContent, wantRaw: js[:10]},
		{name: "range with compression accepted", path: "/style.css", ae: "gzip", header: []string{"Range", "bytes=10-19"},
			wantStatus: http.StatusPartialContent, wantRaw: css[10:20]},
		{name: "index.html", path: "/docs/", ae: "br", wantStatus: 200, wantCE: "br", wantType: "text/html; charset=utf-8"},
		{name: "directory redirect", path: "/docs", ae: "br", wantStatus: http.StatusMovedPermanently, wantLocation: "docs/"},
		{name: "no listing", path: "/empty-dir/", ae: "gzip", wantStatus: http.StatusNotFound},
		{name: "missing", path: "/nope.js", ae: "gzip", wantStatus: http.StatusNotFound},
		{name: "dot-dot stays inside", path: "/../app.js", ae: "identity", wantStatus: 200, wantRaw: js},
		{name: "method", path: "/app.js", ae: "gzip", method: http.MethodPost, wantStatus: http.StatusMethodNotAllowed},
		{name: "HEAD", path: "/app.js", ae: "br", method: http.MethodHead, wantStatus: 200, wantCE: "br", wantRaw: []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := get(tc.path, tc.ae)
			if tc.method != "" {
				req.Method = tc.method
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp := record(fsrv, req)
			body := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tc.wantStatus, body)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != tc.wantCE {
				t.Fatalf("Content-Encoding %q, want %q", ce, tc.wantCE)
			}
			if tc.wantType != "" && resp.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantLocation != "" && resp.Header.Get("Location") != tc.wantLocation {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), tc.wantLocation)
			}
			if tc.wantRaw != nil && !bytes.Equal(body, tc.wantRaw) {
				t.Fatalf("body: %d bytes, want %d", len(body), len(tc.wantRaw))
			}
			if tc.wantBody != nil && !bytes.Equal(decode(t, tc.wantCE, body), tc.wantBody) {
				t.Fatal("body does not decode to the file")
			}
			if resp.StatusCode != http.StatusOK || tc.method == http.MethodHead {
				return
			}
			if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("Vary %q", v)
			}
			etag := resp.Header.Get("Etag")
			if tc.weakETag != (len(etag) > 2 && etag[:2] == "W/") || etag == "" {
				t.Errorf("ETag %q, want weak=%v", etag, tc.weakETag)
			}
			etagOf[tc.path+"|"+tc.wantCE] = etag
			// Revalidation with the tag just received answers 304.
			req = get(tc.path, tc.ae)
			req.Header.Set("If-None-Match", etag)
			if resp := record(fsrv, req); resp.StatusCode != http.StatusNotModified || resp.Header.Get("Etag") != etag {
				t.Errorf("revalidation: %d with ETag %q, want 304 with %q", resp.StatusCode, resp.Header.Get("Etag"), etag)
			}
		})
	}
	// Each representation of app.js has its own tag.
	if tags := []string{etagOf["/app.js|br"], etagOf["/app.js|gzip"], etagOf["/app.js|zstd"], etagOf["/app.js|"]}; len(map[string]bool{
		tags[0]: true, tags[1]: true, tags[2]: true, tags[3]: true}) != 4 {
		t.Errorf("sidecar ETags not distinct: %v", etagOf)
	}
}

// TestFileServerDir serves what Precompress wrote into a real directory,
// and sees a rewritten original replace its stale sidecar.
func TestFileServerDir(t *testing.T) {
	dir := t.TempDir()
	page := append([]byte("<!doctype html>"), apiJSON(6<<10)...)
	if err := os.WriteFile(filepath.Join(dir, "page.html"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := compress.Precompress(context.Background(), dir, nil); err != nil {
		t.Fatal(err)
	}
	fsrv, err := compress.FileServer(os.DirFS(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := record(fsrv, get("/page.html", "br"))
	body := readAll(t, resp)
	if resp.Header.Get("Content-Encoding") != "br" || !bytes.Equal(decode(t, "br", body), page) {
		t.Fatalf("sidecar not served: %q", resp.Header.Get("Content-Encoding"))
	}
	tag := resp.Header.Get("Etag")
	if tag == "" || tag[0] != '"' {
		t.Fatalf("sidecar ETag %q, want a strong tag", tag)
	}

	// A newer original makes the sidecar stale: on the fly instead.
	page2 := append(page, "<p>changed</p>"...)
	if err := os.WriteFile(filepath.Join(dir, "page.html"), page2, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "page.html"), later, later); err != nil {
		t.Fatal(err)
	}
	resp = record(fsrv, get("/page.html", "br"))
	body = readAll(t, resp)
	if !bytes.Equal(decode(t, resp.Header.Get("Content-Encoding"), body), page2) {
		t.Fatal("stale sidecar served")
	}
	if resp.Header.Get("Etag") == tag {
		t.Fatal("ETag did not change with the content")
	}
}

func TestFileServerRejectsBadOptions(t *testing.T) {
	if _, err := compress.FileServer(fstest.MapFS{}, &compress.Options{GzipLevel: -1}); err == nil {
		t.Fatal("FileServer accepted GzipLevel -1")
	}
}
