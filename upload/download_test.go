package upload_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/upload"
)

func serve(t *testing.T, content []byte, o *upload.ServeOptions, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", "/f", nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	if err := upload.ServeContent(w, r, bytes.NewReader(content), o); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestServeContentRanges(t *testing.T) {
	content := []byte("0123456789abcdefghij")
	mod := time.Unix(1700000000, 0)
	etag := upload.StrongETag("f", int64(len(content)), mod)
	o := &upload.ServeOptions{MaxRanges: 3, ModTime: mod, Filename: "report.pdf"}
	cases := []struct {
		name    string
		headers []string
		status  int
		body    string // for single-part responses
		parts   []string
	}{
		{"whole", nil, 200, string(content), nil},
		{"one range", []string{"Range: bytes=2-5"}, 206, "2345", nil},
		{"suffix", []string{"Range: bytes=-3"}, 206, "hij", nil},
		{"open", []string{"Range: bytes=17-"}, 206, "hij", nil},
		{"overlapping coalesced", []string{"Range: bytes=0-4,2-6,3-3"}, 206, "0123456", nil},
		{"adjacent coalesced", []string{"Range: bytes=0-1,2-3"}, 206, "0123", nil},
		{"two ranges", []string{"Range: bytes=0-1,10-11"}, 206, "", []string{"01", "ab"}},
		{"too many ranges become one", []string{"Range: bytes=0-0,2-2,4-4,6-6"}, 206, "0123456", nil},
		{"amplification", []string{"Range: " + "bytes=0-" + strings.Repeat(",0-", 500)}, 206, string(content), nil},
		{"unsatisfiable", []string{"Range: bytes=50-60"}, 416, "", nil},
		{"If-Range match", []string{"Range: bytes=0-1", "If-Range: " + etag}, 206, "01", nil},
		{"If-Range mismatch", []string{"Range: bytes=0-1", "If-Range: \"other\""}, 200, string(content), nil},
		{"If-None-Match", []string{"If-None-Match: " + etag}, 304, "", nil},
	}
	o.ETag = etag
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := serve(t, content, o, c.headers...)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			if c.parts != nil {
				_, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
				mr := multipart.NewReader(w.Body, params["boundary"])
				for _, want := range c.parts {
					p, err := mr.NextPart()
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(p)
					if string(b) != want {
						t.Fatalf("part %q, want %q", b, want)
					}
				}
				return
			}
			if c.status < 300 && w.Body.String() != c.body {
				t.Fatalf("body %q, want %q", w.Body.String(), c.body)
			}
			if c.status < 300 && w.Header().Get("ETag") != etag {
				t.Fatalf("ETag %q", w.Header().Get("ETag"))
			}
		})
	}
}

func TestContentDisposition(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"report.pdf", `attachment; filename="report.pdf"`},
		{"../../etc/passwd", `attachment; filename="passwd"`},
		{`C:\x\y.txt`, `attachment; filename="y.txt"`},
		{"a\"b\r\nSet-Cookie: x.txt", `attachment; filename="a_bSet-Cookie: x.txt"; filename*=UTF-8''a%22bSet-Cookie%3A%20x.txt`},
		{"résumé 100%.pdf", `attachment; filename="r_sum_ 100_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20100%25.pdf`},
		{"..", `attachment; filename="download"`},
		{"\xff\xfe", `attachment; filename="download"`},
	} {
		if got := upload.ContentDisposition("attachment", c.in); got != c.want {
			t.Errorf("%q: %s, want %s", c.in, got, c.want)
		}
	}
	long := upload.ContentDisposition("inline", strings.Repeat("é", 300))
	if len(long) > 1200 || !strings.HasPrefix(long, "inline;") {
		t.Errorf("long name: %d bytes", len(long))
	}
}

func TestServeOptionsNegative(t *testing.T) {
	w := httptest.NewRecorder()
	err := upload.ServeContent(w, httptest.NewRequest("GET", "/", nil), bytes.NewReader(nil), &upload.ServeOptions{MaxRanges: -1})
	if err == nil || err.Error() != "upload: ServeOptions.MaxRanges is negative (-1)" || w.Code != 500 {
		t.Fatalf("%v %d", err, w.Code)
	}
}

func TestHandlerDownload(t *testing.T) {
	e := newEnv(t, &upload.Options{Download: func(r *http.Request, info upload.Info) error {
		if r.Header.Get("Authorization") != "ok" {
			return &upload.HookError{Status: 401, Message: "no"}
		}
		return nil
	}})
	data := randBytes(10000)
	p := e.create(len(data), "Upload-Metadata: filename "+b64("ünï.bin"))
	if resp, _ := e.req("GET", p, nil, "Authorization: ok"); resp.StatusCode != 404 {
		t.Fatalf("GET of unfinished upload: %d", resp.StatusCode)
	}
	e.patch(p, 0, data)
	if resp, _ := e.req("GET", p, nil); resp.StatusCode != 401 {
		t.Fatalf("unauthorized GET: %d", resp.StatusCode)
	}
	resp, body := e.req("GET", p, nil, "Authorization: ok", "Range: bytes=100-199")
	if resp.StatusCode != 206 || body != string(data[100:200]) || !strings.Contains(resp.Header.Get("Content-Disposition"), "filename*=UTF-8''%C3%BCn%C3%AF.bin") {
		t.Fatalf("range GET: %d %v", resp.StatusCode, resp.Header)
	}
}
