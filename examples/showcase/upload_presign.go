package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/upload"
)

// The pre-signed URL part of the upload demo: the showcase plays the API
// server that signs a URL (HMAC-SHA256, upload.Signer) allowing exactly one
// request, a POST that creates a file of at most uploadPresignMax bytes and
// carries it (tus creation-with-upload), within a minute; the upload
// handler behind Signer.Wrap accepts that and refuses everything else
// with 403 before reading a byte. GET /upload/presign runs the signed
// request and four that must fail.

// uploadPresignMax is the largest body a demo URL allows.
const uploadPresignMax = 1 << 20

// presignDemo holds the signed upload endpoint.
type presignDemo struct {
	signer  *upload.Signer
	h       *upload.Handler
	wrapped http.Handler
	mu      sync.Mutex // one run at a time
}

// newPresignDemo mounts the signed endpoint at /upload/signed/ on sc.mux,
// over its own handler on store.
func newPresignDemo(sc *showcase, store upload.Store) (*presignDemo, error) {
	secret := make([]byte, 32)
	rand.Read(secret)
	signer, err := upload.NewSigner(upload.Key{ID: "showcase", Secret: secret})
	if err != nil {
		return nil, err
	}
	h, err := upload.NewHandler(store, &upload.Options{
		BasePath: "/upload/signed/",
		// The signature is the authorization: Wrap refuses any request
		// without a valid one before the handler sees it.
		Public:     true,
		MaxSize:    uploadPresignMax,
		Expiration: time.Hour,
	})
	if err != nil {
		return nil, err
	}
	d := &presignDemo{signer: signer, h: h, wrapped: signer.Wrap(h)}
	sc.mux.Handle("/upload/signed/", d.wrapped)
	sc.mux.HandleFunc("GET /upload/presign", d.run)
	return d, nil
}

// presignAttempt is one request of a run and how it was answered.
type presignAttempt struct {
	Request string `json:"request"`
	Status  int    `json:"status"`
	Reason  string `json:"reason,omitempty"` // the 403's body
}

func (d *presignDemo) run(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	const size = 64 << 10
	body := make([]byte, size)
	rand.Read(body)
	signed, err := d.signer.Sign(http.MethodPost, "/upload/signed/", time.Now().Add(time.Minute), &upload.SignOptions{MaxLength: uploadPresignMax})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	expired, _ := d.signer.Sign(http.MethodPost, "/upload/signed/", time.Now().Add(-time.Second), &upload.SignOptions{MaxLength: uploadPresignMax})
	sigAt := strings.Index(signed, "X-Ws-Signature=") + len("X-Ws-Signature=")
	flip := "0"
	if signed[sigAt] == '0' {
		flip = "1"
	}
	tampered := signed[:sigAt] + flip + signed[sigAt+1:]

	before := d.h.Stats()
	attempts := []presignAttempt{
		d.try("the signed POST, with a 64 KiB file", http.MethodPost, signed, body),
		d.try("the same URL, one signature digit changed", http.MethodPost, tampered, body),
		d.try("a URL that expired a second ago", http.MethodPost, expired, body),
		d.try("the signed URL with PATCH instead of POST", http.MethodPatch, signed, body),
		d.try("the signed URL with a 2 MiB body (over its 1 MiB limit)", http.MethodPost, signed, make([]byte, 2<<20)),
	}
	after := d.h.Stats()
	refused := 0
	for _, a := range attempts[1:] {
		if a.Status == http.StatusForbidden {
			refused++
		}
	}
	written := after.BytesReceived - before.BytesReceived
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value:  fmt.Sprintf("signed URL accepted (%d), %d of %d altered requests refused with 403", attempts[0].Status, refused, len(attempts)-1),
			Detail: fmt.Sprintf("%s received in all, the signed upload's bytes only: the refusals were answered before the body was read", fmtBytes(int64(written))),
		},
		"signed_url":      signed,
		"attempts":        attempts,
		"bytes_received":  written,
		"uploads_created": after.Created - before.Created,
	})
}

// try sends one request to the signed endpoint, in process.
func (d *presignDemo) try(what, method, target string, body []byte) presignAttempt {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	if method == http.MethodPost {
		req.Header.Set("Upload-Length", strconv.Itoa(len(body)))
	} else {
		req.Header.Set("Upload-Offset", "0")
	}
	rec := httptest.NewRecorder()
	d.wrapped.ServeHTTP(rec, req)
	a := presignAttempt{Request: what, Status: rec.Code}
	if rec.Code == http.StatusForbidden {
		b, _ := io.ReadAll(io.LimitReader(rec.Body, 200))
		a.Reason = strings.TrimSpace(string(b))
	}
	return a
}
