package upload_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/upload"
)

func TestPresignedURLs(t *testing.T) {
	old := upload.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}
	cur := upload.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}
	oldSigner, err := upload.NewSigner(old)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := upload.NewSigner(cur, old) // rotated: signs with k2, accepts k1
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	srv := http.NewServeMux()
	srv.Handle("/files/", signer.Wrap(e.h))
	e.srv.Config.Handler = srv
	exp := time.Now().Add(time.Minute)
	sign := func(s *upload.Signer, method, path string, exp time.Time, o *upload.SignOptions) string {
		u, err := s.Sign(method, e.srv.URL+path, exp, o)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(u, e.srv.URL)
	}
	create := []string{"Upload-Length: 5", "Content-Type: application/offset+octet-stream"}
	good := sign(signer, "POST", "/files/", exp, &upload.SignOptions{MaxLength: 5, ContentType: "application/offset+octet-stream"})
	tampered := strings.Replace(good, "X-Ws-Max-Length=5", "X-Ws-Max-Length=500", 1)
	cases := []struct {
		name, method, url string
		body              []byte
		headers           []string
		status            int
		reason            string
	}{
		{"unsigned", "POST", "/files/", []byte("hello"), create, 403, "not signed"},
		{"expired", "POST", sign(signer, "POST", "/files/", time.Now().Add(-time.Second), nil), []byte("hello"), create, 403, "expired"},
		{"tampered", "POST", tampered, []byte("hello"), create, 403, "does not match"},
		{"other path", "POST", strings.Replace(good, "/files/", "/files/x", 1), nil, nil, 403, "does not match"},
		{"wrong method", "POST", sign(signer, "GET", "/files/", exp, nil), []byte("hello"), create, 403, "method"},
		{"too long", "POST", sign(signer, "POST", "/files/", exp, &upload.SignOptions{MaxLength: 4}), []byte("hello"), create, 403, "longer"},
		{"length over max", "POST", sign(signer, "POST", "/files/", exp, &upload.SignOptions{MaxLength: 5}), nil, []string{"Upload-Length: 6"}, 403, "longer"},
		{"wrong type", "POST", good, []byte("hello"), []string{"Upload-Length: 5", "Content-Type: text/html"}, 403, "Content-Type"},
		{"unknown key", "POST", strings.Replace(good, "X-Ws-Key=k2", "X-Ws-Key=k9", 1), []byte("hello"), create, 403, "unknown key"},
		{"old key still valid", "POST", sign(oldSigner, "POST", "/files/", exp, nil), []byte("hello"), create, 201, ""},
		{"good", "POST", good, []byte("hello"), create, 201, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := e.store.ListUploads(t.Context())
			resp, body := e.req(c.method, c.url, c.body, c.headers...)
			if resp.StatusCode != c.status || !strings.Contains(body, c.reason) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, c.status, c.reason)
			}
			after, _ := e.store.ListUploads(t.Context())
			if c.status == 403 && len(after) != len(before) {
				t.Fatal("a refused request created an upload")
			}
		})
	}
	if _, err := upload.NewSigner(upload.Key{ID: "x", Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := signer.Sign("GET", "/x", exp, &upload.SignOptions{MaxLength: -1}); err == nil || err.Error() != "upload: SignOptions.MaxLength is negative (-1)" {
		t.Errorf("negative MaxLength: %v", err)
	}
	// The clock decides expiry.
	u, _ := signer.Sign("GET", "http://h/files/x", exp, nil)
	pu, _ := url.Parse(u)
	upload.SetSignerClock(signer, func() time.Time { return exp.Add(time.Second) })
	if err := signer.Verify(&http.Request{Method: "GET", URL: pu, Header: http.Header{}}); err != upload.ErrSignatureExpired {
		t.Errorf("after expiry: %v", err)
	}
}
