package ws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/ws"
)

// testCtx bounds a test: nothing here should take long, but a hang must
// end in a failure, not a stuck run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type server struct {
	hub    *ws.Hub
	srv    *httptest.Server
	url    string
	closed chan ws.CloseReason // OnClose reasons
	joined chan *ws.Conn       // OnConnect, after subscribing to "news"
}

// newServer starts a hub on a loopback server. Connections subscribe to
// "news" on connect; OnClose reasons arrive on s.closed.
func newServer(t *testing.T, opts *ws.HubOptions) *server {
	t.Helper()
	s := &server{closed: make(chan ws.CloseReason, 64), joined: make(chan *ws.Conn, 64)}
	var o ws.HubOptions
	if opts != nil {
		o = *opts
	}
	if o.OnConnect == nil {
		o.OnConnect = func(ctx context.Context, c *ws.Conn) {
			err := s.hub.Subscribe(ctx, c, "news")
			if err != nil && !errors.Is(err, ws.ErrHubClosed) && !errors.Is(err, ws.ErrConnClosed) {
				t.Errorf("Subscribe: %v", err)
			}
			s.joined <- c
		}
	}
	if o.OnClose == nil {
		o.OnClose = func(_ *ws.Conn, r ws.CloseReason) { s.closed <- r }
	}
	h, err := ws.NewHub(&o)
	if err != nil {
		t.Fatal(err)
	}
	s.hub = h
	s.srv = httptest.NewServer(h)
	s.url = "ws" + strings.TrimPrefix(s.srv.URL, "http")
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("hub Close: %v", err)
		}
		s.srv.Close()
	})
	return s
}

func dial(t *testing.T, ctx context.Context, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func (s *server) waitJoined(t *testing.T, ctx context.Context) *ws.Conn {
	t.Helper()
	select {
	case c := <-s.joined:
		return c
	case <-ctx.Done():
		t.Fatal("connection never joined")
		return nil
	}
}

func (s *server) waitClosed(t *testing.T, ctx context.Context) ws.CloseReason {
	t.Helper()
	select {
	case r := <-s.closed:
		return r
	case <-ctx.Done():
		t.Fatal("connection never closed")
		return ""
	}
}

func read(t *testing.T, ctx context.Context, c *websocket.Conn) string {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return string(b)
}

func TestOrigin(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name     string
		patterns []string
		origin   string
		want     int
	}{
		{"cross-origin denied by default", nil, "http://evil.example", http.StatusForbidden},
		{"no origin header allowed", nil, "", http.StatusSwitchingProtocols},
		{"pattern allows", []string{"*.example.com"}, "https://app.example.com", http.StatusSwitchingProtocols},
		{"pattern does not match", []string{"*.example.com"}, "https://example.org", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, &ws.HubOptions{OriginPatterns: tc.patterns})
			hdr := http.Header{}
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			c, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{HTTPHeader: hdr})
			if c != nil {
				c.CloseNow()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (err %v)", resp.StatusCode, tc.want, err)
			}
			if tc.want == http.StatusForbidden && s.hub.Stats().Opened != 0 {
				t.Fatal("a forbidden origin was upgraded")
			}
		})
	}
}

func TestConnLimits(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		opts ws.HubOptions
	}{
		{"global", ws.HubOptions{MaxConns: 2, MaxConnsPerIP: -1, RetryAfter: 3 * time.Second}},
		{"per IP", ws.HubOptions{MaxConns: -1, MaxConnsPerIP: 2, RetryAfter: 3 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, &tc.opts)
			dial(t, ctx, s.url, nil)
			second := dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
			s.waitJoined(t, ctx)
			c, resp, err := websocket.Dial(ctx, s.url, nil)
			if c != nil {
				c.CloseNow()
				t.Fatal("third connection accepted over the limit")
			}
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("want 503, got %v (%v)", resp, err)
			}
			if got := resp.Header.Get("Retry-After"); got != "3" {
				t.Fatalf("Retry-After = %q, want 3", got)
			}
			if st := s.hub.Stats(); st.RejectedLimit != 1 || st.Conns != 2 {
				t.Fatalf("stats %+v", st)
			}
			// A slot frees when a connection ends.
			second.Close(websocket.StatusNormalClosure, "")
			if r := s.waitClosed(t, ctx); r != ws.ReasonClient {
				t.Fatalf("reason %q", r)
			}
			dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
		})
	}
}

func TestReadLimit(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{ReadLimit: 64})
	c := dial(t, ctx, s.url, nil)
	s.waitJoined(t, ctx)
	if err := c.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("x"), 1000)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v (%v), want 1009", got, err)
	}
	if r := s.waitClosed(t, ctx); r != ws.ReasonTooBig {
		t.Fatalf("reason %q", r)
	}
}

func TestInvalidUTF8(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	c := dial(t, ctx, s.url, nil)
	s.waitJoined(t, ctx)
	if err := c.Write(ctx, websocket.MessageText, []byte{'a', 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("close status %v (%v), want 1007", got, err)
	}
	if r := s.waitClosed(t, ctx); r != ws.ReasonInvalidUTF8 {
		t.Fatalf("reason %q", r)
	}
}

func TestBroadcast(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	var clients []*websocket.Conn
	for range 5 {
		clients = append(clients, dial(t, ctx, s.url, nil))
		s.waitJoined(t, ctx)
	}
	for i := range 3 {
		if _, err := s.hub.Publish(ctx, "news", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.hub.Publish(ctx, "other", []byte("not for you")); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		for i := range 3 {
			if got, want := read(t, ctx, c), fmt.Sprintf("m%d", i); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	}
	if st := s.hub.Stats(); st.Topics != 1 || st.Conns != 5 {
		t.Fatalf("stats %+v", st)
	}
	conns := s.hub.Conns()
	if len(conns) != 5 {
		t.Fatalf("%d conns", len(conns))
	}
	for _, c := range conns {
		if got := c.Topics(); len(got) != 1 || got[0] != "news" {
			t.Fatalf("topics %v", got)
		}
	}
	s.hub.Unsubscribe(conns[0], "news")
	if got := conns[0].Topics(); len(got) != 0 {
		t.Fatalf("topics after Unsubscribe %v", got)
	}
}

func TestTwoHubsOneBroker(t *testing.T) {
	ctx := testCtx(t)
	b, err := pubsub.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	a := newServer(t, &ws.HubOptions{Broker: b})
	bb := newServer(t, &ws.HubOptions{Broker: b})
	ca := dial(t, ctx, a.url, nil)
	a.waitJoined(t, ctx)
	cb := dial(t, ctx, bb.url, nil)
	bb.waitJoined(t, ctx)
	if _, err := a.hub.Publish(ctx, "news", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if _, err := bb.hub.Publish(ctx, "news", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{ca, cb} {
		if got := read(t, ctx, c); got != "from a" {
			t.Fatalf("got %q", got)
		}
		if got := read(t, ctx, c); got != "from b" {
			t.Fatalf("got %q", got)
		}
	}
}

func TestHandlerAndDirectSend(t *testing.T) {
	ctx := testCtx(t)
	type key struct{}
	s := newServer(t, &ws.HubOptions{
		QueueBytes: 1 << 10,
		OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, data []byte) {
			user, _ := ctx.Value(key{}).(string)
			if err := c.Send(ctx, typ, append([]byte(user+": "), data...)); err != nil {
				t.Errorf("Send: %v", err)
			}
		},
	})
	// Wrap the hub so the upgrade request carries a value.
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hub.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "ann")))
	})
	c := dial(t, ctx, s.url, nil)
	sc := s.waitJoined(t, ctx)
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, ctx, c); got != "ann: hi" {
		t.Fatalf("got %q", got)
	}
	if err := sc.Send(ctx, websocket.MessageBinary, make([]byte, 2<<10)); !errors.Is(err, ws.ErrTooLarge) {
		t.Fatalf("Send over QueueBytes: %v", err)
	}
	if err := sc.SendPriority(ctx, websocket.MessageBinary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if typ, b, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("got %v %v %v", typ, b, err)
	}
	sc.Close(websocket.StatusNormalClosure, "bye")
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("err %v", err)
	}
	if r := s.waitClosed(t, ctx); r != ws.ReasonServer {
		t.Fatalf("reason %q", r)
	}
	if err := sc.Send(ctx, websocket.MessageText, []byte("late")); !errors.Is(err, ws.ErrConnClosed) {
		t.Fatalf("Send after close: %v", err)
	}
}

// slowConsumer publishes big messages in lockstep with a fast client while
// a slow client reads nothing, until stop says enough.
func slowConsumer(t *testing.T, ctx context.Context, s *server, stop func(i int) bool) (fast *websocket.Conn) {
	t.Helper()
	dial(t, ctx, s.url, nil) // the slow one: never reads
	s.waitJoined(t, ctx)
	fast = dial(t, ctx, s.url, nil)
	s.waitJoined(t, ctx)
	msg := bytes.Repeat([]byte("p"), 64<<10)
	for i := 0; !stop(i); i++ {
		if i > 2000 {
			t.Fatal("the slow consumer never hit the policy")
		}
		if _, err := s.hub.Publish(ctx, "news", msg); err != nil {
			t.Fatal(err)
		}
		if got := read(t, ctx, fast); len(got) != len(msg) {
			t.Fatalf("fast client got %d bytes", len(got))
		}
	}
	return fast
}

func TestSlowConsumerDisconnect(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{Policy: ws.Disconnect, QueueMessages: 4, QueueBytes: 4 << 20})
	var gone ws.CloseReason
	fast := slowConsumer(t, ctx, s, func(int) bool {
		select {
		case gone = <-s.closed:
			return true
		default:
			return false
		}
	})
	if gone != ws.ReasonSlowConsumer {
		t.Fatalf("reason %q", gone)
	}
	// The fast client is unaffected.
	if _, err := s.hub.Publish(ctx, "news", []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, ctx, fast); got != "still here" {
		t.Fatalf("got %q", got)
	}
	if st := s.hub.Stats(); st.SlowConsumerDrop != 1 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSlowConsumerDropOldest(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{QueueMessages: 4, QueueBytes: 4 << 20})
	slowConsumer(t, ctx, s, func(int) bool {
		st := s.hub.Stats()
		if st.QueueDepthMax > 4 {
			t.Fatalf("queue depth %d over its bound 4", st.QueueDepthMax)
		}
		return st.DroppedOldest > 10
	})
	if st := s.hub.Stats(); st.Conns != 2 || st.QueueDepthPeak > 4 || st.QueueDepthP99 > st.QueueDepthMax || st.QueueDepthP50 > st.QueueDepthP99 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShutdown(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{ShutdownBatch: 2})
	var clients []*websocket.Conn
	for range 5 {
		clients = append(clients, dial(t, ctx, s.url, nil))
		s.waitJoined(t, ctx)
	}
	// Shut down mid-broadcast: the publisher runs until the hub refuses.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for {
			if _, err := s.hub.Publish(ctx, "news", []byte("tick")); err != nil {
				return
			}
		}
	}()
	if got := read(t, ctx, clients[0]); got != "tick" {
		t.Fatalf("got %q", got)
	}
	done := make(chan error, 1)
	go func() { done <- s.hub.Shutdown(ctx) }()
	for _, c := range clients {
		var err error
		for err == nil { // queued ticks are flushed before the close frame
			_, _, err = c.Read(ctx)
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || !strings.Contains(ce.Reason, "reconnect") {
			t.Fatalf("want 1001 with a reconnect hint, got %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-published
	for range clients {
		if r := s.waitClosed(t, ctx); r != ws.ReasonShutdown {
			t.Fatalf("reason %q", r)
		}
	}
	_, resp, _ := websocket.Dial(ctx, s.url, nil)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v", resp)
	}
	if _, err := s.hub.Publish(ctx, "news", nil); !errors.Is(err, ws.ErrHubClosed) {
		t.Fatalf("Publish after shutdown: %v", err)
	}
	if err := s.hub.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAbruptReset(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	var mu sync.Mutex
	var raw []net.Conn
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		mu.Lock()
		raw = append(raw, c)
		mu.Unlock()
		return c, err
	}}}
	for range 3 {
		dial(t, ctx, s.url, &websocket.DialOptions{HTTPClient: client})
		s.waitJoined(t, ctx)
	}
	// Publish while resetting: writes to dead sockets must not wedge.
	published := make(chan struct{})
	go func() {
		defer close(published)
		s.hub.Publish(context.Background(), "news", []byte("mid-reset"))
	}()
	defer func() { <-published }()
	mu.Lock()
	for _, c := range raw {
		c.(*net.TCPConn).SetLinger(0) // close sends RST
		c.Close()
	}
	mu.Unlock()
	for range 3 {
		if r := s.waitClosed(t, ctx); r != ws.ReasonError && r != ws.ReasonClient {
			t.Fatalf("reason %q", r)
		}
	}
	if st := s.hub.Stats(); st.Conns != 0 || st.Topics != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPingTimeout(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{PingInterval: 10 * time.Millisecond, PongTimeout: 20 * time.Millisecond})
	dial(t, ctx, s.url, nil) // never reads, so never answers a ping
	s.waitJoined(t, ctx)
	if r := s.waitClosed(t, ctx); r != ws.ReasonPingTimeout {
		t.Fatalf("reason %q", r)
	}
	if st := s.hub.Stats(); st.PingTimeouts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPingRTT(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{PingInterval: 5 * time.Millisecond, PongTimeout: 10 * time.Second})
	c := dial(t, ctx, s.url, nil)
	s.waitJoined(t, ctx)
	readCtx := c.CloseRead(ctx) // reads (and answers pings) in the background
	for s.hub.Stats().PingRTTLast == 0 {
		select {
		case <-readCtx.Done():
			t.Fatal("connection ended before a pong")
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Messages flow while pings are in flight.
	if _, err := s.hub.Publish(ctx, "news", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if st := s.hub.Stats(); st.PingRTTAvg <= 0 || st.PingTimeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCloseIdempotent(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	c := dial(t, ctx, s.url, nil)
	s.waitJoined(t, ctx)
	if err := s.hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("connection still open after Close")
	}
}

func TestNewHubInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts ws.HubOptions
	}{
		{"policy", ws.HubOptions{Policy: 99}},
		{"topic policy", ws.HubOptions{TopicPolicy: map[string]ws.Policy{"a": 99}}},
		{"reason", ws.HubOptions{ShutdownReason: strings.Repeat("x", 124)}},
		{"AllowTopic and PublicTopics", ws.HubOptions{PublicTopics: []string{"a"}, AllowTopic: func(*ws.Conn, string) bool { return true }}},
		{"malformed origin pattern", ws.HubOptions{OriginPatterns: []string{"[x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ws.NewHub(&tc.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestSlowConsumerCoalesceTopic(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{
		Policy:      ws.Disconnect, // the topic's policy overrides it
		TopicPolicy: map[string]ws.Policy{"news": ws.CoalesceByKey},
		TopicKey:    func(string, []byte) string { return "latest" },
		QueueBytes:  4 << 20,
	})
	slowConsumer(t, ctx, s, func(int) bool {
		st := s.hub.Stats()
		if st.QueueDepthMax > 1 {
			t.Fatalf("queue depth %d: one key should coalesce to one message", st.QueueDepthMax)
		}
		return st.Coalesced > 10
	})
	if st := s.hub.Stats(); st.Conns != 2 || st.SlowConsumerDrop != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConcurrentSubscribe(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	const n = 20
	clients := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, _, err := websocket.Dial(ctx, s.url, nil)
			if err != nil {
				t.Errorf("Dial: %v", err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	for _, c := range clients {
		if c == nil {
			t.FailNow()
		}
		t.Cleanup(func() { c.CloseNow() })
	}
	for range n {
		s.waitJoined(t, ctx)
	}
	if _, err := s.hub.Publish(ctx, "news", []byte("all")); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if got := read(t, ctx, c); got != "all" {
			t.Fatalf("got %q", got)
		}
	}
	if st := s.hub.Stats(); st.Topics != 1 {
		t.Fatalf("topics %d", st.Topics)
	}
}
