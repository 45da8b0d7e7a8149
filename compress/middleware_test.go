package compress_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/compress"
)

var (
	json2k       = apiJSON(2 << 10)
	json2kString = string(json2k)
	json16       = apiJSON(16 << 10)
)

// reply returns a handler that sets the header pairs (key, value, …) and
// writes body in one Write.
func reply(body []byte, kv ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		w.Write(body)
	}
}

func TestMiddleware(t *testing.T) {
	const absent = "<absent>"
	for _, tc := range []struct {
		name       string
		opts       *compress.Options
		method     string // GET when empty
		ae         string // Accept-Encoding; "-" sends none
		reqHeader  []string
		handler    http.Handler
		wantStatus int    // 200 when 0
		wantCE     string // Content-Encoding; "" for none
		wantHeader map[string]string
		wantBody   []byte // after decoding; nil skips the check
		noVary     bool
	}{
		{name: "gzip", ae: "gzip", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "gzip", wantBody: json2k,
			wantHeader: map[string]string{"Content-Length": absent, "Content-Type": "application/json"}},
		{name: "brotli", ae: "br", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "br", wantBody: json2k},
		{name: "zstd", ae: "zstd", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "zstd", wantBody: json2k},
		{name: "x-gzip is gzip", ae: "x-gzip", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "gzip", wantBody: json2k},
		{name: "browser header takes server preference", ae: "gzip, deflate, br, zstd", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "zstd", wantBody: json2k},
		{name: "preference order is configurable", opts: &compress.Options{Encodings: []string{compress.Gzip, compress.Brotli}},
			ae: "gzip, deflate, br, zstd", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "gzip", wantBody: json2k},
		{name: "q-values beat preference", ae: "gzip;q=0.5, br;q=0.8, zstd;q=0.1", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "br", wantBody: json2k},
		{name: "star with br excluded", opts: &compress.Options{Encodings: []string{compress.Brotli, compress.Gzip}},
			ae: "br;q=0, *", handler: reply(json2k, "Content-Type", "application/json"), wantCE: "gzip", wantBody: json2k},
		{name: "identity only", ae: "identity", handler: reply(json2k, "Content-Type", "application/json"), wantBody: json2k},
		{name: "no accept-encoding", ae: "-", handler: reply(json2k, "Content-Type", "application/json"), wantBody: json2k},
		{name: "empty accept-encoding", ae: "", handler: reply(json2k, "Content-Type", "application/json"), wantBody: json2k},
		{name: "nothing acceptable sends identity", ae: "*;q=0", handler: reply(json2k, "Content-Type", "application/json"), wantBody: json2k},
		{name: "nothing acceptable answers 406 when asked", opts: &compress.Options{NotAcceptable: true},
			ae: "identity;q=0, deflate", handler: reply(json2k, "Content-Type", "application/json", "Etag", `"v1"`),
			wantStatus: http.StatusNotAcceptable, wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Etag": absent}},
		{name: "406 spares error responses", opts: &compress.Options{NotAcceptable: true}, ae: "*;q=0",
			handler:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusNotFound) }),
			wantStatus: http.StatusNotFound, wantBody: []byte("nope\n")},
		{name: "identity excluded but gzip fine", opts: &compress.Options{NotAcceptable: true}, ae: "identity;q=0, gzip",
			handler: reply(json2k, "Content-Type", "application/json"), wantCE: "gzip", wantBody: json2k},
		{name: "client prefers identity", ae: "identity, gzip;q=0.5", handler: reply(json2k, "Content-Type", "application/json"), wantBody: json2k},
		{name: "below MinSize", ae: "gzip", handler: reply(json2k[:1023], "Content-Type", "text/plain"), wantBody: json2k[:1023]},
		{name: "at MinSize", ae: "gzip", handler: reply(json2k[:1024], "Content-Type", "text/plain"), wantCE: "gzip", wantBody: json2k[:1024]},
		{name: "negative MinSize compresses any size", opts: &compress.Options{MinSize: -1}, ae: "gzip", handler: reply([]byte("hi"), "Content-Type", "text/plain"),
			wantCE: "gzip", wantBody: []byte("hi")},
		{name: "negative MinSize skips empty body", opts: &compress.Options{MinSize: -1}, ae: "gzip", handler: reply(nil, "Content-Type", "text/plain"),
			wantBody: []byte{}},
		{name: "image is not compressed", ae: "gzip", handler: reply(json2k, "Content-Type", "image/png"), wantBody: json2k},
		{name: "svg is", ae: "gzip", handler: reply(json2k, "Content-Type", "image/svg+xml"), wantCE: "gzip", wantBody: json2k},
		{name: "suffix pattern", ae: "gzip", handler: reply(json2k, "Content-Type", "application/problem+json; charset=utf-8"), wantCE: "gzip", wantBody: json2k},
		{name: "custom type list", opts: &compress.Options{ContentTypes: []string{"application/octet-stream"}}, ae: "gzip",
			handler: reply(json2k, "Content-Type", "application/json"), wantBody: json2k},
		{name: "already encoded passes through", ae: "gzip", handler: reply([]byte("not really brotli but opaque"), "Content-Type", "text/plain", "Content-Encoding", "br"),
			wantCE: "br", wantHeader: map[string]string{}},
		{name: "identity opt-out is removed", ae: "gzip", handler: reply(json2k, "Content-Type", "text/plain", "Content-Encoding", "identity"), wantBody: json2k},
		{name: "no-transform opts out", ae: "gzip", handler: reply(json2k, "Content-Type", "text/plain", "Cache-Control", "public, no-transform"), wantBody: json2k},
		{name: "204", ae: "gzip", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }),
			wantStatus: http.StatusNoContent, wantBody: []byte{}},
		{name: "partial content", ae: "gzip", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Range", "bytes 0-2047/4096")
			w.Header().Set("Accept-Ranges", "bytes")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(json2k)
		}), wantStatus: http.StatusPartialContent, wantBody: json2k, wantHeader: map[string]string{"Accept-Ranges": "bytes"}},
		{name: "content-length decides without buffering", ae: "gzip",
			handler: reply(json2k, "Content-Type", "application/json", "Content-Length", strconv.Itoa(len(json2k))),
			wantCE:  "gzip", wantBody: json2k, wantHeader: map[string]string{"Content-Length": absent}},
		{name: "small content-length", ae: "gzip", handler: reply([]byte("small"), "Content-Type", "text/plain", "Content-Length", "5"), wantBody: []byte("small")},
		{name: "strong etag turns weak", ae: "gzip", handler: reply(json2k, "Content-Type", "application/json", "Etag", `"abc"`),
			wantCE: "gzip", wantBody: json2k, wantHeader: map[string]string{"Etag": `W/"abc"`}},
		{name: "weak etag stays", ae: "gzip", handler: reply(json2k, "Content-Type", "application/json", "Etag", `W/"abc"`),
			wantCE: "gzip", wantBody: json2k, wantHeader: map[string]string{"Etag": `W/"abc"`}},
		{name: "malformed etag dropped", ae: "gzip", handler: reply(json2k, "Content-Type", "application/json", "Etag", `abc`),
			wantCE: "gzip", wantBody: json2k, wantHeader: map[string]string{"Etag": absent}},
		{name: "identity keeps strong etag", ae: "identity", handler: reply(json2k, "Content-Type", "application/json", "Etag", `"abc"`),
			wantBody: json2k, wantHeader: map[string]string{"Etag": `"abc"`}},
		{name: "accept-ranges and digests dropped", ae: "gzip",
			handler: reply(json2k, "Content-Type", "application/json", "Accept-Ranges", "bytes", "Content-Digest", "sha-256=:x:", "Repr-Digest", "sha-256=:x:"),
			wantCE:  "gzip", wantBody: json2k, wantHeader: map[string]string{"Accept-Ranges": absent, "Content-Digest": absent, "Repr-Digest": absent}},
		{name: "vary not duplicated", ae: "gzip", handler: reply(json2k, "Content-Type", "application/json", "Vary", "accept-encoding"),
			wantCE: "gzip", wantBody: json2k, noVary: true, wantHeader: map[string]string{"Vary": "accept-encoding"}},
		{name: "vary star kept", ae: "gzip", handler: reply(json2k, "Content-Type", "application/json", "Vary", "*"),
			wantCE: "gzip", wantBody: json2k, noVary: true, wantHeader: map[string]string{"Vary": "*"}},
		{name: "sniffed html", ae: "gzip", handler: reply(append([]byte("<!DOCTYPE html><html>"), json2k...)),
			wantCE: "gzip", wantHeader: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "sniffed binary", ae: "gzip", handler: reply(append([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, json2k...))},
		{name: "suppressed content-type still sniffed for the decision", ae: "gzip",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				w.Write(json2k)
			}), wantCE: "gzip", wantBody: json2k, wantHeader: map[string]string{"Content-Type": ""}},
		{name: "byte-at-a-time writes", ae: "zstd", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			for i := range json2k {
				w.Write(json2k[i : i+1])
			}
		}), wantCE: "zstd", wantBody: json2k},
		{name: "WriteString", ae: "br", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, json2kString[:100])
			io.WriteString(w, json2kString[100:])
		}), wantCE: "br", wantBody: json2k},
		{name: "ReadFrom", ae: "gzip", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.Copy(w, bytes.NewReader(json16))
		}), wantCE: "gzip", wantBody: json16},
		{name: "ReadFrom identity", ae: "identity", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.Copy(w, bytes.NewReader(json16))
		}), wantBody: json16},
		{name: "HEAD gets GET's headers", method: http.MethodHead, ae: "gzip",
			handler: reply(json2k, "Content-Type", "application/json", "Etag", `"abc"`),
			wantCE:  "gzip", wantHeader: map[string]string{"Etag": `W/"abc"`, "Content-Length": absent}},
		{name: "HEAD with only a content-length", method: http.MethodHead, ae: "br",
			handler: reply(nil, "Content-Type", "application/json", "Content-Length", "5000"),
			wantCE:  "br", wantHeader: map[string]string{"Content-Length": absent}},
		{name: "HEAD below MinSize", method: http.MethodHead, ae: "gzip",
			handler: reply([]byte("tiny"), "Content-Type", "application/json")},
		{name: "huge accept-encoding", ae: strings.Repeat("x-unknown;q=0.5, ", 10000) + "gzip",
			handler: reply(json2k, "Content-Type", "application/json"), wantCE: "gzip", wantBody: json2k},
		{name: "malformed accept-encoding", ae: `gzip;q=2, br;q="1", ;;, zstd;q=0.5;x, ,`,
			handler: reply(json2k, "Content-Type", "application/json"), wantBody: json2k},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := compress.Middleware(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			req := get("/", tc.ae)
			if tc.method != "" {
				req.Method = tc.method
			}
			for i := 0; i+1 < len(tc.reqHeader); i += 2 {
				req.Header.Set(tc.reqHeader[i], tc.reqHeader[i+1])
			}
			resp := record(mw(tc.handler), req)
			body := readAll(t, resp)
			want := tc.wantStatus
			if want == 0 {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Fatalf("status %d, want %d", resp.StatusCode, want)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != tc.wantCE {
				t.Fatalf("Content-Encoding %q, want %q", ce, tc.wantCE)
			}
			if !tc.noVary {
				if v := resp.Header.Values("Vary"); len(v) != 1 || v[0] != "Accept-Encoding" {
					t.Errorf("Vary %q, want exactly [Accept-Encoding]", v)
				}
			}
			for k, v := range tc.wantHeader {
				got, ok := resp.Header[http.CanonicalHeaderKey(k)]
				switch {
				case v == absent && ok:
					t.Errorf("%s: %q, want it absent", k, got)
				case v == "" && resp.Header.Get(k) != "":
					t.Errorf("%s: %q, want it empty", k, got)
				case v != absent && v != "" && (len(got) != 1 || got[0] != v):
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if req.Method == http.MethodHead && tc.wantCE != "" && len(body) != 0 {
				t.Fatalf("compressed HEAD response has a %d-byte body", len(body))
			}
			if tc.wantBody != nil {
				if got := decode(t, tc.wantCE, body); !bytes.Equal(got, tc.wantBody) {
					t.Fatalf("body decodes to %d bytes %.40q…, want %d bytes %.40q…", len(got), got, len(tc.wantBody), tc.wantBody)
				}
			}
		})
	}
}

func TestDefaultContentTypesIsACopy(t *testing.T) {
	a := compress.DefaultContentTypes()
	a[0] = "changed/type"
	if b := compress.DefaultContentTypes(); b[0] == "changed/type" {
		t.Fatal("DefaultContentTypes returned shared storage")
	}
}

// TestIfNoneMatch checks that revalidation works through the weakened
// ETag for every kind of handler.
func TestIfNoneMatch(t *testing.T) {
	naive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(json2k)
	})
	serveContent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		http.ServeContent(w, r, "data.json", time.Time{}, bytes.NewReader(json2k))
	})
	for _, tc := range []struct {
		name       string
		handler    http.Handler
		ae, inm    string
		wantStatus int
		wantETag   string
		ours       bool // the middleware, not the handler, answers 304
	}{
		{"byte-comparing handler, weak tag", naive, "gzip", `W/"v1"`, http.StatusNotModified, `W/"v1"`, true},
		{"byte-comparing handler, in a list", naive, "gzip", `"x", W/"v1"`, http.StatusNotModified, `W/"v1"`, true},
		{"byte-comparing handler, HEAD", naive, "gzip", `W/"v1"`, http.StatusNotModified, `W/"v1"`, true},
		{"byte-comparing handler, strong tag", naive, "gzip", `"v1"`, http.StatusNotModified, `"v1"`, false},
		{"byte-comparing handler, other tag", naive, "gzip", `W/"v2"`, http.StatusOK, `W/"v1"`, false},
		{"byte-comparing handler, malformed list", naive, "gzip", `W/"v1`, http.StatusOK, `W/"v1"`, false},
		{"byte-comparing handler, identity client", naive, "identity", `"v1"`, http.StatusNotModified, `"v1"`, false},
		{"ServeContent, weak tag", serveContent, "gzip", `W/"v1"`, http.StatusNotModified, `W/"v1"`, false},
		{"ServeContent, other tag", serveContent, "br", `W/"v0"`, http.StatusOK, `W/"v1"`, false},
		{"ServeContent, star", serveContent, "zstd", `*`, http.StatusNotModified, `"v1"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, nil)
			req := get("/", tc.ae)
			if strings.Contains(tc.name, "HEAD") {
				req.Method = http.MethodHead
			}
			req.Header.Set("If-None-Match", tc.inm)
			resp := record(c.Handler(tc.handler), req)
			body := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := resp.Header.Get("Etag"); got != tc.wantETag {
				t.Errorf("ETag %q, want %q", got, tc.wantETag)
			}
			if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("Vary %q", v)
			}
			if tc.ours {
				if st := c.Stats(); st.NotModified != 1 {
					t.Errorf("Stats.NotModified %d, want 1", st.NotModified)
				}
				if len(body) != 0 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Type") != "" {
					t.Errorf("304 with body %q, Content-Encoding %q, Content-Type %q", body,
						resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	c := mustNew(t, nil)
	h := c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			w.Write(json16)
		case "/small":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("{}"))
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(json2k)
		case "/panic":
			panic(http.ErrAbortHandler)
		}
	}))
	for _, r := range []*http.Request{get("/json", "gzip"), get("/json", "br"), get("/json", "zstd"), get("/json", "zstd"),
		get("/small", "gzip"), get("/png", "gzip"), get("/json", "-")} {
		readAll(t, record(h, r))
	}
	func() {
		defer func() { recover() }()
		h.ServeHTTP(httptest.NewRecorder(), get("/panic", "gzip"))
	}()
	st := c.Stats()
	if st.Gzip.Responses != 1 || st.Brotli.Responses != 1 || st.Zstd.Responses != 2 {
		t.Errorf("per-encoding responses %d/%d/%d, want 1/1/2", st.Gzip.Responses, st.Brotli.Responses, st.Zstd.Responses)
	}
	if st.Zstd.BytesIn != 2*int64(len(json16)) || st.Zstd.BytesOut <= 0 || st.Zstd.Ratio() < 2 {
		t.Errorf("zstd %+v ratio %.2f", st.Zstd, st.Zstd.Ratio())
	}
	if st.Identity.Responses != 3 || st.Identity.BytesIn != st.Identity.BytesOut {
		t.Errorf("identity %+v", st.Identity)
	}
	if st.SkippedSmall != 1 || st.SkippedType != 1 || st.SkippedNotAccepted != 1 || st.Aborted != 1 {
		t.Errorf("skips %+v", st)
	}
	if (compress.EncodingStats{}).Ratio() != 0 {
		t.Error("Ratio of nothing is not 0")
	}
}

func TestZeroCompressor(t *testing.T) {
	var c compress.Compressor
	resp := record(c.Handler(reply(json2k, "Content-Type", "application/json")), get("/", "gzip, br, zstd"))
	body := readAll(t, resp)
	if ce := resp.Header.Get("Content-Encoding"); ce != "zstd" || !bytes.Equal(decode(t, ce, body), json2k) {
		t.Fatalf("zero Compressor sent %q", ce)
	}
	if st := c.Stats(); st.Zstd.Responses != 1 {
		t.Fatalf("stats %+v", st.Zstd)
	}
}

// TestRandomPadding checks that padded responses decode and that their
// lengths vary from response to response.
func TestRandomPadding(t *testing.T) {
	for _, enc := range []string{compress.Gzip, compress.Zstd} {
		t.Run(enc, func(t *testing.T) {
			c := mustNew(t, &compress.Options{Encodings: []string{enc}, RandomPadding: 200})
			h := c.Handler(reply(json2k, "Content-Type", "application/json"))
			lengths := map[int]bool{}
			for range 30 {
				resp := record(h, get("/", enc))
				body := readAll(t, resp)
				if !bytes.Equal(decode(t, enc, body), json2k) {
					t.Fatal("padded body does not decode")
				}
				lengths[len(body)] = true
			}
			if len(lengths) < 5 {
				t.Fatalf("30 padded responses have only %d distinct lengths", len(lengths))
			}
		})
	}
	t.Run("default encodings leave brotli out", func(t *testing.T) {
		c := mustNew(t, &compress.Options{RandomPadding: 16})
		resp := record(c.Handler(reply(json2k, "Content-Type", "application/json")), get("/", "br"))
		readAll(t, resp)
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			t.Fatalf("Content-Encoding %q for a brotli-only client", ce)
		}
	})
}
