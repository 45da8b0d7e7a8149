package s3_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/wirespeed/wirespeed/upload"
	"github.com/wirespeed/wirespeed/upload/s3"
)

// recorder is the minio client's transport in the tests: it records the
// size of every part the store uploads (on the client side; the rules are
// the server's own).
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	// sizes by upload ID and part number
	sizes map[string]map[int]int64
}

func (p *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	if uid := q.Get("uploadId"); r.Method == "PUT" && uid != "" && q.Get("partNumber") != "" {
		n, _ := strconv.Atoi(q.Get("partNumber"))
		size := r.ContentLength
		if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
			size, _ = strconv.ParseInt(d, 10, 64)
		}
		p.mu.Lock()
		if p.sizes[uid] == nil {
			p.sizes[uid] = map[int]int64{}
		}
		p.sizes[uid][n] = size
		p.mu.Unlock()
	}
	return p.next.RoundTrip(r)
}

func (p *recorder) partSizes() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int64
	for _, m := range p.sizes {
		for i := 1; i <= len(m); i++ {
			out = append(out, m[i])
		}
	}
	return out
}

type s3env struct {
	gw     *gateway
	rec    *recorder
	client *minio.Client
	store  *s3.Store
}

// newS3 starts a versitygw with the bucket "uploads" and a store over it
// with 5 MiB parts.
func newS3(t *testing.T) *s3env {
	t.Helper()
	gw := startGateway(t)
	rec := &recorder{sizes: map[string]map[int]int64{}}
	client := gw.client(t, rec)
	if err := client.MakeBucket(t.Context(), "uploads", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	store, err := s3.New(client, &s3.Options{Bucket: "uploads", Prefix: "tus/", PartSize: s3.MinPartSize, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &s3env{gw: gw, rec: rec, client: client, store: store}
}

// TestServerEnforcesMinPartSize: the test server itself refuses what S3
// refuses (a non-final part under 5 MiB), so the store's tests below mean
// something.
func TestServerEnforcesMinPartSize(t *testing.T) {
	e := newS3(t)
	core := minio.Core{Client: e.client}
	ctx := t.Context()
	uid, err := core.NewMultipartUpload(ctx, "uploads", "naive", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []minio.CompletePart
	for i := 1; i <= 2; i++ {
		p, err := core.PutObjectPart(ctx, "uploads", "naive", uid, i, bytes.NewReader(make([]byte, 1<<20)), 1<<20, minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: i, ETag: p.ETag})
	}
	_, err = core.CompleteMultipartUpload(ctx, "uploads", "naive", uid, parts, minio.PutObjectOptions{})
	if minio.ToErrorResponse(err).Code != "EntityTooSmall" {
		t.Fatalf("1 MiB parts completed: %v", err)
	}
	if _, err := e.client.StatObject(ctx, "uploads", "naive", minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != 404 {
		t.Fatalf("object after a refused completion: %v", err)
	}
	// The last part may be small: the same upload completes with one part.
	if _, err := core.CompleteMultipartUpload(ctx, "uploads", "naive", uid, parts[:1], minio.PutObjectOptions{}); err != nil {
		t.Fatalf("one small final part: %v", err)
	}
}

func newHandler(t *testing.T, store upload.Store) (*httptest.Server, *upload.Handler) {
	t.Helper()
	h, err := upload.NewHandler(store, &upload.Options{Public: true, Download: func(*http.Request, upload.Info) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return srv, h
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// TestTusOverS3: 1 MiB tus chunks become 5 MiB S3 parts (the last
// smaller); the object appears whole when the last byte arrives, and
// downloads work with Range.
func TestTusOverS3(t *testing.T) {
	e := newS3(t)
	srv, h := newHandler(t, e.store)
	data := randBytes(12<<20 + 123)
	c, err := upload.NewClient(srv.URL+"/files/", &upload.ClientOptions{ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Upload(t.Context(), bytes.NewReader(data), int64(len(data)), map[string]string{"filename": "big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	id := u[strings.LastIndex(u, "/")+1:]
	obj, err := e.client.GetObject(t.Context(), "uploads", e.store.ObjectKey(id), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object differs (%d bytes, %v)", len(got), err)
	}
	sizes := e.rec.partSizes()
	if len(sizes) != 3 || sizes[0] != 5<<20 || sizes[1] != 5<<20 || sizes[2] != 2<<20+123 {
		t.Fatalf("part sizes %v", sizes)
	}
	var buf bytes.Buffer
	if _, err := c.Download(t.Context(), u, &buf, 100); err != nil || !bytes.Equal(buf.Bytes(), data[100:]) {
		t.Fatalf("download: %v", err)
	}
	if h.Stats().Completed != 1 {
		t.Errorf("stats %+v", h.Stats())
	}
}

func req(t *testing.T, method, url string, body []byte, headers ...string) *http.Response {
	t.Helper()
	r, _ := http.NewRequest(method, url, bytes.NewReader(body))
	r.Header.Set("Tus-Resumable", "1.0.0")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestS3OffsetsAndChecksums: the offset survives a new store (a restarted
// server), a bad checksum writes nothing, a deferred length completes, and
// termination leaves no object behind.
func TestS3OffsetsAndChecksums(t *testing.T) {
	e := newS3(t)
	srv, _ := newHandler(t, e.store)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	resp := req(t, "POST", srv.URL+"/files/", nil, "Upload-Defer-Length: 1")
	loc := srv.URL + resp.Header.Get("Location")
	data := randBytes(6<<20 + 5)
	patch := func(off, end int, extra ...string) *http.Response {
		return req(t, "PATCH", loc, data[off:end], append([]string{"Content-Type: application/offset+octet-stream", "Upload-Offset: " + strconv.Itoa(off)}, extra...)...)
	}
	if r := patch(0, 3<<20); r.StatusCode != 204 {
		t.Fatalf("PATCH: %d", r.StatusCode)
	}
	if r := patch(3<<20, 4<<20, "Upload-Checksum: sha256 "+strings.Repeat("A", 43)+"="); r.StatusCode != 460 {
		t.Fatalf("bad checksum: %d", r.StatusCode)
	}
	// A new store over the same bucket sees the same offset.
	store2, _ := s3.New(e.client, &s3.Options{Bucket: "uploads", Prefix: "tus/", PartSize: s3.MinPartSize})
	srv2, _ := newHandler(t, store2)
	if r := req(t, "HEAD", srv2.URL+resp.Header.Get("Location"), nil); r.Header.Get("Upload-Offset") != strconv.Itoa(3<<20) || r.Header.Get("Upload-Defer-Length") != "1" {
		t.Fatalf("HEAD after restart: %v", r.Header)
	}
	if r := patch(3<<20, 6<<20); r.StatusCode != 204 {
		t.Fatalf("PATCH 2: %d", r.StatusCode)
	}
	if r := patch(6<<20, len(data), "Upload-Length: "+strconv.Itoa(len(data))); r.StatusCode != 204 || r.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("last PATCH: %d %v", r.StatusCode, r.Header)
	}
	if sizes := e.rec.partSizes(); len(sizes) != 2 || sizes[0] != 5<<20 || sizes[1] != 1<<20+5 {
		t.Fatalf("part sizes %v", sizes)
	}
	if r := req(t, "DELETE", loc, nil); r.StatusCode != 204 {
		t.Fatalf("DELETE: %d", r.StatusCode)
	}
	n := 0
	for obj := range e.client.ListObjects(t.Context(), "uploads", minio.ListObjectsOptions{Recursive: true}) {
		n++
		t.Logf("left behind: %s", obj.Key)
	}
	if n != 0 {
		t.Fatalf("%d objects left after DELETE", n)
	}
}

// httpClient is a plain client whose connections are closed at cleanup.
func httpClient(t *testing.T) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// do sends a request and returns the status and body (the S3 error XML for
// a refusal).
func do(t *testing.T, c *http.Client, method, u string, body []byte) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		r.Body, r.ContentLength = nil, 0
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// s3Code returns the Code of an S3 error body.
func s3Code(body string) string {
	var e struct{ Code string }
	_ = xml.Unmarshal([]byte(body), &e)
	return e.Code
}

// objects lists the bucket's keys.
func (e *s3env) objects(t *testing.T) []string {
	t.Helper()
	var keys []string
	for obj := range e.client.ListObjects(t.Context(), "uploads", minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

// TestS3Presign: SigV4 presigned PUT and GET carry the bytes without the
// application in the path, against a server that verifies the signature;
// a PUT URL signs the body's length unless told not to.
func TestS3Presign(t *testing.T) {
	e := newS3(t)
	c := httpClient(t)
	ctx := context.Background()
	body := randBytes(100_000)
	put, err := e.store.PresignPut(ctx, "direct/photo.jpg", time.Minute, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"X-Amz-Signature", "X-Amz-Expires", "X-Amz-Credential"} {
		if put.Query().Get(k) == "" {
			t.Fatalf("presigned URL lacks %s: %s", k, put)
		}
	}
	if got := put.Query().Get("X-Amz-Expires"); got != "60" {
		t.Errorf("X-Amz-Expires = %s, want 60", got)
	}
	if got := put.Query().Get("X-Amz-SignedHeaders"); got != "content-length;host" {
		t.Errorf("X-Amz-SignedHeaders = %s, want the length signed", got)
	}
	if code, msg := do(t, c, "PUT", put.String(), body); code != 200 {
		t.Fatalf("presigned PUT: %d %s", code, msg)
	}
	// A negative size signs no length: any body goes.
	free, err := e.store.PresignPut(ctx, "direct/any.bin", time.Minute, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := free.Query().Get("X-Amz-SignedHeaders"); got != "host" {
		t.Errorf("X-Amz-SignedHeaders = %s without a size, want host", got)
	}
	for _, n := range []int{3, 70_000} {
		if code, msg := do(t, c, "PUT", free.String(), randBytes(n)); code != 200 {
			t.Fatalf("unsized presigned PUT of %d bytes: %d %s", n, code, msg)
		}
	}
	// The filename rides in a signed query parameter: quotes, spaces and
	// non-ASCII must survive the signing.
	for _, name := range []string{"photo.jpg", `résumé "final" 100%.pdf`, "a;b=c,d.txt"} {
		get, err := e.store.PresignGet(ctx, "direct/photo.jpg", time.Minute, name)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Get(get.String())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("presigned GET %q: %d, %d bytes", name, resp.StatusCode, len(got))
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != upload.ContentDisposition("attachment", name) {
			t.Errorf("Content-Disposition %q, want %q", cd, upload.ContentDisposition("attachment", name))
		}
	}
	if keys := e.objects(t); len(keys) != 2 || keys[0] != "tus/direct/any.bin" || keys[1] != "tus/direct/photo.jpg" {
		t.Fatalf("objects %v", keys)
	}
}

// TestS3PresignRefused: a presigned URL that is expired, tampered with,
// used with another method or (PUT) with a body of another length than it
// was signed for gets 403 from the server, and nothing is written.
func TestS3PresignRefused(t *testing.T) {
	e := newS3(t)
	c := httpClient(t)
	ctx := context.Background()
	// An object that the GET URLs point at and that must survive.
	if _, err := e.client.PutObject(ctx, "uploads", "tus/kept", bytes.NewReader([]byte("kept")), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	presignPut := func(key string, exp time.Duration) *url.URL {
		u, err := e.store.PresignPut(ctx, key, exp, 1)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	presignGet := func(key string, exp time.Duration) *url.URL {
		u, err := e.store.PresignGet(ctx, key, exp, "")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	edit := func(u *url.URL, f func(u *url.URL, q url.Values)) string {
		u2 := *u
		q := u2.Query()
		f(&u2, q)
		u2.RawQuery = q.Encode()
		return u2.String()
	}
	flip := func(sig string) string {
		b := []byte(sig)
		if b[0] == '0' {
			b[0] = '1'
		} else {
			b[0] = '0'
		}
		return string(b)
	}
	// Expired URLs: the shortest SigV4 lifetime (1s), used once it is
	// over. X-Amz-Date has whole seconds, so 2s after it is past expiry.
	expPut, expGet := presignPut("expired", time.Second), presignGet("kept", time.Second)
	signed, err := time.Parse("20060102T150405Z", expPut.Query().Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	put := presignPut("target", time.Minute)
	get := presignGet("kept", time.Minute)
	cases := []struct {
		name, method, url string
		body              []byte
		want              int
	}{
		{"changed key", "PUT", edit(put, func(u *url.URL, _ url.Values) { u.Path = strings.Replace(u.Path, "target", "other", 1) }), []byte("x"), http.StatusForbidden},
		{"changed signature", "PUT", edit(put, func(_ *url.URL, q url.Values) { q.Set("X-Amz-Signature", flip(q.Get("X-Amz-Signature"))) }), []byte("x"), http.StatusForbidden},
		{"longer expiry", "PUT", edit(put, func(_ *url.URL, q url.Values) { q.Set("X-Amz-Expires", "604800") }), []byte("x"), http.StatusForbidden},
		{"added parameter", "PUT", edit(put, func(_ *url.URL, q url.Values) { q.Set("x-id", "PutObject") }), []byte("x"), http.StatusForbidden},
		{"other date", "PUT", edit(put, func(_ *url.URL, q url.Values) {
			q.Set("X-Amz-Date", time.Now().UTC().Add(time.Second).Format("20060102T150405Z"))
		}), []byte("x"), http.StatusForbidden},
		// Malformed rather than wrong: S3 answers 400.
		{"no signature", "PUT", edit(put, func(_ *url.URL, q url.Values) { q.Del("X-Amz-Signature") }), []byte("x"), http.StatusBadRequest},
		{"GET URL used to PUT", "PUT", get.String(), []byte("overwritten"), http.StatusForbidden},
		{"GET URL used to DELETE", "DELETE", get.String(), nil, http.StatusForbidden},
		{"PUT URL used to GET", "GET", put.String(), nil, http.StatusForbidden},
		{"PUT URL used to POST", "POST", put.String(), []byte("x"), http.StatusMethodNotAllowed},
		// The length is signed: a holder of the URL cannot store more, or
		// anything but the size it was given. (Bodies stay small: the
		// server refuses before it reads the body, and a client still
		// writing a large one sees the connection reset, not the 403.)
		{"longer body", "PUT", put.String(), []byte("xx"), http.StatusForbidden},
		{"empty body", "PUT", put.String(), nil, http.StatusForbidden},
		{"changed key GET", "GET", edit(get, func(u *url.URL, _ url.Values) { u.Path = strings.Replace(u.Path, "kept", "target", 1) }), nil, http.StatusForbidden},
		{"response header added", "GET", edit(get, func(_ *url.URL, q url.Values) { q.Set("response-content-type", "text/html") }), nil, http.StatusForbidden},
	}
	for _, tc := range cases {
		code, body := do(t, c, tc.method, tc.url, tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		} else if s3Code(body) == "" {
			t.Errorf("%s: %d without a reason: %q", tc.name, code, body)
		}
	}
	time.Sleep(time.Until(signed.Add(2 * time.Second)))
	for _, tc := range []struct {
		name, method, url string
		body              []byte
	}{
		{"expired PUT", "PUT", expPut.String(), []byte("l")}, // the signed length
		{"expired GET", "GET", expGet.String(), nil},
	} {
		code, body := do(t, c, tc.method, tc.url, tc.body)
		if code != http.StatusForbidden || s3Code(body) == "" {
			t.Errorf("%s: %d %s, want 403 with a reason", tc.name, code, body)
		}
	}
	// Nothing was written, and the object the GET URLs point at is intact.
	if keys := e.objects(t); len(keys) != 1 || keys[0] != "tus/kept" {
		t.Errorf("objects after refused requests: %v", keys)
	}
	for _, key := range []string{"tus/target", "tus/other", "tus/expired"} {
		if _, err := e.client.StatObject(ctx, "uploads", key, minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != 404 {
			t.Errorf("HEAD %s: %v, want 404", key, err)
		}
	}
	obj, err := e.client.GetObject(ctx, "uploads", "tus/kept", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(b) != "kept" {
		t.Errorf("kept object: %q %v", b, err)
	}
	// The untampered URLs still work: the refusals were about the changes.
	if code, body := do(t, c, "PUT", put.String(), []byte("k")); code != 200 {
		t.Errorf("untampered PUT: %d %s", code, body)
	}
	if code, body := do(t, c, "GET", get.String(), nil); code != 200 || body != "kept" {
		t.Errorf("untampered GET: %d %q", code, body)
	}
}

func TestOptions(t *testing.T) {
	// The constructor does not talk to the server.
	client, err := minio.New("127.0.0.1:1", &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    *s3.Options
		want string
	}{
		{nil, "s3: Options.Bucket is required"},
		{&s3.Options{Bucket: "b", PartSize: -1}, "s3: Options.PartSize is negative (-1)"},
		{&s3.Options{Bucket: "b", PartSize: 1 << 20}, "s3: Options.PartSize 1048576 is below S3's minimum part size of 5 MiB"},
	} {
		if _, err := s3.New(client, c.o); err == nil || err.Error() != c.want {
			t.Errorf("%v, want %s", err, c.want)
		}
	}
}

// TestS3StoreEdges drives the store directly: an empty upload becomes an
// empty object, an upload of exactly two parts completes without a tail,
// ListUploads finds both, and Open reads back with Seek (ranged GETs).
func TestS3StoreEdges(t *testing.T) {
	e := newS3(t)
	ctx := t.Context()
	empty, err := e.store.NewUpload(ctx, upload.Info{Size: 0})
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(2 * s3.MinPartSize)
	two, err := e.store.NewUpload(ctx, upload.Info{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	// One byte first (a tail), then the rest: the tail is folded into the
	// first part.
	for _, c := range [][2]int{{0, 1}, {1, len(data)}} {
		if n, err := two.WriteChunk(ctx, int64(c[0]), bytes.NewReader(data[c[0]:c[1]]), nil); err != nil || n != int64(c[1]-c[0]) {
			t.Fatalf("WriteChunk %v: %d %v", c, n, err)
		}
	}
	if sizes := e.rec.partSizes(); len(sizes) != 2 || sizes[0] != s3.MinPartSize || sizes[1] != s3.MinPartSize {
		t.Fatalf("part sizes %v", sizes)
	}
	for _, u := range []upload.Upload{empty, two} {
		info, err := u.Info(ctx)
		if err != nil || !info.Complete() {
			t.Fatalf("Info: %+v %v", info, err)
		}
	}
	ids, err := e.store.ListUploads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, u := range []upload.Upload{empty, two} {
		info, _ := u.Info(ctx)
		want[info.ID] = true
	}
	if len(ids) != 2 || !want[ids[0]] || !want[ids[1]] {
		t.Fatalf("ListUploads %v", ids)
	}
	info, _ := empty.Info(ctx)
	if st, err := e.client.StatObject(ctx, "uploads", e.store.ObjectKey(info.ID), minio.StatObjectOptions{}); err != nil || st.Size != 0 {
		t.Fatalf("empty object: %+v %v", st, err)
	}
	r, err := two.(upload.Opener).Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Seek(s3.MinPartSize-10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 20)
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, data[s3.MinPartSize-10:s3.MinPartSize+10]) {
		t.Fatalf("read across the part boundary: %v", err)
	}
	// Only the objects and their info remain: no tail left behind.
	if keys := e.objects(t); len(keys) != 4 {
		t.Errorf("objects %v", keys)
	}
}

// TestS3CrashLeftTail: a request that crashed after it uploaded a part
// but before it removed the tail the part absorbed leaves that tail
// behind. It must neither count towards the offset nor survive the
// upload's completion.
func TestS3CrashLeftTail(t *testing.T) {
	e := newS3(t)
	ctx := t.Context()
	data := randBytes(6<<20 + 7)
	up, err := e.store.NewUpload(ctx, upload.Info{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	info, err := up.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write := func(off, end int) {
		t.Helper()
		if n, err := up.WriteChunk(ctx, int64(off), bytes.NewReader(data[off:end]), nil); err != nil || n != int64(end-off) {
			t.Fatalf("WriteChunk(%d..%d) = %d, %v", off, end, n, err)
		}
	}
	write(0, 1<<20) // the first MiB waits in the tail object of part 0
	tail0 := "tus/" + info.ID + ".tail.0"
	if _, err := e.client.StatObject(ctx, "uploads", tail0, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("no tail after a small chunk: %v", err)
	}
	write(1<<20, 6<<20) // part 1 (5 MiB) takes the tail; 1 MiB is the new tail
	// The crash: the old tail is back, as if its removal never ran.
	if _, err := e.client.PutObject(ctx, "uploads", tail0, bytes.NewReader(data[:1<<20]), 1<<20, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	up, err = e.store.GetUpload(ctx, info.ID) // a new request after the restart
	if err != nil {
		t.Fatal(err)
	}
	if got, err := up.Info(ctx); err != nil || got.Offset != 6<<20 {
		t.Fatalf("offset with a stale tail: %d, %v; want %d", got.Offset, err, 6<<20)
	}
	write(6<<20, len(data))
	for _, key := range e.objects(t) {
		if strings.Contains(key, ".tail.") {
			t.Errorf("tail object %s left after the upload completed", key)
		}
	}
	obj, err := e.client.GetObject(ctx, "uploads", "tus/"+info.ID, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object: %d bytes, %v; want the %d written", len(got), err, len(data))
	}
}
