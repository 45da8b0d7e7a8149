package compress_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/compress"
)

// safety bounds a test that would otherwise hang on a bug; it is never an
// assertion about speed.
const safety = 20 * time.Second

func safetyContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	t.Cleanup(cancel)
	return ctx
}

// TestFlushDeliversEachChunk checks that a flushed chunk reaches the client
// before the handler writes the next one: the handler waits for the
// client's acknowledgement of chunk i before it writes chunk i+1, so a
// middleware that held a chunk back would deadlock the test (bounded by
// the safety timeout).
func TestFlushDeliversEachChunk(t *testing.T) {
	for _, tc := range []struct {
		name, ae, wantCE string
		flush            func(http.ResponseWriter) error
		contentType      string
	}{
		{name: "gzip Flusher", ae: "gzip", wantCE: "gzip", flush: flusher, contentType: "text/plain"},
		{name: "brotli Flusher", ae: "br", wantCE: "br", flush: flusher, contentType: "text/plain"},
		{name: "zstd Flusher", ae: "zstd", wantCE: "zstd", flush: flusher, contentType: "text/plain"},
		{name: "zstd ResponseController", ae: "zstd", wantCE: "zstd", flush: controller, contentType: "text/plain"},
		{name: "identity Flusher", ae: "identity", wantCE: "", flush: flusher, contentType: "text/plain"},
		{name: "event stream without flushing", ae: "gzip", wantCE: "gzip", flush: nil, contentType: "text/event-stream"},
		{name: "identity event stream without flushing", ae: "-", wantCE: "", flush: nil, contentType: "text/event-stream; charset=utf-8"},
		{name: "padded zstd", ae: "zstd", wantCE: "zstd", flush: flusher, contentType: "text/plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts compress.Options
			if strings.HasPrefix(tc.name, "padded") {
				opts.RandomPadding = 100
			}
			c := mustNew(t, &opts)
			acks := make(chan struct{})
			srv := quietServer(t, c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				for i := range 3 {
					fmt.Fprintf(w, "data: event %d\n\n", i)
					if tc.flush != nil {
						if err := tc.flush(w); err != nil {
							t.Errorf("flush: %v", err)
							return
						}
					}
					select {
					case <-acks:
					case <-r.Context().Done():
						return
					}
				}
			})))
			req, _ := http.NewRequestWithContext(safetyContext(t), http.MethodGet, srv.URL, nil)
			if tc.ae != "-" {
				req.Header.Set("Accept-Encoding", tc.ae)
			}
			resp, err := rawClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ce := resp.Header.Get("Content-Encoding"); ce != tc.wantCE {
				t.Fatalf("Content-Encoding %q, want %q", ce, tc.wantCE)
			}
			br := bufio.NewReader(newReader(t, tc.wantCE, resp.Body))
			for i := range 3 {
				var event strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("event %d: %v (got %q)", i, err, event.String())
					}
					event.WriteString(line)
					if line == "\n" {
						break
					}
				}
				if want := fmt.Sprintf("data: event %d\n\n", i); event.String() != want {
					t.Fatalf("event %d = %q, want %q", i, event.String(), want)
				}
				select {
				case acks <- struct{}{}:
				case <-req.Context().Done():
					t.Fatal("the handler stopped waiting for acknowledgements")
				}
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after the events: %q, %v", rest, err)
			}
		})
	}
}

func flusher(w http.ResponseWriter) error {
	w.(http.Flusher).Flush()
	return nil
}

func controller(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() }

// TestFlushBeforeBodySendsHeaders checks that an SSE handler's first
// Flush, before any event, sends the response head: browsers fire
// EventSource's open event on it.
func TestFlushBeforeBodySendsHeaders(t *testing.T) {
	c := mustNew(t, nil)
	seen := make(chan struct{})
	srv := quietServer(t, c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-seen:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: hello\n\n")
	})))
	req, _ := http.NewRequestWithContext(safetyContext(t), http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "br")
	resp, err := rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	close(seen)
	if resp.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	body, err := io.ReadAll(newReader(t, "br", resp.Body))
	if err != nil || string(body) != "data: hello\n\n" {
		t.Fatalf("body %q, %v", body, err)
	}
}

// TestResponseController checks that http.ResponseController reaches the
// server's writer through Unwrap: deadlines and full duplex are not
// implemented by the middleware's writer itself.
func TestResponseController(t *testing.T) {
	c := mustNew(t, nil)
	errs := make(chan error, 4)
	srv := quietServer(t, c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs <- rc.SetWriteDeadline(time.Now().Add(time.Minute))
		errs <- rc.SetReadDeadline(time.Now().Add(time.Minute))
		errs <- rc.EnableFullDuplex()
		w.Header().Set("Content-Type", "application/json")
		w.Write(json2k)
		errs <- rc.Flush()
	})))
	req, _ := http.NewRequestWithContext(safetyContext(t), http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("ResponseController: %v", err)
		}
	}
	if !bytes.Equal(decode(t, resp.Header.Get("Content-Encoding"), body), json2k) {
		t.Fatal("body mismatch")
	}
}

func TestHijack(t *testing.T) {
	c := mustNew(t, nil)
	srv := quietServer(t, c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("dropped: buffered below MinSize"))
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
		brw.Flush()
		if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
			t.Errorf("Write after Hijack: %v, want ErrHijacked", err)
		}
	})))
	req, _ := http.NewRequestWithContext(safetyContext(t), http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); string(body) != "hello" {
		t.Fatalf("body %q", body)
	}
	if st := c.Stats(); st.Aborted != 1 {
		t.Fatalf("Aborted %d, want 1", st.Aborted)
	}
}

// TestEarlyHints checks that 103 goes out first and untouched.
func TestEarlyHints(t *testing.T) {
	c := mustNew(t, nil)
	srv := quietServer(t, c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "application/json")
		w.Write(json2k)
	})))
	var (
		mu    sync.Mutex
		codes []int
		hints []textproto.MIMEHeader
	)
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		codes = append(codes, code)
		hints = append(hints, h)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(safetyContext(t), trace), http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "zstd")
	resp, err := rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != 1 || codes[0] != http.StatusEarlyHints {
		t.Fatalf("1xx responses %v, want [103]", codes)
	}
	if hints[0].Get("Link") == "" || hints[0].Get("Vary") != "" || hints[0].Get("Content-Encoding") != "" {
		t.Fatalf("103 headers %v: want the Link and nothing of the middleware's", hints[0])
	}
	if resp.Header.Get("Content-Encoding") != "zstd" || !bytes.Equal(decode(t, "zstd", body), json2k) {
		t.Fatal("final response not compressed correctly")
	}
}

// TestPanickingHandler checks that a handler that panics mid-stream leaves
// the client with a truncated (undecodable) response, never a
// complete-looking one and never a 500, and that the encoders it used come
// back clean: the requests that follow, many at once, decode correctly.
func TestPanickingHandler(t *testing.T) {
	for _, enc := range allEncodings {
		t.Run(enc, func(t *testing.T) {
			c := mustNew(t, &compress.Options{Encodings: []string{enc}})
			srv := quietServer(t, c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/panic-mid-stream":
					w.Write(json16[:8<<10])
					w.(http.Flusher).Flush()
					w.Write(json16[8<<10:])
					panic("handler bug")
				case "/panic-first":
					panic(http.ErrAbortHandler)
				}
				w.Write(json16)
			})))
			client := rawClient(t)
			fetch := func(path string) (*http.Response, []byte, error) {
				req, _ := http.NewRequestWithContext(safetyContext(t), http.MethodGet, srv.URL+path, nil)
				req.Header.Set("Accept-Encoding", enc)
				resp, err := client.Do(req)
				if err != nil {
					return nil, nil, err
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				return resp, body, err // the part that arrived, and why it stopped
			}
			for range 3 {
				resp, body, err := fetch("/panic-mid-stream")
				if err == nil {
					t.Fatal("a response cut by a panic read as complete")
				}
				if resp != nil {
					// Whatever arrived must not decode as the whole body:
					// the middleware must not finish the stream.
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("status %d", resp.StatusCode)
					}
					if got, derr := tryDecode(enc, body); derr == nil && bytes.Equal(got, json16) {
						t.Fatal("truncated response decoded as complete")
					}
				}
				if resp, _, err := fetch("/panic-first"); err == nil && resp.StatusCode == http.StatusInternalServerError {
					t.Fatal("panic answered with 500")
				}
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 5 {
						resp, body, err := fetch("/ok")
						if err != nil {
							t.Error(err)
							return
						}
						if got, err := tryDecode(resp.Header.Get("Content-Encoding"), body); err != nil || !bytes.Equal(got, json16) {
							t.Errorf("after panics: body does not decode (%v)", err)
							return
						}
					}
				})
			}
			wg.Wait()
			if st := c.Stats(); st.Aborted != 6 {
				t.Errorf("Aborted %d, want 6", st.Aborted)
			}
		})
	}
}

// tryDecode is decode returning the error instead of failing.
func tryDecode(enc string, body []byte) (out []byte, err error) {
	rec := &errorTB{}
	func() {
		defer func() {
			if r := recover(); r != nil && r != rec {
				panic(r)
			}
		}()
		out = decode(rec, enc, body)
	}()
	return out, rec.err
}

// errorTB turns decode's Fatalf into an error.
type errorTB struct {
	testing.TB
	err error
}

func (e *errorTB) Helper() {}
func (e *errorTB) Fatalf(format string, args ...any) {
	e.err = fmt.Errorf(format, args...)
	panic(e)
}
func (e *errorTB) Fatal(args ...any) {
	e.err = fmt.Errorf("%v", args...)
	panic(e)
}

// TestCopyFile copies an *os.File into the response, as file servers do:
// through the encoder when compressing, and through net/http's own
// ReadFrom (sendfile) when not.
func TestCopyFile(t *testing.T) {
	path := t.TempDir() + "/data.json"
	if err := os.WriteFile(path, json16, 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, nil)
	srv := quietServer(t, c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(json16)))
		if _, err := io.Copy(w, f); err != nil {
			t.Error(err)
		}
	})))
	for _, ae := range []string{"identity", "gzip", "br", "zstd"} {
		req, _ := http.NewRequestWithContext(safetyContext(t), http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept-Encoding", ae)
		resp, err := rawClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		ce := resp.Header.Get("Content-Encoding")
		switch {
		case ae == "identity" && (ce != "" || resp.ContentLength != int64(len(json16))):
			t.Fatalf("identity: Content-Encoding %q, Content-Length %d", ce, resp.ContentLength)
		case ae != "identity" && ce != ae:
			t.Fatalf("%s: Content-Encoding %q", ae, ce)
		}
		if !bytes.Equal(decode(t, ce, body), json16) {
			t.Fatalf("%s: body differs", ae)
		}
	}
}

func TestWriteHeaderEdgeCases(t *testing.T) {
	t.Run("second WriteHeader ignored", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(json2k)
		})
		resp := record(mustNew(t, nil).Handler(h), get("/", "gzip"))
		if body := readAll(t, resp); resp.StatusCode != http.StatusCreated || !bytes.Equal(decode(t, "gzip", body), json2k) {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("flush of an empty HEAD", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
			}
		})
		req := get("/", "gzip")
		req.Method = http.MethodHead
		resp := record(mustNew(t, nil).Handler(h), req)
		if body := readAll(t, resp); resp.Header.Get("Content-Encoding") != "gzip" || len(body) != 0 {
			t.Fatalf("Content-Encoding %q, %d body bytes", resp.Header.Get("Content-Encoding"), len(body))
		}
	})
	t.Run("flush with nothing to sniff", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			w.Write(json2k)
		})
		resp := record(mustNew(t, nil).Handler(h), get("/", "gzip"))
		if body := readAll(t, resp); resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, json2k) {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
	})
	t.Run("switching protocols passes", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Upgrade", "example")
			w.WriteHeader(http.StatusSwitchingProtocols)
		})
		resp := record(mustNew(t, nil).Handler(h), get("/", "gzip"))
		readAll(t, resp)
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("status %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
	})
	t.Run("flush without a flusher underneath", func(t *testing.T) {
		h := mustNew(t, nil).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(json2k)
			if err := http.NewResponseController(w).Flush(); err == nil {
				t.Error("Flush reported success with no flusher underneath")
			}
		}))
		h.ServeHTTP(plainWriter{httptest.NewRecorder()}, get("/", "gzip"))
	})
}

// plainWriter hides every optional interface of the recorder.
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }
