// Command compress shows the compress middleware choosing a content coding
// for each client: it serves a JSON API on a loopback port through the
// middleware, requests it with the Accept-Encoding headers of different
// clients, checks that every body decodes to the original, and prints the
// bytes each coding put on the wire.
//
//	go run ./examples/compress
//
// It needs nothing else and exits when done.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/wirespeed/wirespeed/compress"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// clients are Accept-Encoding headers as real clients send them.
var clients = []struct{ name, acceptEncoding string }{
	{"no Accept-Encoding", ""},
	{"Go's http.Client", "gzip"},
	{"Safari", "gzip, deflate, br"},
	{"Chrome, Firefox, curl", "gzip, deflate, br, zstd"},
	{"prefers brotli", "br;q=1, zstd;q=0.5, gzip;q=0.5"},
	{"anything but brotli", "br;q=0, *"},
}

func run(ctx context.Context, out io.Writer) error {
	body, err := json.Marshal(users(150))
	if err != nil {
		return err
	}
	c, err := compress.New(nil) // zstd, br, gzip; at least 1 KiB; text-like types
	if err != nil {
		return err
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: c.Handler(api), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()

	// DisableCompression stops the client from asking for gzip and
	// decoding it by itself: this program wants to see the wire.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + l.Addr().String() + "/users"

	fmt.Fprintf(out, "%d bytes of JSON, as each client gets it:\n", len(body))
	for _, cl := range clients {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if cl.acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", cl.acceptEncoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		wire, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		enc := resp.Header.Get("Content-Encoding")
		decoded, err := decode(enc, wire)
		if err != nil {
			return fmt.Errorf("%s: %w", cl.name, err)
		}
		if !bytes.Equal(decoded, body) {
			return fmt.Errorf("%s: the %s body does not decode to the original", cl.name, enc)
		}
		saving := fmt.Sprintf("(%.1f× smaller)", float64(len(body))/float64(len(wire)))
		if enc == "" {
			enc, saving = "none", ""
		}
		line := fmt.Sprintf("  %-22s %-32q → %-4s %6d bytes %s", cl.name, cl.acceptEncoding, enc, len(wire), saving)
		fmt.Fprintln(out, strings.TrimRight(line, " "))
	}
	st := c.Stats()
	fmt.Fprintf(out, "middleware: %d zstd, %d br, %d gzip, %d uncompressed responses\n",
		st.Zstd.Responses, st.Brotli.Responses, st.Gzip.Responses, st.Identity.Responses)
	return nil
}

// user is one record of the example API.
type user struct {
	ID      int      `json:"id"`
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Active  bool     `json:"active"`
	Roles   []string `json:"roles"`
	Created string   `json:"created"`
}

// users returns n users, the same every run.
func users(n int) []user {
	rng := rand.New(rand.NewPCG(1, 2))
	roles := []string{"admin", "editor", "viewer", "billing", "support"}
	us := make([]user, n)
	for i := range us {
		us[i] = user{
			ID:      1000 + i,
			Name:    fmt.Sprintf("user-%05d", rng.IntN(100000)),
			Email:   fmt.Sprintf("user%05d@example.com", rng.IntN(100000)),
			Active:  rng.IntN(4) > 0,
			Roles:   []string{roles[rng.IntN(len(roles))]},
			Created: time.Date(2024, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.RFC3339),
		}
	}
	return us
}

// decode undoes a content coding, as a client would.
func decode(enc string, b []byte) ([]byte, error) {
	switch enc {
	case "":
		return b, nil
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case "br":
		return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	case "zstd":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(b, nil)
	}
	return nil, errors.New("unknown content coding " + enc)
}
