package ws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

func TestClientTopicsNeedAnAllowList(t *testing.T) {
	allow := func(*ws.Conn, string) bool { return true }
	for _, tc := range []struct {
		name string
		opts ws.HubOptions
		ok   bool
	}{
		{"neither PublicTopics nor AllowTopic", ws.HubOptions{ClientTopics: true}, false},
		{"PublicTopics", ws.HubOptions{ClientTopics: true, PublicTopics: []string{"news"}}, true},
		{"AllowTopic", ws.HubOptions{ClientTopics: true, AllowTopic: allow}, true},
		{"no ClientTopics", ws.HubOptions{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ws.NewHub(&tc.opts)
			if h != nil {
				h.Close()
			}
			if tc.ok != (err == nil) {
				t.Fatalf("NewHub: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), "PublicTopics") {
				t.Fatalf("the error does not say what to set: %v", err)
			}
		})
	}
}

// controlClient subscribes through the control protocol with a plain
// coder/websocket client and returns each answer.
type controlClient struct {
	t *testing.T
	c *websocket.Conn
}

func (cc controlClient) do(ctx context.Context, op, topic string) ws.Control {
	cc.t.Helper()
	b, _ := json.Marshal(ws.Control{Op: op, Topic: topic})
	if err := cc.c.Write(ctx, websocket.MessageText, b); err != nil {
		cc.t.Fatal(err)
	}
	var m ws.Control
	if err := json.Unmarshal([]byte(read(cc.t, ctx, cc.c)), &m); err != nil {
		cc.t.Fatal(err)
	}
	return m
}

// TestClientTopicAllowList: PublicTopics or AllowTopic (not both, as in
// sse) decide what a client may subscribe to.
func TestClientTopicAllowList(t *testing.T) {
	for _, o := range []struct {
		name string
		opts ws.HubOptions
	}{
		{"public topics", ws.HubOptions{PublicTopics: []string{"news", "user.1"}}},
		{"allow hook", ws.HubOptions{AllowTopic: func(_ *ws.Conn, topic string) bool { return topic == "news" || topic == "user.1" }}},
	} {
		t.Run(o.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := o.opts
			opts.ClientTopics = true
			opts.OnConnect = func(context.Context, *ws.Conn) {}
			s := newServer(t, &opts)
			cc := controlClient{t, dial(t, ctx, s.url, nil)}
			for _, tc := range []struct {
				topic, op string
			}{
				{"news", ws.OpSubscribed},
				{"user.1", ws.OpSubscribed},
				{"admin", ws.OpError},
				{"user.2", ws.OpError},
				{"", ws.OpError},
			} {
				if m := cc.do(ctx, ws.OpSubscribe, tc.topic); m.Op != tc.op {
					t.Fatalf("subscribe %q: %+v, want %s", tc.topic, m, tc.op)
				}
			}
			long := strings.Repeat("x", ws.MaxTopicLen+1)
			if m := cc.do(ctx, ws.OpSubscribe, long); m.Op != ws.OpError || m.Topic != "" {
				t.Fatalf("subscribe to a long name: %+v, want an error that does not echo it", m)
			}
			if st := s.hub.Stats(); st.Topics != 2 {
				t.Fatalf("topics %d", st.Topics)
			}
		})
	}
}

func TestMaxTopicsPerConn(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{
		ClientTopics:     true,
		AllowTopic:       func(*ws.Conn, string) bool { return true },
		MaxTopicsPerConn: 3,
	})
	cc := controlClient{t, dial(t, ctx, s.url, nil)}
	sc := s.waitJoined(t, ctx) // in "news"
	for _, topic := range []string{"a", "b", "a", "b", "news"} {
		// Repeated subscribes are answered and cost nothing.
		if m := cc.do(ctx, ws.OpSubscribe, topic); m.Op != ws.OpSubscribed {
			t.Fatalf("subscribe %q: %+v", topic, m)
		}
	}
	m := cc.do(ctx, ws.OpSubscribe, "c")
	if m.Op != ws.OpError || m.Topic != "c" || !strings.Contains(m.Error, "too many topics") {
		t.Fatalf("subscribe over the limit: %+v", m)
	}
	if err := s.hub.Subscribe(ctx, sc, "d"); !errors.Is(err, ws.ErrTooManyTopics) {
		t.Fatalf("Hub.Subscribe over the limit: %v", err)
	}
	// The connection stays up: unsubscribe one, and there is room.
	if m := cc.do(ctx, ws.OpUnsubscribe, "a"); m.Op != ws.OpUnsubscribed {
		t.Fatalf("unsubscribe: %+v", m)
	}
	if m := cc.do(ctx, ws.OpSubscribe, "c"); m.Op != ws.OpSubscribed {
		t.Fatalf("subscribe after unsubscribing: %+v", m)
	}
	if got := len(sc.Topics()); got != 3 {
		t.Fatalf("%d topics", got)
	}
	// Many concurrent subscribes by the application respect the limit too.
	dial(t, ctx, s.url, nil)
	sc2 := s.waitJoined(t, ctx)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { s.hub.Subscribe(ctx, sc2, fmt.Sprint("t", i)) })
	}
	wg.Wait()
	if got := len(sc2.Topics()); got != 3 {
		t.Fatalf("%d topics after concurrent subscribes, limit 3", got)
	}
}

func TestSendErrors(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	dial(t, ctx, s.url, nil)
	sc := s.waitJoined(t, ctx)
	for _, tc := range []struct {
		name string
		send func() error
	}{
		{"type 0", func() error { return sc.Send(ctx, 0, []byte("x")) }},
		{"type 3", func() error { return sc.Send(ctx, 3, []byte("x")) }},
		{"text not UTF-8", func() error { return sc.Send(ctx, websocket.MessageText, []byte{0xff}) }},
		{"keyed text not UTF-8", func() error { return sc.SendKeyed(ctx, websocket.MessageText, "k", []byte{0xc3}) }},
		{"priority text not UTF-8", func() error { return sc.SendPriority(ctx, websocket.MessageText, []byte{0xff}) }},
		{"priority ping opcode", func() error { return sc.SendPriority(ctx, 9, nil) }},
	} {
		if err := tc.send(); !errors.Is(err, ws.ErrInvalidMessage) {
			t.Errorf("%s: %v, want ErrInvalidMessage", tc.name, err)
		}
	}
	if err := sc.Send(ctx, websocket.MessageBinary, []byte{0xff}); err != nil {
		t.Fatalf("binary: %v", err)
	}
	if err := s.hub.Close(); err != nil {
		t.Fatal(err)
	}
	err := sc.Send(ctx, websocket.MessageText, []byte("late"))
	if !errors.Is(err, ws.ErrHubClosed) || !errors.Is(err, ws.ErrConnClosed) {
		t.Fatalf("Send after Hub.Close: %v, want ErrHubClosed and ErrConnClosed", err)
	}
}

func TestSendAfterWriteFailure(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{WriteTimeout: 50 * time.Millisecond, QueueBytes: 8 << 20})
	dial(t, ctx, s.url, nil) // never reads
	sc := s.waitJoined(t, ctx)
	big := bytes.Repeat([]byte("x"), 256<<10)
	var err error
	for err == nil {
		if ctx.Err() != nil {
			t.Fatal("the write never timed out")
		}
		err = sc.Send(ctx, websocket.MessageBinary, big)
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, ws.ErrConnClosed) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send after a write timed out: %v, want ErrConnClosed wrapping the timeout", err)
	}
	if r := s.waitClosed(t, ctx); r != ws.ReasonWriteTimeout {
		t.Fatalf("reason %q", r)
	}
}

// A topic the hub refuses must not stop the client from reconnecting: the
// client forgets it (telling OnError once) and resubscribes the others.
func TestClientDropsRefusedTopic(t *testing.T) {
	ctx := testCtx(t)
	s1, addr := startLive(t, "127.0.0.1:0", func(_ *ws.Conn, topic string) bool { return topic != "secret" })
	rec := newRecorder()
	opts := rec.options()
	errs := make(chan error, 10)
	opts.OnError = func(err error) { errs <- err }
	cl, err := ws.Dial(ctx, "ws://"+addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, topic := range []string{"prices", "news"} {
		if err := cl.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Subscribe(ctx, "secret"); !errors.Is(err, ws.ErrTopicRefused) {
		t.Fatalf("subscribe to a refused topic: %v", err)
	}

	// The next server no longer allows "news".
	restart := func(prev *liveServer) *liveServer {
		prev.stop()
		rec.waitState(t, ctx, ws.StateConnecting)
		s, _ := startLive(t, addr, func(_ *ws.Conn, topic string) bool { return topic == "prices" })
		rec.waitState(t, ctx, ws.StateConnected)
		if _, err := s.hub.Publish(ctx, "prices", []byte("p")); err != nil {
			t.Fatal(err)
		}
		if got := rec.next(t, ctx); got != "p" {
			t.Fatalf("got %q", got)
		}
		return s
	}
	s2 := restart(s1)
	select {
	case err := <-errs:
		if !errors.Is(err, ws.ErrTopicRefused) || !strings.Contains(err.Error(), `"news"`) {
			t.Fatalf("OnError: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the refused resubscription was not reported")
	}
	restart(s2)
	select {
	case err := <-errs:
		t.Fatalf("reported again: %v", err)
	default:
	}
}
