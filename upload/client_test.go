package upload_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/upload"
)

// flaky wraps the handler: every third PATCH is cut after part of its body
// arrived, and every fifth answered 503 without being read.
func flaky(next http.Handler) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PATCH" {
			switch c := n.Add(1); {
			case c%5 == 0:
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			case c%3 == 0:
				r.Body = http.MaxBytesReader(w, r.Body, 1000)
				next.ServeHTTP(w, r)
				panic(http.ErrAbortHandler)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func TestClientUploadRetriesAndResumes(t *testing.T) {
	for _, parallel := range []int{1, 4} {
		t.Run("parallel="+string(rune('0'+parallel)), func(t *testing.T) {
			e := newEnv(t, &upload.Options{Download: func(*http.Request, upload.Info) error { return nil }})
			e.srv.Config.Handler = flaky(e.h)
			e.srv.Config.ErrorLog = nil
			var mu sync.Mutex
			var last, total int64
			c, err := upload.NewClient(e.srv.URL+"/files/", &upload.ClientOptions{
				ChunkSize: 16 << 10, Backoff: time.Millisecond, Parallel: parallel, Retries: 8,
				Progress: func(sent, tot int64) { mu.Lock(); last, total = sent, tot; mu.Unlock() },
			})
			if err != nil {
				t.Fatal(err)
			}
			data := randBytes(200_000)
			u, err := c.Upload(t.Context(), bytes.NewReader(data), int64(len(data)), map[string]string{"filename": "f.bin"})
			if err != nil {
				t.Fatal(err)
			}
			dp, _ := e.store.DataPath(path.Base(u))
			got, err := os.ReadFile(dp)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored file differs: %v", err)
			}
			if last != total || total != int64(len(data)) {
				t.Errorf("progress ended at %d/%d", last, total)
			}
			// Download with resume through a server that cuts the body.
			e.srv.Config.Handler = cutGET(e.h, 50_000)
			var buf bytes.Buffer
			n, err := c.Download(t.Context(), u, &buf, 0)
			if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("download: %d bytes, %v", n, err)
			}
		})
	}
}

// cutGET cuts every GET response after limit bytes.
func cutGET(next http.Handler, limit int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" {
			next.ServeHTTP(w, r)
			return
		}
		cw := &cutWriter{ResponseWriter: w, left: limit}
		next.ServeHTTP(cw, r)
	})
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		p = p[:c.left]
		c.ResponseWriter.Write(p)
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

func TestClientResume(t *testing.T) {
	e := newEnv(t, nil)
	data := randBytes(100_000)
	p := e.create(len(data))
	e.patch(p, 0, data[:30_000])
	c, _ := upload.NewClient(e.srv.URL+"/files/", &upload.ClientOptions{ChunkSize: 8 << 10})
	if err := c.Resume(t.Context(), e.srv.URL+p, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	dp, _ := e.store.DataPath(path.Base(p))
	if got, _ := os.ReadFile(dp); !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	if e.h.Stats().BytesReceived != uint64(len(data)) {
		t.Errorf("bytes received %d: the resume resent committed bytes", e.h.Stats().BytesReceived)
	}
}

func TestClientGivesUp(t *testing.T) {
	e := newEnv(t, &upload.Options{MaxSize: 10})
	c, _ := upload.NewClient(e.srv.URL+"/files/", &upload.ClientOptions{Backoff: time.Millisecond})
	_, err := c.Upload(t.Context(), bytes.NewReader(make([]byte, 11)), 11, nil)
	var se *upload.StatusError
	if !errors.As(err, &se) || se.Status != 413 {
		t.Fatalf("oversized upload: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Upload(ctx, bytes.NewReader(make([]byte, 5)), 5, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestDownloadFileResumes(t *testing.T) {
	e := newEnv(t, &upload.Options{Download: func(*http.Request, upload.Info) error { return nil }})
	data := randBytes(70_000)
	p := e.create(len(data))
	e.patch(p, 0, data)
	dst := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(dst, data[:12345], 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := upload.NewClient(e.srv.URL+"/files/", nil)
	if err := c.DownloadFile(t.Context(), e.srv.URL+p, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatal("resumed download differs")
	}
	// A complete file: the server answers 416 and nothing changes.
	if err := c.DownloadFile(t.Context(), e.srv.URL+p, dst); err != nil {
		t.Fatal(err)
	}
}

func TestClientOptionsNegative(t *testing.T) {
	for _, c := range []struct {
		o    upload.ClientOptions
		want string
	}{
		{upload.ClientOptions{ChunkSize: -1}, "upload: ClientOptions.ChunkSize is negative (-1)"},
		{upload.ClientOptions{Backoff: -1}, "upload: ClientOptions.Backoff is negative (-1ns)"},
		{upload.ClientOptions{Parallel: -2}, "upload: ClientOptions.Parallel is negative (-2)"},
	} {
		if _, err := upload.NewClient("http://x/files/", &c.o); err == nil || err.Error() != c.want {
			t.Errorf("%v, want %s", err, c.want)
		}
	}
	// Negative Retries disables retries: the first 503 is final.
	e := newEnv(t, nil)
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
	c, _ := upload.NewClient(e.srv.URL+"/files/", &upload.ClientOptions{Retries: -1})
	var se *upload.StatusError
	if _, err := c.Download(t.Context(), e.srv.URL+"/files/x", &bytes.Buffer{}, 0); !errors.As(err, &se) || se.Status != 503 {
		t.Fatalf("%v", err)
	}
}

func TestHandlerOptionsNegative(t *testing.T) {
	store, _ := upload.NewDiskStore(t.TempDir())
	for _, c := range []struct {
		o    upload.Options
		want string
	}{
		{upload.Options{Public: true, MaxMetadataSize: -1}, "upload: Options.MaxMetadataSize is negative (-1)"},
		{upload.Options{Public: true, MaxParts: -1}, "upload: Options.MaxParts is negative (-1)"},
		{upload.Options{Public: true, DownloadOptions: &upload.ServeOptions{MaxRanges: -1}}, "upload: ServeOptions.MaxRanges is negative (-1)"},
	} {
		if _, err := upload.NewHandler(store, &c.o); err == nil || err.Error() != c.want {
			t.Errorf("%v, want %s", err, c.want)
		}
	}
	// Negative MaxSize means no limit; negative Expiration no expiry.
	e := newEnv(t, &upload.Options{MaxSize: -1, Expiration: -1})
	resp, _ := e.req("POST", "/files/", nil, "Upload-Length: 999999999999999")
	if resp.StatusCode != 201 || resp.Header.Get("Upload-Expires") != "" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	opts, _ := e.req("OPTIONS", "/files/", nil)
	if opts.Header.Get("Tus-Max-Size") != "" {
		t.Error("Tus-Max-Size sent without a limit")
	}
}

// TestHTTP2: the handler (its per-read deadlines included) and the client
// work over HTTP/2.
func TestHTTP2(t *testing.T) {
	store, _ := upload.NewDiskStore(t.TempDir())
	h, err := upload.NewHandler(store, &upload.Options{Public: true, IdleTimeout: 5 * time.Second, Download: func(*http.Request, upload.Info) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	var proto atomic.Value
	c, _ := upload.NewClient(srv.URL+"/files/", &upload.ClientOptions{ChunkSize: 64 << 10, HTTPClient: srv.Client(), Parallel: 2})
	data := randBytes(500_000)
	u, err := c.Upload(t.Context(), bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	proto.Store(resp.Proto)
	resp.Body.Close()
	var buf bytes.Buffer
	if _, err := c.Download(t.Context(), u, &buf, 0); err != nil || !bytes.Equal(buf.Bytes(), data) || proto.Load() != "HTTP/2.0" {
		t.Fatalf("download over %v: %v", proto.Load(), err)
	}
}
