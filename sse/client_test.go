package sse_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/sse"
)

// TestClientReconnect: the client reconnects after the server ends the
// stream, sends the last ID it saw and uses the server's retry.
func TestClientReconnect(t *testing.T) {
	ctx := testCtx(t)
	var calls atomic.Int32
	seen := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		seen <- r.Header.Get("Last-Event-ID")
		switch n {
		case 1:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "retry: 1\nid: a\ndata: 1\n\nid: b\ndata: 2\n\n")
		case 2:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 3:
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			fmt.Fprint(w, "data: 3\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c, err := sse.NewClient(srv.URL, &sse.ClientOptions{Retry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ev, err := range c.Events(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID+"="+string(ev.Data))
	}
	if fmt.Sprint(got) != "[a=1 b=2 b=3]" {
		t.Fatalf("events %v", got)
	}
	for i, want := range []string{"", "b", "b", "b"} {
		if id := <-seen; id != want {
			t.Fatalf("request %d sent Last-Event-ID %q, want %q", i, id, want)
		}
	}
	if st := c.Stats(); st.Connects != 2 || st.Events != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientTerminal(t *testing.T) {
	ctx := testCtx(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	sub, err := sse.Subscribe(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range sub.C {
		t.Fatal("event from a 403")
	}
	var re *sse.ResponseError
	if !errors.As(sub.Err(), &re) || re.StatusCode != 403 {
		t.Fatalf("Err = %v", sub.Err())
	}
	sub.Close()
	sub.Close()
	if _, err := sse.NewClient(srv.URL, &sse.ClientOptions{HTTPClient: &http.Client{Timeout: time.Second}}); err == nil {
		t.Fatal("a client Timeout was accepted")
	}
}

// TestClientCleanEnd: a stream the server ended properly (Server.Shutdown,
// or a handler that returns) is reconnected without an error; a cut one
// is still reported through OnError.
func TestClientCleanEnd(t *testing.T) {
	ctx := testCtx(t)
	type result struct {
		errs     []error
		failures uint64
	}
	// run subscribes to url, calls connected once the first stream is
	// open, and returns what the client reported until it connected
	// again (or reconnected says it did).
	run := func(t *testing.T, url string, connected func(), reconnected func() bool) result {
		errs := make(chan error, 16)
		sub, err := sse.Subscribe(ctx, url, &sse.ClientOptions{
			Retry:   5 * time.Millisecond,
			OnError: func(err error) { errs <- err },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		testWait(t, ctx, func() bool { return sub.Client.Stats().Connects >= 1 })
		connected()
		testWait(t, ctx, func() bool { return reconnected() || sub.Client.Stats().Connects >= 2 })
		sub.Close()
		var r result
		for len(errs) > 0 {
			r.errs = append(r.errs, <-errs)
		}
		r.failures = sub.Client.Stats().Failures
		return r
	}

	t.Run("Server.Shutdown", func(t *testing.T) {
		f := testenv.StartFront[*sse.Server](t, "/?topic=feed")
		start := func() *sse.Server {
			s, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"feed"}, ShutdownWindow: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		a := start()
		f.Set(a)
		shutdown := func() {
			f.Set(start()) // the client comes back to the next instance
			if err := a.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}
		if r := run(t, f.URL, shutdown, func() bool { return false }); len(r.errs) != 0 || r.failures != 0 {
			t.Fatalf("graceful shutdown reported %v (%d failures)", r.errs, r.failures)
		}
	})

	for _, tc := range []struct {
		name string
		cut  bool
	}{{"handler returns", false}, {"connection cut", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "id: 1\ndata: x\n\n")
				http.NewResponseController(w).Flush()
				if tc.cut {
					panic(http.ErrAbortHandler) // closes the connection mid-response
				}
			}))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.Start()
			defer srv.Close()
			r := run(t, srv.URL, func() {}, func() bool { return calls.Load() >= 2 })
			if tc.cut {
				if len(r.errs) == 0 || r.failures == 0 {
					t.Fatalf("a cut stream reported %v (%d failures)", r.errs, r.failures)
				}
				return
			}
			if len(r.errs) != 0 || r.failures != 0 {
				t.Fatalf("a finished response reported %v (%d failures)", r.errs, r.failures)
			}
		})
	}
}
