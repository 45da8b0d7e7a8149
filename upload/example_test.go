package upload_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/wirespeed/wirespeed/upload"
)

func authorized(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer demo" }

// The quick start of the package documentation: a tus endpoint on a disk
// store, and the Go client uploading to it in chunks.
func Example() {
	dir, _ := os.MkdirTemp("", "uploads")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	mux := http.NewServeMux()
	record := func(info upload.Info) {
		fmt.Printf("received %s (%d bytes)\n", info.Metadata["filename"], info.Size)
	}

	store, _ := upload.NewDiskStore(dir) // e.g. /var/lib/uploads
	h, _ := upload.NewHandler(store, &upload.Options{
		PreCreate: func(r *http.Request, info upload.Info) error {
			if !authorized(r) {
				return &upload.HookError{Status: 401, Message: "log in first"}
			}
			return nil
		},
		PostFinish: func(r *http.Request, info upload.Info) { record(info) },
	})
	defer h.Close()
	mux.Handle("/files/", h)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	endpoint := srv.URL + "/files/"
	auth := http.Header{"Authorization": {"Bearer demo"}}
	file := bytes.NewReader(make([]byte, 3<<20))
	size := file.Size()

	c, _ := upload.NewClient(endpoint, &upload.ClientOptions{Header: auth}) // endpoint https://example.com/files/
	url, err := c.Upload(ctx, file, size, map[string]string{"filename": "video.mp4"})
	fmt.Println(err, url != "")
	// Output:
	// received video.mp4 (3145728 bytes)
	// <nil> true
}

func ExampleSigner() {
	signer, _ := upload.NewSigner(upload.Key{ID: "2026-12", Secret: bytes.Repeat([]byte("k"), 32)})
	// The API server hands this URL to the client; the upload server runs
	// signer.Wrap(handler) and accepts exactly this request until it
	// expires.
	u, _ := signer.Sign("POST", "https://uploads.example.com/files/", time.Unix(1800000000, 0), &upload.SignOptions{MaxLength: 10 << 20})
	fmt.Println(u)
	// Output:
	// https://uploads.example.com/files/?X-Ws-Expires=1800000000&X-Ws-Key=2026-12&X-Ws-Max-Length=10485760&X-Ws-Method=POST&X-Ws-Signature=d1c01d8a4412884f964ce8b2c7bc0e78d9f1162b1eaf7e3ac5ddd5f8218f4e34
}

func ExampleServeContent() {
	content := bytes.NewReader([]byte("0123456789"))
	r := httptest.NewRequest("GET", "/report", nil)
	r.Header.Set("Range", "bytes=0-3,2-5,8-") // overlapping ranges are merged
	w := httptest.NewRecorder()
	_ = upload.ServeContent(w, r, content, &upload.ServeOptions{Filename: "report.txt"})
	fmt.Println(w.Code, w.Header().Get("Content-Disposition"))
	// Output:
	// 206 attachment; filename="report.txt"
}
