package main

import (
	"context"
	_ "embed"
	"net/http"
	"os"
	"time"

	"github.com/wirespeed/wirespeed/upload"
)

// The upload demo is a resumable upload page at /upload/: drop a file, watch
// the progress bar, pause, reload the page, pick the same file again and
// the upload resumes where the server says it stopped (the page keeps the
// upload's URL in localStorage and asks with HEAD, as tus clients do). The
// finished file is offered as a download that resumes with Range. The
// page speaks tus 1.0.0 with XMLHttpRequest (for upload progress), no
// library needed.

//go:embed upload.html
var uploadPage []byte

// uploadMaxSize bounds what a visitor may upload to the demo.
const uploadMaxSize = 256 << 20

func setupUpload(_ context.Context, sc *showcase) error {
	dir, err := os.MkdirTemp("", "wirespeed-showcase-upload")
	if err != nil {
		return err
	}
	store, err := upload.NewDiskStore(dir)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	h, err := upload.NewHandler(store, &upload.Options{
		BasePath:   "/upload/files/",
		Public:     true, // a demo: anyone may upload, within MaxSize and Expiration
		MaxSize:    uploadMaxSize,
		Expiration: time.Hour,
		Download:   func(*http.Request, upload.Info) error { return nil },
	})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	sc.mux.Handle("/upload/files/", h)
	sc.mux.HandleFunc("GET /upload/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(uploadPage)
	})
	sc.mux.HandleFunc("GET /upload/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.Stats())
	})
	presign, err := newPresignDemo(sc, store)
	if err != nil {
		h.Close()
		os.RemoveAll(dir)
		return err
	}
	sc.add(demo{
		Name:  "upload",
		Title: "resumable uploads",
		Summary: "A tus 1.0.0 upload page (open /upload/): drag and drop a file, pause, reload the page and pick the file again to resume from the offset the server reports; " +
			"chunks are fsynced before they are acknowledged, the file appears whole or not at all, and the download link resumes with Range. " +
			"A pre-signed URL (HMAC-SHA256) lets a client upload without other credentials: exactly the signed request, until it expires.",
		Try: []link{
			{"open the upload page", "/upload/"},
			{"a pre-signed URL: accepted, then altered and refused", "/upload/presign"},
			{"upload statistics", "/upload/stats"},
		},
		Stats: func() any { return h.Stats() },
		Close: func() {
			presign.h.Close()
			h.Close()
			os.RemoveAll(dir)
		},
	})
	return nil
}
