package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/internal/integration/browser"
	"github.com/wirespeed/wirespeed/upload"
)

// demoFile is the file the browser test makes in the page; demoBytes is
// the same in Go.
const demoFile = `(() => {
	const data = new Uint8Array(3 << 20);
	for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 255;
	return new File([data], 'demo.bin', {lastModified: 1700000000000});
})()`

func demoBytes() []byte {
	b := make([]byte, 3<<20)
	for i := range b {
		b[i] = byte(i * 31)
	}
	return b
}

// pageUploadPaused starts the upload and pauses it once a megabyte is sent.
const pageUploadPaused = `new Promise((resolve) => {
	const file = ` + demoFile + `;
	uploadFile(file).catch(() => {});
	const id = setInterval(() => {
		if (document.getElementById('bar').value * file.size >= (1 << 20)) {
			clearInterval(id);
			pauseUpload();
			setTimeout(() => resolve(localStorage.length), 100);
		}
	}, 5);
})`

// pageUploadResume picks the same file again after a reload.
const pageUploadResume = `(async () => {
	const url = await uploadFile(` + demoFile + `);
	return url + ' ' + window.lastResumeOffset + ' ' + document.getElementById('bar').value + ' ' + localStorage.length;
})()`

// TestUploadDemoInChromium: Chromium uploads a file through the demo page
// with progress, pauses, reloads the page, resumes from the server's offset
// and the stored file is the page's; the download link serves it with Range.
func TestUploadDemoInChromium(t *testing.T) {
	sc := newTestShowcase(t, setupUpload)
	srv := httptest.NewServer(sc.handler())
	defer srv.Close()

	b := browser.Chromium(t, chromedp.IgnoreCertErrors)
	ctx, cancel := context.WithTimeout(b, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/upload/")); err != nil {
		t.Fatal(err)
	}
	saved, err := chromedp.Run(ctx, chromedp.Evaluate[int](pageUploadPaused, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if saved != 1 {
		t.Fatalf("localStorage holds %d entries after the pause, want the upload's URL", saved)
	}
	if _, err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](pageUploadResume, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(got)
	if len(f) != 4 {
		t.Fatalf("page returned %q", got)
	}
	resumedAt, _ := strconv.Atoi(f[1])
	if resumedAt <= 0 || resumedAt >= 3<<20 || f[2] != "1" || f[3] != "0" {
		t.Fatalf("resume: offset %s, progress %s, localStorage %s", f[1], f[2], f[3])
	}
	c, err := upload.NewClient(srv.URL+"/upload/files/", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := c.Download(ctx, f[0], &buf, 0); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(buf.Bytes()) != sha256.Sum256(demoBytes()) {
		t.Fatal("stored file differs from the page's")
	}
}

// TestUploadDemoRange: the demo's downloads keep Range through the
// showcase's compress middleware.
func TestUploadDemoRange(t *testing.T) {
	sc := newTestShowcase(t, setupUpload)
	srv := httptest.NewServer(sc.handler())
	defer srv.Close()
	c, _ := upload.NewClient(srv.URL+"/upload/files/", &upload.ClientOptions{ChunkSize: 1 << 20})
	data := demoBytes()
	u, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), map[string]string{"filename": "demo.bin"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := c.Download(context.Background(), u, &buf, 1000); err != nil || !bytes.Equal(buf.Bytes(), data[1000:]) {
		t.Fatalf("ranged download: %v", err)
	}
	if st := sc.demos[0].Stats().(upload.Stats); st.Completed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestUploadDemoPresign: the signed request creates the upload; a changed
// signature, an expired URL, another method and a body over the signed
// limit are refused with 403 and write nothing.
func TestUploadDemoPresign(t *testing.T) {
	sc := newTestShowcase(t, setupUpload)
	h := sc.handler()
	for range 2 {
		var got struct {
			Headline headline `json:"headline"`
			Attempts []struct {
				Request string `json:"request"`
				Status  int    `json:"status"`
				Reason  string `json:"reason"`
			} `json:"attempts"`
			BytesReceived  int64 `json:"bytes_received"`
			UploadsCreated int64 `json:"uploads_created"`
		}
		if code := batchGet(t, h, "/upload/presign", &got); code != 200 {
			t.Fatalf("status %d", code)
		}
		if len(got.Attempts) != 5 || got.Attempts[0].Status != 201 {
			t.Fatalf("attempts %+v", got.Attempts)
		}
		for _, a := range got.Attempts[1:] {
			if a.Status != 403 || a.Reason == "" {
				t.Errorf("%s: %d %q, want 403 with a reason", a.Request, a.Status, a.Reason)
			}
		}
		if got.BytesReceived != 64<<10 || got.UploadsCreated != 1 || !strings.Contains(got.Headline.Value, "4 of 4") {
			t.Fatalf("received %d bytes, created %d, headline %q", got.BytesReceived, got.UploadsCreated, got.Headline.Value)
		}
	}
	// Without a signature the endpoint is closed.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/upload/signed/", strings.NewReader("x"))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", "1")
	h.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("unsigned POST: %d, want 403", rec.Code)
	}
}
