package s3_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/wirespeed/wirespeed/upload"
	"github.com/wirespeed/wirespeed/upload/s3"
)

// partRule adds to gofakes3 the multipart rule it lacks and S3 enforces:
// CompleteMultipartUpload fails with EntityTooSmall when a part other than
// the last is below 5 MiB. It also records the parts' sizes.
type partRule struct {
	next http.Handler
	mu   sync.Mutex
	// sizes by upload ID and part number
	sizes map[string]map[int]int64
}

func (p *partRule) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	uid := q.Get("uploadId")
	switch {
	case r.Method == "PUT" && uid != "" && q.Get("partNumber") != "":
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
	case r.Method == "POST" && uid != "":
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var c struct {
			Parts []struct{ PartNumber int } `xml:"Part"`
		}
		_ = xml.Unmarshal(body, &c)
		p.mu.Lock()
		for i, part := range c.Parts {
			if i < len(c.Parts)-1 && p.sizes[uid][part.PartNumber] < s3.MinPartSize {
				p.mu.Unlock()
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(400)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the minimum allowed object size.</Message><PartNumber>%d</PartNumber></Error>`, part.PartNumber)
				return
			}
		}
		p.mu.Unlock()
	}
	p.next.ServeHTTP(w, r)
}

func (p *partRule) partSizes() []int64 {
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
	rule   *partRule
	srv    *httptest.Server
	client *minio.Client
	store  *s3.Store
}

func newS3(t *testing.T) *s3env {
	t.Helper()
	fake := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(false))
	rule := &partRule{next: fake.Server(), sizes: map[string]map[int]int64{}}
	// TLS, as S3 is used: over plain HTTP minio-go signs payloads with
	// aws-chunked encoding, which gofakes3 decodes only for PutObject.
	srv := httptest.NewTLSServer(rule)
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport)
	t.Cleanup(tr.CloseIdleConnections)
	client, err := minio.New(strings.TrimPrefix(srv.URL, "https://"), &minio.Options{
		Creds: credentials.NewStaticV4("test", "testsecret", ""), BucketLookup: minio.BucketLookupPath, Region: "us-east-1", Transport: tr, Secure: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(t.Context(), "uploads", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	store, err := s3.New(client, &s3.Options{Bucket: "uploads", Prefix: "tus/", PartSize: s3.MinPartSize, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &s3env{rule: rule, srv: srv, client: client, store: store}
}

// TestServerEnforcesMinPartSize: the test server refuses what S3 refuses,
// so the store's tests below mean something.
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
	sizes := e.rule.partSizes()
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
	if sizes := e.rule.partSizes(); len(sizes) != 2 || sizes[0] != 5<<20 || sizes[1] != 1<<20+5 {
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

// TestS3Presign: SigV4 presigned PUT and GET carry the bytes without the
// application in the path.
func TestS3Presign(t *testing.T) {
	e := newS3(t)
	ctx := context.Background()
	put, err := e.store.PresignPut(ctx, "direct/photo.jpg", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"X-Amz-Signature", "X-Amz-Expires", "X-Amz-Credential"} {
		if put.Query().Get(k) == "" {
			t.Fatalf("presigned URL lacks %s: %s", k, put)
		}
	}
	body := randBytes(100_000)
	r, _ := http.NewRequest("PUT", put.String(), bytes.NewReader(body))
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d", resp.StatusCode)
	}
	get, err := e.store.PresignGet(ctx, "direct/photo.jpg", time.Minute, "photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = e.srv.Client().Get(get.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
	}
}

func TestOptions(t *testing.T) {
	e := newS3(t)
	for _, c := range []struct {
		o    *s3.Options
		want string
	}{
		{nil, "s3: Options.Bucket is required"},
		{&s3.Options{Bucket: "b", PartSize: -1}, "s3: Options.PartSize is negative (-1)"},
		{&s3.Options{Bucket: "b", PartSize: 1 << 20}, "s3: Options.PartSize 1048576 is below S3's minimum part size of 5 MiB"},
	} {
		if _, err := s3.New(e.client, c.o); err == nil || err.Error() != c.want {
			t.Errorf("%v, want %s", err, c.want)
		}
	}
}
