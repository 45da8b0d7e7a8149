package testenv

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// A Front is one loopback HTTP address whose handler can be swapped, so
// that a client reconnects to "the same URL" served by another instance of
// a server, as it would behind a load balancer. With no handler set it
// answers 503 with Retry-After: 1, as a restarting service does.
type Front[H http.Handler] struct {
	// URL is http://127.0.0.1:port followed by the path given to StartFront.
	URL string

	cur atomic.Pointer[H]
}

// StartFront serves a Front on a free loopback port until the test ends.
func StartFront[H http.Handler](t testing.TB, path string) *Front[H] {
	t.Helper()
	f := &Front[H]{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.URL = "http://" + l.Addr().String() + path
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := f.cur.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "restarting", http.StatusServiceUnavailable)
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return f
}

// Set makes h serve the requests that arrive from now on.
func (f *Front[H]) Set(h H) { f.cur.Store(&h) }

// Clear makes the Front answer 503 until the next Set.
func (f *Front[H]) Clear() { f.cur.Store(nil) }

// Current returns the handler set last, or the zero H after Clear.
func (f *Front[H]) Current() H {
	if h := f.cur.Load(); h != nil {
		return *h
	}
	var zero H
	return zero
}
