package wt_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/wt"
)

// wrapped is a middleware's ResponseWriter, with or without Unwrap.
type wrapped struct{ http.ResponseWriter }

type unwrapping struct{ http.ResponseWriter }

func (u unwrapping) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestMiddleware: a WebTransport upgrade through a middleware that wraps
// the ResponseWriter works when the wrapper has Unwrap (as compress's
// and most do), and is refused with 500, not a panic, when it has not.
func TestMiddleware(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(http.ResponseWriter) http.ResponseWriter
		wtOK bool
	}{
		{"Unwrap", func(w http.ResponseWriter) http.ResponseWriter { return unwrapping{w} }, true},
		{"no Unwrap", func(w http.ResponseWriter) http.ResponseWriter { return wrapped{w} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, srv, mux := newServer(t, echo, nil)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mux.ServeHTTP(tc.wrap(w), r) })
			hs, err := httpx.NewServer(h, &httpx.ServerOptions{TLSConfig: cert.ServerTLS(), HTTP3Conns: srv})
			if err != nil {
				t.Fatal(err)
			}
			l, pc, err := httpx.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- hs.Serve(l, pc) }()
			defer func() {
				srv.Close()
				hs.Close()
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			}()
			e := &env{srv: srv, cert: cert, url: "https://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/wt"}
			ctx := testCtx(t)
			if !tc.wtOK {
				_, _, err := wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: cert.ClientTLS(), Transport: wt.TransportWebTransport})
				var re *wt.RefusedError
				if !errors.As(err, &re) || re.StatusCode != http.StatusInternalServerError {
					t.Fatalf("WebTransport through a writer without Unwrap: %v, want a RefusedError 500", err)
				}
				return
			}
			for _, tr := range transports {
				s := e.dial(t, ctx, tr, nil)
				st, err := s.OpenStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				st.Write([]byte("ping"))
				st.Close()
				if b, err := io.ReadAll(st); err != nil || string(b) != "ping" {
					t.Fatalf("%v echo: %q, %v", tr, b, err)
				}
				s.Close(0, "")
			}
		})
	}
}
