package upload_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
	"github.com/wirespeed/wirespeed/upload"
)

func TestOptionsRequest(t *testing.T) {
	e := newEnv(t, &upload.Options{MaxSize: 1000})
	r, _ := http.NewRequest("OPTIONS", e.srv.URL+"/files/", nil)
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := map[string]string{
		"Tus-Version":            "1.0.0",
		"Tus-Resumable":          "1.0.0",
		"Tus-Max-Size":           "1000",
		"Tus-Checksum-Algorithm": "sha1,md5,sha256",
		"Tus-Extension":          "creation,creation-with-upload,creation-defer-length,expiration,checksum,checksum-trailer,termination,concatenation",
	}
	if resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// TestProtocolErrors: every malformed request gets its 4xx and changes
// nothing that was committed.
func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, &upload.Options{MaxSize: 1 << 20})
	p := e.create(100)
	if r := e.patch(p, 0, []byte("0123456789")); r.StatusCode != 204 || r.Header.Get("Upload-Offset") != "10" {
		t.Fatalf("first chunk: %d %q", r.StatusCode, r.Header.Get("Upload-Offset"))
	}
	final := func() string {
		a := e.create(1, "Upload-Concat: partial")
		e.patch(a, 0, []byte("x"))
		resp, _ := e.req("POST", "/files/", nil, "Upload-Concat: final;"+a)
		return resp.Header.Get("Location")
	}()
	long := strings.Repeat("k", 5000)
	cases := []struct {
		name, method, path string
		body               []byte
		headers            []string
		status             int
	}{
		{"no Tus-Resumable", "PATCH", p, []byte("a"), []string{"Tus-Resumable: ", "Content-Type: application/offset+octet-stream", "Upload-Offset: 10"}, 412},
		{"wrong Tus-Resumable", "HEAD", p, nil, []string{"Tus-Resumable: 0.2.2"}, 412},
		{"wrong content type", "PATCH", p, []byte("a"), []string{"Content-Type: text/plain", "Upload-Offset: 10"}, 415},
		{"no offset", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream"}, 400},
		{"negative offset", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: -1"}, 400},
		{"huge offset", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 99999999999999999999999"}, 400},
		{"offset behind", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 5"}, 409},
		{"offset ahead", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 11"}, 409},
		{"body past length", "PATCH", p, bytes.Repeat([]byte("a"), 91), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 10"}, 413},
		{"unknown upload", "HEAD", "/files/0123456789abcdef0123456789abcdef", nil, nil, 404},
		{"traversal", "HEAD", "/files/..%2f..%2fetc%2fpasswd", nil, nil, 404},
		{"bad id", "PATCH", "/files/ZZZ", []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 0"}, 404},
		{"no length", "POST", "/files/", nil, nil, 400},
		{"negative length", "POST", "/files/", nil, []string{"Upload-Length: -5"}, 400},
		{"both lengths", "POST", "/files/", nil, []string{"Upload-Length: 5", "Upload-Defer-Length: 1"}, 400},
		{"defer length 2", "POST", "/files/", nil, []string{"Upload-Defer-Length: 2"}, 400},
		{"too large", "POST", "/files/", nil, []string{"Upload-Length: 1048577"}, 413},
		{"garbage metadata", "POST", "/files/", nil, []string{"Upload-Length: 5", "Upload-Metadata: name !!!"}, 400},
		{"duplicate metadata", "POST", "/files/", nil, []string{"Upload-Length: 5", "Upload-Metadata: a " + b64("x") + ",a " + b64("y")}, 400},
		{"metadata too long", "POST", "/files/", nil, []string{"Upload-Length: 5", "Upload-Metadata: " + long}, 400},
		{"bad concat", "POST", "/files/", nil, []string{"Upload-Length: 5", "Upload-Concat: whole"}, 400},
		{"final of unknown", "POST", "/files/", nil, []string{"Upload-Concat: final;/files/0123456789abcdef0123456789abcdef"}, 404},
		{"final of non-partial", "POST", "/files/", nil, []string{"Upload-Concat: final;" + p}, 400},
		{"final with length", "POST", "/files/", nil, []string{"Upload-Concat: final;" + p, "Upload-Length: 3"}, 400},
		{"final elsewhere", "POST", "/files/", nil, []string{"Upload-Concat: final;http://evil.example/x/y"}, 400},
		{"patch final", "PATCH", final, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 1"}, 403},
		{"unknown algorithm", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 10", "Upload-Checksum: crc32 AAAAAA=="}, 400},
		{"malformed checksum", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 10", "Upload-Checksum: sha256 !!"}, 400},
		{"checksum mismatch", "PATCH", p, []byte("a"), []string{"Content-Type: application/offset+octet-stream", "Upload-Offset: 10", "Upload-Checksum: " + sum("sha256", []byte("b"))}, 460},
		{"GET without Download", "GET", p, nil, nil, 405},
		{"PUT", "PUT", p, nil, nil, 405},
		{"GET collection", "GET", "/files/", nil, nil, 405},
		{"nested path", "HEAD", p + "/x", nil, nil, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.req(c.method, c.path, c.body, c.headers...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, strings.TrimSpace(body), c.status)
			}
			if c.status == 412 && resp.Header.Get("Tus-Version") != "1.0.0" {
				t.Errorf("412 without Tus-Version")
			}
			if got := e.offset(p); got != 10 {
				t.Fatalf("offset after %s = %d, want 10", c.name, got)
			}
		})
	}
	if got := e.h.Stats().ChecksumFailures; got != 1 {
		t.Errorf("ChecksumFailures = %d, want 1", got)
	}
	// Nothing was written outside the store.
	ents, _ := os.ReadDir(path.Dir(e.store.Dir()))
	if len(ents) != 1 {
		t.Errorf("store's parent holds %d entries", len(ents))
	}
}

// TestUploadLifecycle: creation, chunks, HEAD, metadata, completion,
// PostFinish, termination.
func TestUploadLifecycle(t *testing.T) {
	var mu sync.Mutex
	var finished []upload.Info
	e := newEnv(t, &upload.Options{PostFinish: func(r *http.Request, info upload.Info) {
		mu.Lock()
		finished = append(finished, info)
		mu.Unlock()
	}})
	data := randBytes(3000)
	p := e.create(len(data), "Upload-Metadata: filename "+b64("a b.txt")+",empty")
	resp, _ := e.req("HEAD", p, nil)
	if resp.Header.Get("Upload-Length") != "3000" || resp.Header.Get("Upload-Offset") != "0" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("HEAD headers %v", resp.Header)
	}
	if got := resp.Header.Get("Upload-Metadata"); got != "empty ,filename "+b64("a b.txt") {
		t.Errorf("metadata %q", got)
	}
	if resp.Header.Get("Upload-Expires") == "" {
		t.Error("no Upload-Expires on an unfinished upload")
	}
	for off := 0; off < len(data); off += 1000 {
		r := e.patch(p, off, data[off:off+1000], "Upload-Checksum: "+sum("sha256", data[off:off+1000]))
		if r.StatusCode != 204 || r.Header.Get("Upload-Offset") != strconv.Itoa(off+1000) {
			t.Fatalf("PATCH at %d: %d %s", off, r.StatusCode, r.Header.Get("Upload-Offset"))
		}
	}
	if r := e.patch(p, 3000, nil); r.StatusCode != 204 {
		t.Fatalf("empty PATCH on a complete upload: %d", r.StatusCode)
	}
	if r := e.patch(p, 3000, []byte("x")); r.StatusCode != 413 {
		t.Fatalf("PATCH past the end of a complete upload: %d", r.StatusCode)
	}
	id := path.Base(p)
	dp, _ := e.store.DataPath(id)
	got, err := os.ReadFile(dp)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored file differs (%v)", err)
	}
	mu.Lock()
	if len(finished) != 1 || finished[0].ID != id || finished[0].Metadata["filename"] != "a b.txt" {
		t.Fatalf("PostFinish saw %+v", finished)
	}
	mu.Unlock()
	if resp, _ := e.req("DELETE", p, nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if resp, _ := e.req("HEAD", p, nil); resp.StatusCode != 410 && resp.StatusCode != 404 {
		t.Fatalf("HEAD after DELETE: %d", resp.StatusCode)
	}
	if _, err := os.Stat(dp); !os.IsNotExist(err) {
		t.Fatalf("file still there after DELETE: %v", err)
	}
	st := e.h.Stats()
	if st.Created != 1 || st.Completed != 1 || st.BytesReceived != 3000 || st.Terminated != 1 || st.Active != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestChecksumAlgorithms(t *testing.T) {
	e := newEnv(t, nil)
	data := []byte("hello, tus")
	s1 := sha1.Sum(data)
	m5 := md5.Sum(data)
	for _, h := range []string{
		"sha1 " + base64.StdEncoding.EncodeToString(s1[:]),
		"md5 " + base64.StdEncoding.EncodeToString(m5[:]),
		sum("sha256", data),
	} {
		p := e.create(len(data))
		if r := e.patch(p, 0, data, "Upload-Checksum: "+h); r.StatusCode != 204 {
			t.Errorf("%s: %d", h, r.StatusCode)
		}
	}
}

// TestChecksumTrailer: the checksum sent as a trailer after a chunked body
// is checked; a wrong one discards the chunk.
func TestChecksumTrailer(t *testing.T) {
	e := newEnv(t, nil)
	data := randBytes(100000)
	for _, c := range []struct {
		name, trailer string
		status, off   int
	}{
		{"mismatch", sum("sha256", []byte("other")), 460, 0},
		{"unknown algorithm", "crc32 AAAA", 400, 0},
		{"missing", "", 400, 0},
		{"match", sum("sha256", data), 204, len(data)},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.create(len(data))
			r, _ := http.NewRequest("PATCH", e.srv.URL+p, struct{ *bytes.Reader }{bytes.NewReader(data)})
			r.ContentLength = -1
			r.Header.Set("Tus-Resumable", "1.0.0")
			r.Header.Set("Content-Type", "application/offset+octet-stream")
			r.Header.Set("Upload-Offset", "0")
			r.Trailer = http.Header{"Upload-Checksum": nil}
			if c.trailer != "" {
				// Go sends r.Trailer's values once the body is read.
				r.Body = &trailerBody{r.Body, r, c.trailer}
			}
			resp, err := e.srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status || e.offset(p) != c.off {
				t.Fatalf("status %d offset %d, want %d %d", resp.StatusCode, e.offset(p), c.status, c.off)
			}
		})
	}
}

type trailerBody struct {
	r   interface{ Read([]byte) (int, error) }
	req *http.Request
	v   string
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil {
		b.req.Trailer.Set("Upload-Checksum", b.v)
	}
	return n, err
}
func (b *trailerBody) Close() error { return nil }

func TestCreationWithUploadAndDeferLength(t *testing.T) {
	e := newEnv(t, &upload.Options{MaxSize: 100})
	resp, body := e.req("POST", "/files/", []byte("abc"), "Upload-Length: 5", "Content-Type: application/offset+octet-stream")
	if resp.StatusCode != 201 || resp.Header.Get("Upload-Offset") != "3" {
		t.Fatalf("creation-with-upload: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-Offset"), body)
	}
	// Deferred length: chunks, then the length with the last chunk.
	resp, _ = e.req("POST", "/files/", nil, "Upload-Defer-Length: 1")
	p := resp.Header.Get("Location")
	if h, _ := e.req("HEAD", p, nil); h.Header.Get("Upload-Defer-Length") != "1" {
		t.Fatalf("HEAD of deferred upload: %v", h.Header)
	}
	if r := e.patch(p, 0, []byte("12345")); r.StatusCode != 204 {
		t.Fatalf("deferred PATCH: %d", r.StatusCode)
	}
	if r := e.patch(p, 5, bytes.Repeat([]byte("x"), 96)); r.StatusCode != 413 {
		t.Fatalf("deferred upload past MaxSize: %d", r.StatusCode)
	}
	if r := e.patch(p, 5, []byte("6"), "Upload-Length: 4"); r.StatusCode != 400 {
		t.Fatalf("length below offset: %d", r.StatusCode)
	}
	if r := e.patch(p, 5, []byte("67"), "Upload-Length: 7"); r.StatusCode != 204 || r.Header.Get("Upload-Offset") != "7" {
		t.Fatalf("final deferred PATCH: %d", r.StatusCode)
	}
	if r := e.patch(p, 7, []byte("8"), "Upload-Length: 8"); r.StatusCode != 400 {
		t.Fatalf("second length: %d", r.StatusCode)
	}
	if e.h.Stats().Completed != 1 {
		t.Errorf("stats %+v", e.h.Stats())
	}
}

func TestConcatenation(t *testing.T) {
	e := newEnv(t, &upload.Options{Download: func(*http.Request, upload.Info) error { return nil }})
	parts := []string{"first,", "second,", "third"}
	var urls []string
	for _, s := range parts {
		p := e.create(len(s), "Upload-Concat: partial")
		if r := e.patch(p, 0, []byte(s)); r.StatusCode != 204 {
			t.Fatal(r.StatusCode)
		}
		urls = append(urls, e.srv.URL+p) // absolute URLs are accepted too
	}
	unfinished := e.create(5, "Upload-Concat: partial")
	if r, _ := e.req("POST", "/files/", nil, "Upload-Concat: final;"+urls[0]+" "+unfinished); r.StatusCode != 400 {
		t.Fatalf("final with unfinished part: %d", r.StatusCode)
	}
	resp, _ := e.req("POST", "/files/", nil, "Upload-Concat: final;"+strings.Join(urls, " "))
	if resp.StatusCode != 201 {
		t.Fatal(resp.StatusCode)
	}
	f := resp.Header.Get("Location")
	h, _ := e.req("HEAD", f, nil)
	if h.Header.Get("Upload-Length") != "18" || h.Header.Get("Upload-Offset") != "18" || !strings.HasPrefix(h.Header.Get("Upload-Concat"), "final;/files/") {
		t.Fatalf("HEAD final: %v", h.Header)
	}
	_, body := e.req("GET", f, nil)
	if body != "first,second,third" {
		t.Fatalf("final upload holds %q", body)
	}
}

func TestMethodOverride(t *testing.T) {
	e := newEnv(t, nil)
	p := e.create(3)
	resp, _ := e.req("POST", p, []byte("abc"), "X-HTTP-Method-Override: PATCH", "Content-Type: application/offset+octet-stream", "Upload-Offset: 0")
	if resp.StatusCode != 204 || e.offset(p) != 3 {
		t.Fatalf("override PATCH: %d", resp.StatusCode)
	}
	if resp, _ := e.req("POST", p, nil, "X-HTTP-Method-Override: DELETE"); resp.StatusCode != 204 {
		t.Fatalf("override DELETE: %d", resp.StatusCode)
	}
}

func TestHooks(t *testing.T) {
	e := newEnv(t, &upload.Options{
		PreCreate: func(r *http.Request, info upload.Info) error {
			switch r.Header.Get("Authorization") {
			case "":
				return &upload.HookError{Status: 401, Message: "log in first"}
			case "panic":
				panic("boom")
			case "goexit":
				runtime.Goexit()
			case "plain":
				return errors.New("secret detail")
			}
			if info.Metadata["filename"] == "" {
				return &upload.HookError{Status: 422, Message: "filename required"}
			}
			return nil
		},
		PostFinish: func(r *http.Request, info upload.Info) { panic("finish") },
	})
	fn := "Upload-Metadata: filename " + b64("x")
	for _, c := range []struct {
		auth, meta string
		status     int
		body       string
	}{
		{"", fn, 401, "log in first"},
		{"panic", fn, 500, "internal error"},
		{"goexit", fn, 500, "internal error"},
		{"plain", fn, 403, "rejected"},
		{"ok", "", 422, "filename required"},
		{"ok", fn, 201, ""},
	} {
		resp, body := e.req("POST", "/files/", nil, "Upload-Length: 1", "Authorization: "+c.auth, c.meta)
		if resp.StatusCode != c.status || strings.TrimSpace(body) != c.body {
			t.Errorf("auth %q: %d %q, want %d %q", c.auth, resp.StatusCode, body, c.status, c.body)
		}
		if resp.StatusCode == 201 {
			// The finish hook panics: recovered and counted; the upload is
			// complete anyway.
			if r := e.patch(resp.Header.Get("Location"), 0, []byte("z")); r.StatusCode != 204 {
				t.Errorf("PATCH with panicking PostFinish: %d", r.StatusCode)
			}
		}
	}
	if got := e.h.Stats().HookPanics; got != 3 {
		t.Errorf("HookPanics = %d, want 3", got)
	}
	if _, err := upload.NewHandler(e.store, nil); !errors.Is(err, upload.ErrNoPreCreate) {
		t.Errorf("nil options: %v, want ErrNoPreCreate", err)
	}
}

func TestExpiration(t *testing.T) {
	e := newEnv(t, &upload.Options{Expiration: 50 * time.Millisecond, SweepInterval: -1})
	a := e.create(10)
	b := e.create(10)
	done := e.create(1)
	e.patch(done, 0, []byte("x"))
	time.Sleep(100 * time.Millisecond)
	if resp, _ := e.req("HEAD", a, nil); resp.StatusCode != 410 {
		t.Fatalf("HEAD of expired upload: %d", resp.StatusCode)
	}
	if n, err := e.h.Sweep(t.Context()); n != 1 || err != nil {
		t.Fatalf("Sweep removed %d, want 1 (b)", n)
	}
	if resp, _ := e.req("PATCH", b, []byte("x"), "Content-Type: application/offset+octet-stream", "Upload-Offset: 0"); resp.StatusCode != 410 {
		t.Fatalf("PATCH of swept upload: %d", resp.StatusCode)
	}
	if e.offset(done) != 1 {
		t.Fatal("complete upload expired")
	}
	if got := e.h.Stats().Expired; got != 2 {
		t.Errorf("Expired = %d", got)
	}
	ids, _ := e.store.ListUploads(t.Context())
	if len(ids) != 1 {
		t.Errorf("store holds %d uploads, want 1", len(ids))
	}
}

func TestSweeperRuns(t *testing.T) {
	e := newEnv(t, &upload.Options{Expiration: time.Hour, SweepInterval: 5 * time.Millisecond})
	e.create(10) // not expired: kept
	if _, err := e.store.NewUpload(t.Context(), upload.Info{Size: 10, Expires: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.h.Stats().Expired != 1 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper never removed the expired upload")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, &upload.Options{CORSOrigins: []string{"https://app.example"}})
	r, _ := http.NewRequest("OPTIONS", e.srv.URL+"/files/", nil)
	r.Header.Set("Origin", "https://app.example")
	r.Header.Set("Access-Control-Request-Method", "PATCH")
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Upload-Offset") {
		t.Fatalf("preflight headers %v", resp.Header)
	}
	resp, _ = e.req("POST", "/files/", nil, "Upload-Length: 1", "Origin: https://app.example")
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Fatalf("expose headers %q", resp.Header.Get("Access-Control-Expose-Headers"))
	}
	resp, _ = e.req("POST", "/files/", nil, "Upload-Length: 1", "Origin: https://evil.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin allowed")
	}
}

// TestChunkedBodyPastLength: a body without Content-Length that runs past
// Upload-Length is refused with 413 and none of it is kept.
func TestChunkedBodyPastLength(t *testing.T) {
	e := newEnv(t, nil)
	p := e.create(100)
	e.patch(p, 0, make([]byte, 10))
	r, _ := http.NewRequest("PATCH", e.srv.URL+p, struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 91))})
	r.ContentLength = -1
	r.Header.Set("Tus-Resumable", "1.0.0")
	r.Header.Set("Content-Type", "application/offset+octet-stream")
	r.Header.Set("Upload-Offset", "10")
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 || e.offset(p) != 10 {
		t.Fatalf("status %d offset %d, want 413 10", resp.StatusCode, e.offset(p))
	}
}

// TestSweeperSwitch: a negative SweepInterval or Expiration starts no
// sweeper goroutine; the default starts one, which Close stops.
func TestSweeperSwitch(t *testing.T) {
	store, err := upload.NewDiskStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	before := leakcheck.Snapshot()
	for _, o := range []upload.Options{{Public: true, SweepInterval: -1}, {Public: true, Expiration: -1}} {
		h, err := upload.NewHandler(store, &o)
		if err != nil {
			t.Fatal(err)
		}
		if err := leakcheck.Find(before); err != nil {
			t.Fatalf("%+v started a goroutine: %v", o, err)
		}
		h.Close()
	}
	h, err := upload.NewHandler(store, &upload.Options{Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if leakcheck.Find(before) == nil {
		t.Fatal("no sweeper with the defaults")
	}
	h.Close()
	if err := leakcheck.Find(before); err != nil {
		t.Fatalf("Close left the sweeper running: %v", err)
	}
}
