package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/sse"
)

// TestOptionsNegative: a negative value is an error naming the field,
// except where the field gives it a meaning.
func TestOptionsNegative(t *testing.T) {
	for _, tc := range []struct {
		field string
		set   func(*sse.ServerOptions)
	}{
		{"RetryAfter", func(o *sse.ServerOptions) { o.RetryAfter = -time.Second }},
		{"QueueMessages", func(o *sse.ServerOptions) { o.QueueMessages = -1 }},
		{"QueueBytes", func(o *sse.ServerOptions) { o.QueueBytes = -1 }},
		{"BlockTimeout", func(o *sse.ServerOptions) { o.BlockTimeout = -1 }},
		{"WriteTimeout", func(o *sse.ServerOptions) { o.WriteTimeout = -1 }},
		{"Retry", func(o *sse.ServerOptions) { o.Retry = -time.Second }},
		{"ShutdownWindow", func(o *sse.ServerOptions) { o.ShutdownWindow = -time.Second }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			o := sse.ServerOptions{PublicTopics: []string{"news"}}
			tc.set(&o)
			s, err := sse.NewServer(&o)
			if err == nil {
				s.Close()
				t.Fatal("NewServer accepted a negative value")
			}
			if want := "sse: ServerOptions." + tc.field + " is negative ("; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q, want it to start with %q", err, want)
			}
		})
	}
}

// TestOptionsNegativeMeaning: the fields that give a negative value a
// meaning behave that way (Heartbeat: -1 is used throughout the tests).
func TestOptionsNegativeMeaning(t *testing.T) {
	t.Run("MaxTopics means no limit", func(t *testing.T) {
		ctx := testCtx(t)
		many := make([]string, 40)
		for i := range many {
			many[i] = fmt.Sprint("t", i)
		}
		s := newServer(t, &sse.ServerOptions{MaxTopics: -1, Topics: func(*http.Request) ([]string, error) { return many, nil }})
		open(t, ctx, nil, s.url, nil)
		s.waitJoined(t, ctx)
		if st := s.sse.Stats(); st.Topics != len(many) {
			t.Fatalf("%d topics, want %d", st.Topics, len(many))
		}
	})
	t.Run("MaxConnsPerIP and MaxConns mean no limit", func(t *testing.T) {
		ctx := testCtx(t)
		s := newServer(t, &sse.ServerOptions{MaxConns: -1, MaxConnsPerIP: -1, Heartbeat: -1})
		const n = 101 // one over the per-IP default
		for range n {
			open(t, ctx, nil, s.url, nil)
			s.waitJoined(t, ctx)
		}
		if st := s.sse.Stats(); st.Conns != n {
			t.Fatalf("%d streams, want %d", st.Conns, n)
		}
	})
}

// TestTopicNameBounded: a topic name from a Topics hook (which may pass
// on what the client sent) is bounded like ws's, and not echoed.
func TestTopicNameBounded(t *testing.T) {
	long := strings.Repeat("x", sse.MaxTopicLen+1)
	for _, topics := range [][]string{{long}, {"news", long}} {
		s := newServer(t, &sse.ServerOptions{Topics: func(*http.Request) ([]string, error) { return topics, nil }})
		resp, err := http.Get(s.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), long) {
			t.Fatalf("%d topics, one %d bytes long: status %d %q, want 400 without the name", len(topics), len(long), resp.StatusCode, body)
		}
	}
	ok := newServer(t, &sse.ServerOptions{Topics: func(*http.Request) ([]string, error) { return []string{long[1:]}, nil }})
	open(t, testCtx(t), nil, ok.url, nil)
}

// TestFanOutCallbacksRecovered: a panic or runtime.Goexit in EventType or
// TopicKey, which run on a topic's fan-out goroutine, is counted and
// costs nothing else: the event is delivered (without the type) and the
// next ones are too.
func TestFanOutCallbacksRecovered(t *testing.T) {
	for _, cb := range []string{"EventType", "TopicKey"} {
		for _, how := range []string{"panic", "goexit"} {
			t.Run(cb+"/"+how, func(t *testing.T) {
				ctx := testCtx(t)
				var calls atomic.Int32
				fail := func(data []byte) {
					if string(data) == "bad" && calls.Add(1) == 1 {
						if how == "panic" {
							panic("boom")
						}
						runtime.Goexit()
					}
				}
				o := &sse.ServerOptions{Heartbeat: -1}
				if cb == "EventType" {
					o.EventType = func(_ string, data []byte) string { fail(data); return "tick" }
				} else {
					o.Policy = sse.CoalesceByKey
					o.TopicKey = func(_ string, data []byte) string { fail(data); return "k" }
				}
				s := newServer(t, o)
				st := open(t, ctx, nil, s.url, nil)
				s.waitJoined(t, ctx)
				publish(t, ctx, s.sse, "news", "bad", "good")
				for _, want := range []string{"bad", "good"} {
					if ev := st.next(t); string(ev.Data) != want {
						t.Fatalf("event %q, want %q", ev.Data, want)
					}
				}
				if n := s.sse.Stats().CallbackPanics; n != 1 {
					t.Fatalf("CallbackPanics %d, want 1", n)
				}
			})
		}
	}
}

// TestOnCloseGoexit: OnClose calling runtime.Goexit is counted and does
// not end the request's handler goroutine, so the code after the handler
// (middleware) still runs.
func TestOnCloseGoexit(t *testing.T) {
	ctx := testCtx(t)
	closed, joined := make(chan struct{}), make(chan struct{})
	s, err := sse.NewServer(&sse.ServerOptions{
		PublicTopics: []string{"news"},
		OnConnect:    func(*http.Request, []string, string) { close(joined) },
		OnClose: func(*http.Request, sse.CloseReason) {
			close(closed)
			runtime.Goexit()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	after := make(chan struct{})
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(wrapped{w}, r) // a wrapper: the handler goroutine holds the stream
		close(after)
	}))
	open(t, ctx, nil, srv+"/?topic=news", nil)
	<-joined
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	<-closed
	select {
	case <-after:
	case <-ctx.Done():
		t.Fatal("the handler goroutine did not return: OnClose's Goexit ended it")
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().CallbackPanics; n != 1 {
		t.Fatalf("CallbackPanics %d, want 1", n)
	}
}

// TestOnConnectFails: a panic or runtime.Goexit in OnConnect is counted
// and ends that stream (ReasonCallbackPanic), releasing it; the server
// goes on and closes cleanly.
func TestOnConnectFails(t *testing.T) {
	for _, how := range []string{"panic", "goexit"} {
		t.Run(how, func(t *testing.T) {
			ctx := testCtx(t)
			var n atomic.Int32
			s := newServer(t, &sse.ServerOptions{
				Heartbeat: -1,
				OnConnect: func(*http.Request, []string, string) {
					if n.Add(1) == 1 {
						if how == "panic" {
							panic("boom")
						}
						runtime.Goexit()
					}
				},
			})
			st := open(t, ctx, nil, s.url, nil)
			if r := s.waitClosed(t, ctx); r != sse.ReasonCallbackPanic {
				t.Fatalf("reason %s", r)
			}
			st.end(t)
			if got := s.sse.Stats(); got.CallbackPanics != 1 || got.Conns != 0 {
				t.Fatalf("CallbackPanics %d, Conns %d", got.CallbackPanics, got.Conns)
			}
		})
	}
}

// wrapped is a ResponseWriter as middleware passes it: the stream cannot
// own the connection, and the handler goroutine holds it.
type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newHTTPServer serves h on loopback until the test ends; it returns the
// URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRegisterOnShutdownHTTPX: an httpx.Server's drain shuts the server
// down when it starts: streams get the goodbye and end, new ones 503,
// while the server still serves (a load balancer's DrainDelay).
func TestRegisterOnShutdownHTTPX(t *testing.T) {
	ctx := testCtx(t)
	s, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"news"}, ShutdownEvent: "bye"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv, err := httpx.NewServer(s, &httpx.ServerOptions{DrainDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s.RegisterOnShutdown(srv, 5*time.Second)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, nil) }()
	url := "http://" + l.Addr().String() + "/?topic=news"
	st := open(t, ctx, nil, url, nil)
	srv.StartDrain() // what Shutdown does first
	if ev := st.next(t); ev.Type != "bye" {
		t.Fatalf("event %+v, want the goodbye", ev)
	}
	st.end(t)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream while draining: %d, want 503", resp.StatusCode)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
}

// TestClientIPFails: a ClientIP hook that panics or calls runtime.Goexit
// answers that request 500 and is counted, as in ws; the server goes on.
func TestClientIPFails(t *testing.T) {
	for _, how := range []string{"panic", "goexit"} {
		t.Run(how, func(t *testing.T) {
			ctx := testCtx(t)
			var n atomic.Int32
			s := newServer(t, &sse.ServerOptions{ClientIP: func(r *http.Request) string {
				if n.Add(1) == 1 {
					if how == "panic" {
						panic("boom")
					}
					runtime.Goexit()
				}
				return "ip"
			}})
			resp, err := http.Get(s.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", resp.StatusCode)
			}
			open(t, ctx, nil, s.url, nil) // the next request is served
			if got := s.sse.Stats().CallbackPanics; got != 1 {
				t.Fatalf("CallbackPanics %d, want 1", got)
			}
		})
	}
}
