package upload_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/upload"
)

type env struct {
	t     *testing.T
	store *upload.DiskStore
	h     *upload.Handler
	srv   *httptest.Server
}

func newEnv(t *testing.T, o *upload.Options) *env {
	t.Helper()
	store, err := upload.NewDiskStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if o == nil {
		o = &upload.Options{}
	}
	if o.PreCreate == nil {
		o.Public = true
	}
	h, err := upload.NewHandler(store, o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/files/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return &env{t: t, store: store, h: h, srv: srv}
}

// req sends a request with the Tus-Resumable header and the given headers
// ("Name: value" strings) and returns the response with its body read.
func (e *env) req(method, path string, body []byte, headers ...string) (*http.Response, string) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Tus-Resumable", "1.0.0")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		if v == "" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// create makes an upload of size bytes and returns its path.
func (e *env) create(size int, headers ...string) string {
	e.t.Helper()
	resp, body := e.req("POST", "/files/", nil, append([]string{"Upload-Length: " + strconv.Itoa(size)}, headers...)...)
	if resp.StatusCode != 201 {
		e.t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

func (e *env) patch(path string, off int, chunk []byte, headers ...string) *http.Response {
	e.t.Helper()
	resp, _ := e.req("PATCH", path, chunk, append([]string{"Content-Type: application/offset+octet-stream", "Upload-Offset: " + strconv.Itoa(off)}, headers...)...)
	return resp
}

func (e *env) offset(path string) int {
	e.t.Helper()
	resp, _ := e.req("HEAD", path, nil)
	if resp.StatusCode != 200 {
		e.t.Fatalf("HEAD %s: %d", path, resp.StatusCode)
	}
	n, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if err != nil {
		e.t.Fatalf("HEAD %s: Upload-Offset %q", path, resp.Header.Get("Upload-Offset"))
	}
	return n
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func sum(algo string, b []byte) string {
	if algo != "sha256" {
		panic(algo)
	}
	s := sha256.Sum256(b)
	return "sha256 " + base64.StdEncoding.EncodeToString(s[:])
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
