package sse_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/sse"
)

// testCtx bounds a test: nothing here should take long, but a hang must
// end in a failure, not a stuck run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type server struct {
	sse    *sse.Server
	srv    *httptest.Server
	url    string // the stream of topic "news"
	closed chan sse.CloseReason
	joined chan string // lastEventID of each stream that started
}

// newServer starts an SSE server on a loopback httptest server.
func newServer(t *testing.T, opts *sse.ServerOptions) *server {
	t.Helper()
	s := &server{closed: make(chan sse.CloseReason, 1024), joined: make(chan string, 1024)}
	var o sse.ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.OnClose == nil {
		o.OnClose = func(_ *http.Request, r sse.CloseReason) { s.closed <- r }
	}
	if o.Topics == nil && o.PublicTopics == nil {
		o.PublicTopics = []string{"news"}
	}
	if o.OnConnect == nil {
		o.OnConnect = func(_ *http.Request, _ []string, from string) { s.joined <- from }
	}
	srv, err := sse.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	s.sse = srv
	s.srv = httptest.NewServer(srv)
	s.url = s.srv.URL + "/?topic=news"
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		s.srv.Close()
	})
	return s
}

func (s *server) waitJoined(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case id := <-s.joined:
		return id
	case <-ctx.Done():
		t.Fatal("no stream started")
		return ""
	}
}

func (s *server) waitClosed(t *testing.T, ctx context.Context) sse.CloseReason {
	t.Helper()
	select {
	case r := <-s.closed:
		return r
	case <-ctx.Done():
		t.Fatal("no stream ended")
		return ""
	}
}

type stream struct {
	resp *http.Response
	dec  *sse.Decoder
}

// open GETs url with the given headers and checks for an event stream.
func open(t *testing.T, ctx context.Context, client *http.Client, url string, hdr http.Header) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return &stream{resp: resp, dec: sse.NewDecoder(resp.Body, 0)}
}

func (s *stream) next(t *testing.T) sse.Event {
	t.Helper()
	ev, err := s.dec.Next()
	if err != nil {
		t.Fatalf("reading event: %v", err)
	}
	return ev
}

// end expects the stream to end.
func (s *stream) end(t *testing.T) {
	t.Helper()
	if ev, err := s.dec.Next(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("want the stream to end, got %+v, %v", ev, err)
	}
}

func publish(t *testing.T, ctx context.Context, s *sse.Server, topic string, data ...string) []string {
	t.Helper()
	var ids []string
	for _, d := range data {
		id, err := s.Publish(ctx, topic, []byte(d))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}
