package sse_test

import (
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/compress"
	"github.com/wirespeed/wirespeed/sse"
)

// TestThroughCompress: behind the compress middleware each event arrives
// compressed and at once. The test is lock-step (publish one, read one), so
// an event held back in the compressor would hang it.
func TestThroughCompress(t *testing.T) {
	ctx := testCtx(t)
	s, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mw, err := compress.Middleware(&compress.Options{Encodings: []string{compress.Gzip}, MinSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw(s))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/?topic=news", nil)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport does not decode it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	dec := sse.NewDecoder(zr, 0)
	for i := range 5 {
		id, err := s.Publish(ctx, "news", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := dec.Next()
		if err != nil || ev.ID != id {
			t.Fatalf("event %d: %+v, %v", i, ev, err)
		}
	}
}

// TestHTTP2 opens more streams than the six a browser allows per origin
// over HTTP/1, all on one HTTP/2 connection, and sends each event at once.
func TestHTTP2(t *testing.T) {
	ctx := testCtx(t)
	s, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	defer s.Close()
	client := srv.Client()
	var streams []*stream
	for range 10 {
		st := open(t, ctx, client, srv.URL+"/?topic=news", nil)
		if st.resp.ProtoMajor != 2 {
			t.Fatalf("protocol %s", st.resp.Proto)
		}
		streams = append(streams, st)
	}
	testWait(t, ctx, func() bool { return s.Stats().Conns == 10 })
	for i := range 3 {
		id, err := s.Publish(ctx, "news", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range streams {
			if ev := st.next(t); ev.ID != id {
				t.Fatalf("got %+v", ev)
			}
		}
	}
	if n := s.Stats().Conns; n != 10 {
		t.Fatalf("%d streams", n)
	}
}

// TestTLSHTTP1: over TLS on HTTP/1.1 the stream owns its connection too,
// and, with no non-blocking socket write under TLS, every event goes
// through a writer goroutine.
func TestTLSHTTP1(t *testing.T) {
	ctx := testCtx(t)
	s, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"news"}, Heartbeat: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.StartTLS() // EnableHTTP2 unset: HTTP/1.1
	defer srv.Close()
	defer s.Close()
	st := open(t, ctx, srv.Client(), srv.URL+"/?topic=news", nil)
	if st.resp.ProtoMajor != 1 {
		t.Fatalf("protocol %s", st.resp.Proto)
	}
	testWait(t, ctx, func() bool { return s.Stats().Conns == 1 })
	for i := range 3 {
		id, err := s.Publish(ctx, "news", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		if ev := st.next(t); ev.ID != id {
			t.Fatalf("got %+v", ev)
		}
	}
	testWait(t, ctx, func() bool { return s.Stats().Heartbeats >= 2 })
	st.resp.Body.Close()
	testWait(t, ctx, func() bool { return s.Stats().Conns == 0 })
	if st := s.Stats(); st.Closed[sse.ReasonClient] != 1 {
		t.Fatalf("closed %v", st.Closed)
	}
}

// TestHTTP2IdleOutlivesWriteTimeout: on HTTP/2 a write deadline is a timer
// on the stream that resets it when it fires, even with no write pending;
// a stream idle for longer than WriteTimeout must stay open.
func TestHTTP2IdleOutlivesWriteTimeout(t *testing.T) {
	ctx := testCtx(t)
	s, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"news"}, WriteTimeout: 20 * time.Millisecond, Heartbeat: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	defer s.Close()
	st := open(t, ctx, srv.Client(), srv.URL+"/?topic=news", nil)
	if st.resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s", st.resp.Proto)
	}
	for i := range 3 {
		time.Sleep(100 * time.Millisecond) // idle for five write timeouts (not an assertion)
		id, err := s.Publish(ctx, "news", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		if ev := st.next(t); ev.ID != id {
			t.Fatalf("got %+v", ev)
		}
	}
}
