package ws_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// liveServer is a hub on a real http.Server at a fixed address, so it can
// be stopped and started again where clients expect it.
type liveServer struct {
	hub  *ws.Hub
	srv  *http.Server
	done chan struct{}
}

func startLive(t *testing.T, addr string, allow func(*ws.Conn, string) bool) (*liveServer, string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if allow == nil {
		allow = func(*ws.Conn, string) bool { return true }
	}
	h, err := ws.NewHub(&ws.HubOptions{ClientTopics: true, AllowTopic: allow, ShutdownJitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := &liveServer{hub: h, srv: &http.Server{Handler: h}, done: make(chan struct{})}
	h.RegisterOnShutdown(s.srv, 5*time.Second)
	go func() { defer close(s.done); s.srv.Serve(l) }()
	t.Cleanup(s.stop)
	return s, l.Addr().String()
}

func (s *liveServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx) // runs hub.Shutdown through RegisterOnShutdown
	<-s.done
	s.hub.Shutdown(ctx) // the hook runs on its own goroutine: wait for it here
}

type clientRecorder struct {
	msgs   chan string
	states chan ws.State
}

func newRecorder() *clientRecorder {
	return &clientRecorder{msgs: make(chan string, 100), states: make(chan ws.State, 100)}
}

func (r *clientRecorder) options() *ws.ClientOptions {
	return &ws.ClientOptions{
		MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
		OnMessage:  func(_ websocket.MessageType, b []byte) { r.msgs <- string(b) },
		OnState:    func(s ws.State) { r.states <- s },
	}
}

func (r *clientRecorder) next(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-ctx.Done():
		t.Fatal("no message")
		return ""
	}
}

func (r *clientRecorder) waitState(t *testing.T, ctx context.Context, want ws.State) {
	t.Helper()
	for {
		select {
		case s := <-r.states:
			if s == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("never reached state %v", want)
		}
	}
}

func TestClientSubscribeAndReconnect(t *testing.T) {
	ctx := testCtx(t)
	s1, addr := startLive(t, "127.0.0.1:0", nil)
	url := "ws://" + addr
	rec := newRecorder()
	cl, err := ws.Dial(ctx, url, rec.options())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if cl.State() != ws.StateConnected {
		t.Fatalf("state %v", cl.State())
	}
	if err := cl.Subscribe(ctx, "prices"); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.hub.Publish(ctx, "prices", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t, ctx); got != "1" {
		t.Fatalf("got %q", got)
	}
	if err := cl.Send(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}

	// Restart the server at the same address: the client sees 1001,
	// backs off, reconnects and resubscribes.
	s1.stop()
	rec.waitState(t, ctx, ws.StateConnecting)
	s2, _ := startLive(t, addr, nil)
	rec.waitState(t, ctx, ws.StateConnected)
	if _, err := s2.hub.Publish(ctx, "prices", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t, ctx); got != "2" {
		t.Fatalf("got %q", got)
	}

	if err := cl.Unsubscribe(ctx, "prices"); err != nil {
		t.Fatal(err)
	}
	if st := s2.hub.Stats(); st.Topics != 0 {
		t.Fatalf("topics after unsubscribe: %d", st.Topics)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Subscribe(ctx, "x"); !errors.Is(err, ws.ErrClientClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

func TestClientTopicRefused(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{
		ClientTopics: true,
		OnConnect:    func(context.Context, *ws.Conn) {},
		AllowTopic:   func(_ *ws.Conn, topic string) bool { return topic == "public" },
	})
	cl, err := ws.Dial(ctx, s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Subscribe(ctx, "secret"); err == nil {
		t.Fatal("subscribe to a refused topic succeeded")
	}
	if err := cl.Subscribe(ctx, "public"); err != nil {
		t.Fatal(err)
	}
}

func TestDialFails(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := ws.Dial(ctx, "ws://"+addr, nil); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}
