// Command upload shows package upload end to end on loopback, then exits:
//
//   - a 6 MiB file goes up in 1 MiB tus chunks through a link that cuts one
//     request in the middle; the client asks the server for the offset and
//     resumes, and the file arrives whole (sha256 checked);
//   - the same file goes up as 3 parallel parts concatenated by the server;
//   - a download is cut halfway and resumed with Range / If-Range;
//   - a pre-signed URL lets a client create an upload without credentials,
//     and a tampered copy of it is refused with 403 and nothing written.
//
// Run it with
//
//	go run ./examples/upload
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/upload"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.SetFlags(0)
		log.Fatalf("upload: %v", err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "upload-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := upload.NewDiskStore(dir)
	if err != nil {
		return err
	}
	h, err := upload.NewHandler(store, &upload.Options{
		PreCreate: func(r *http.Request, info upload.Info) error {
			if r.Header.Get("Authorization") != "Bearer demo" && r.URL.Query().Get("X-Ws-Signature") == "" {
				return &upload.HookError{Status: http.StatusUnauthorized, Message: "log in first"}
			}
			return nil
		},
		PostFinish: func(r *http.Request, info upload.Info) {
			if !info.Partial {
				fmt.Fprintf(out, "server: %s complete, %d bytes\n", info.Metadata["filename"], info.Size)
			}
		},
		Download: func(*http.Request, upload.Info) error { return nil },
	})
	if err != nil {
		return err
	}
	defer h.Close()
	signer, err := upload.NewSigner(upload.Key{ID: "k1", Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		return err
	}
	// One PATCH of the first upload is cut after 300 KB, as a flaky link
	// would; so is the first download.
	var patches, gets atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("/files/", h)
	mux.Handle("/signed/files/", signer.Wrap(http.StripPrefix("/signed", h)))
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && patches.Add(1) == 3 {
			r.Body = io.NopCloser(io.LimitReader(r.Body, 300_000))
			r.ContentLength = -1
			mux.ServeHTTP(w, r)
			panic(http.ErrAbortHandler)
		}
		if r.Method == http.MethodGet && gets.Add(1) == 1 {
			mux.ServeHTTP(&cutWriter{ResponseWriter: w, left: 3 << 20}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: flaky, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(l)
	defer srv.Close()
	base := "http://" + l.Addr().String()

	data := make([]byte, 6<<20)
	for i := range data {
		data[i] = byte(i * 31 / 7)
	}
	want := sha256.Sum256(data)
	auth := http.Header{"Authorization": {"Bearer demo"}}
	c, err := upload.NewClient(base+"/files/", &upload.ClientOptions{ChunkSize: 1 << 20, Header: auth, Backoff: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	u, err := c.Upload(ctx, bytes.NewReader(data), int64(len(data)), map[string]string{"filename": "video.mp4"})
	if err != nil {
		return err
	}
	st := h.Stats()
	fmt.Fprintf(out, "client: uploaded in 1 MiB chunks, one cut mid-chunk and resumed; server committed %d bytes\n", st.BytesReceived)

	pc, err := upload.NewClient(base+"/files/", &upload.ClientOptions{ChunkSize: 1 << 20, Parallel: 3, Header: auth})
	if err != nil {
		return err
	}
	if _, err := pc.Upload(ctx, bytes.NewReader(data), int64(len(data)), map[string]string{"filename": "video-parallel.mp4"}); err != nil {
		return err
	}
	fmt.Fprintln(out, "client: uploaded as 3 parallel parts, concatenated by the server")

	var got bytes.Buffer
	if _, err := c.Download(ctx, u, &got, 0); err != nil {
		return err
	}
	fmt.Fprintf(out, "client: download cut at 3 MiB and resumed with Range; sha256 matches: %v\n", sha256.Sum256(got.Bytes()) == want)

	signed, err := signer.Sign("POST", base+"/signed/files/", time.Now().Add(time.Minute), &upload.SignOptions{MaxLength: 1 << 20})
	if err != nil {
		return err
	}
	for _, try := range []struct{ name, url string }{
		{"tampered", strings.Replace(signed, "X-Ws-Max-Length=1048576", "X-Ws-Max-Length=9999999", 1)},
		{"signed", signed},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, try.url, strings.NewReader("hello"))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "5")
		req.Header.Set("Upload-Metadata", upload.EncodeMetadata(map[string]string{"filename": "note.txt"}))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		line := fmt.Sprintf("pre-signed URL (%s): %d %s", try.name, resp.StatusCode, strings.TrimSpace(string(body)))
		fmt.Fprintln(out, strings.TrimSpace(line))
	}
	st = h.Stats()
	fmt.Fprintf(out, "stats: %d created, %d completed, %d lock conflicts, %d checksum failures\n", st.Created, st.Completed, st.LockConflicts, st.ChecksumFailures)
	http.DefaultClient.CloseIdleConnections()
	return nil
}

// cutWriter ends the response after left bytes, as a dropped connection
// would.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		_, _ = c.ResponseWriter.Write(p[:c.left])
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}
