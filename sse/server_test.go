package sse_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/sse"
)

func TestStream(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{
		EventType: func(topic string, data []byte) string { return "news" },
		Retry:     1500 * time.Millisecond,
	})
	st := open(t, ctx, nil, s.url, nil)
	s.waitJoined(t, ctx)
	h := st.resp.Header
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no", sse.HeaderLost: ""} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	ids := publish(t, ctx, s.sse, "news", "one", "two\nlines")
	ev := st.next(t)
	if ev.ID != ids[0] || ev.Type != "news" || string(ev.Data) != "one" {
		t.Fatalf("got %+v", ev)
	}
	if st.dec.Retry() != 1500*time.Millisecond {
		t.Fatalf("retry %v", st.dec.Retry())
	}
	if ev := st.next(t); ev.ID != ids[1] || string(ev.Data) != "two\nlines" {
		t.Fatalf("got %+v", ev)
	}
	testWait(t, ctx, func() bool { return s.sse.Stats().EventsOut == 2 }) // counted after the flush
	stats := s.sse.Stats()
	if stats.Conns != 1 || stats.Topics != 1 || stats.Opened != 1 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestResume(t *testing.T) {
	for _, via := range []string{"header", "query"} {
		t.Run(via, func(t *testing.T) {
			ctx := testCtx(t)
			s := newServer(t, nil)
			// A live stream keeps the topic's fan-out running.
			live := open(t, ctx, nil, s.url, nil)
			s.waitJoined(t, ctx)
			ids := publish(t, ctx, s.sse, "news", "0", "1", "2", "3")
			for i := range 4 {
				live.next(t)
				_ = i
			}
			url, hdr := s.url, http.Header{}
			if via == "header" {
				hdr.Set("Last-Event-ID", ids[1])
			} else {
				url += "&lastEventID=" + ids[1]
			}
			st := open(t, ctx, nil, url, hdr)
			if from := s.waitJoined(t, ctx); from != ids[1] {
				t.Fatalf("server saw from %q", from)
			}
			more := publish(t, ctx, s.sse, "news", "4", "5")
			for i, want := range []string{ids[2], ids[3], more[0], more[1]} {
				ev := st.next(t)
				if ev.ID != want || string(ev.Data) != strconv.Itoa(i+2) {
					t.Fatalf("event %d: %+v, want id %s", i, ev, want)
				}
			}
			if st.resp.Header.Get(sse.HeaderLost) != "" {
				t.Fatal("lost header on a full replay")
			}
			// 2, or more when the fan-out dispatched "4" before the
			// replay caught up (it then replays up to there).
			if got := s.sse.Stats().Replayed; got < 2 {
				t.Fatalf("Replayed = %d", got)
			}
		})
	}
}

// TestResumeNewTopic resumes a stream of a topic that has no fan-out yet:
// the replay must continue until the fan-out delivered a message.
func TestResumeNewTopic(t *testing.T) {
	ctx := testCtx(t)
	b, err := pubsub.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var ids []string
	for i := range 3 {
		id, _ := b.Publish(ctx, "news", []byte(strconv.Itoa(i)))
		ids = append(ids, id)
	}
	s := newServer(t, &sse.ServerOptions{Broker: b})
	st := open(t, ctx, nil, s.url, http.Header{"Last-Event-ID": {ids[0]}})
	s.waitJoined(t, ctx)
	more := publish(t, ctx, s.sse, "news", "3", "4")
	for _, want := range append(ids[1:], more...) {
		if ev := st.next(t); ev.ID != want {
			t.Fatalf("got %+v, want %s", ev, want)
		}
	}
}

func TestLost(t *testing.T) {
	ctx := testCtx(t)
	b, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := newServer(t, &sse.ServerOptions{Broker: b})
	var ids []string
	for i := range 6 {
		id, _ := b.Publish(ctx, "news", []byte(strconv.Itoa(i)))
		ids = append(ids, id)
	}
	tests := []struct {
		name, from string
		data       string // of the lost event: the ID, never what is not one
		replay     []string
	}{
		{"older than retained", ids[0], ids[0], ids[3:]},
		{"not an ID", "bogus", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t, ctx, nil, s.url, http.Header{"Last-Event-ID": {tt.from}})
			if st.resp.Header.Get(sse.HeaderLost) != "true" {
				t.Fatalf("no %s header", sse.HeaderLost)
			}
			if ev := st.next(t); ev.Type != "lost" || string(ev.Data) != tt.data {
				t.Fatalf("first event %+v", ev)
			}
			for _, want := range tt.replay {
				if ev := st.next(t); ev.ID != want {
					t.Fatalf("got %+v, want %s", ev, want)
				}
			}
		})
	}
	if st := s.sse.Stats(); st.ResumedLost != 2 || st.Resumed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefused(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{
		MaxConnsPerIP:  1,
		RetryAfter:     1500 * time.Millisecond,
		OriginPatterns: []string{"*.example.com"},
		Topics: func(r *http.Request) ([]string, error) {
			switch r.URL.Query().Get("auth") {
			case "":
				return nil, &sse.StatusError{Code: http.StatusUnauthorized, Message: "log in"}
			case "bad":
				return nil, errors.New("nope")
			}
			return []string{"news"}, nil
		},
	})
	open(t, ctx, nil, s.srv.URL+"/?auth=ok", nil)
	s.waitJoined(t, ctx)
	tests := []struct {
		name   string
		method string
		query  string
		origin string
		code   int
	}{
		{"no auth", "GET", "", "", 401},
		{"bad auth", "GET", "auth=bad", "", 403},
		{"per-IP limit", "GET", "auth=ok", "", 503},
		{"cross origin", "GET", "auth=ok", "https://evil.test", 403},
		{"POST", "POST", "auth=ok", "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, tt.method, s.srv.URL+"/?"+tt.query, nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if tt.code == 503 && resp.Header.Get("Retry-After") != "2" {
				t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
	// An allowed cross origin gets CORS headers (on a second server, the
	// first is at its per-IP limit).
	s2 := newServer(t, &sse.ServerOptions{OriginPatterns: []string{"*.example.com"}})
	st := open(t, ctx, nil, s2.url, http.Header{"Origin": {"https://app.example.com"}})
	if got := st.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Fatalf("ACAO %q", got)
	}
	if st := s.sse.Stats(); st.RejectedLimit != 1 || st.RejectedTopics != 2 || st.RejectedOrigin != 1 {
		t.Fatalf("stats %+v", st)
	}
	// No TopicsFunc and no topic parameter.
	resp, err := http.Get(s2.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestHeartbeat(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{Heartbeat: 10 * time.Millisecond})
	st := open(t, ctx, nil, s.url, nil)
	s.waitJoined(t, ctx)
	r := bufio.NewReader(st.resp.Body)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "id: ") {
		t.Fatalf("live stream starts with %q, want its anchor id", line)
	}
	r.ReadString('\n')
	for range 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line != ":\n" {
			t.Fatalf("got %q", line)
		}
		r.ReadString('\n')
	}
	testWait(t, ctx, func() bool { return s.sse.Stats().Heartbeats >= 2 })
}

// TestHeartbeatEveryIdleStream: one server goroutine heartbeats every
// idle stream; heartbeats are counted apart from events and do not get in
// the way of the events that follow.
func TestHeartbeatEveryIdleStream(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{Heartbeat: 10 * time.Millisecond})
	var readers []*bufio.Reader
	for range 3 {
		st := open(t, ctx, nil, s.url, nil)
		s.waitJoined(t, ctx)
		readers = append(readers, bufio.NewReader(st.resp.Body))
	}
	for i, r := range readers {
		beats := 0
		for beats < 2 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			if line == ":\n" {
				beats++
			}
		}
	}
	// Counted after the write returns, so maybe after the client read it.
	testWait(t, ctx, func() bool { return s.sse.Stats().Heartbeats >= 6 })
	if n := s.sse.Stats().EventsOut; n != 0 {
		t.Fatalf("%d events out before any was published; heartbeats must not count", n)
	}
	if _, err := s.sse.Publish(ctx, "news", []byte("after")); err != nil {
		t.Fatal(err)
	}
	for i, r := range readers {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			if line == "data: after\n" {
				break
			}
		}
	}
	testWait(t, ctx, func() bool { return s.sse.Stats().EventsOut == 3 })
}

// TestIdleStreamHasNoWriter: a stream's writer goroutine runs while
// events come and exits once the stream has been idle for a linger tick;
// the next event starts another.
func TestIdleStreamHasNoWriter(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{Heartbeat: -1})
	st := open(t, ctx, nil, s.url, nil)
	s.waitJoined(t, ctx)
	r := bufio.NewReader(st.resp.Body)
	for i := range 3 {
		testWait(t, ctx, func() bool { return s.sse.Writers() == 0 })
		data := "e" + strconv.Itoa(i)
		if _, err := s.sse.Publish(ctx, "news", []byte(data)); err != nil {
			t.Fatal(err)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == "data: "+data+"\n" {
				break
			}
		}
	}
	testWait(t, ctx, func() bool { return s.sse.Writers() == 0 })
}

func TestShutdown(t *testing.T) {
	ctx := testCtx(t)
	const window = 2 * time.Second
	s := newServer(t, &sse.ServerOptions{ShutdownWindow: window, ShutdownEvent: "bye"})
	var streams []*stream
	for range 5 {
		streams = append(streams, open(t, ctx, nil, s.url, nil))
		s.waitJoined(t, ctx)
	}
	ids := publish(t, ctx, s.sse, "news", "last")
	for _, st := range streams {
		if ev := st.next(t); ev.ID != ids[0] {
			t.Fatalf("got %+v", ev)
		}
	}
	if err := s.sse.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	retries := map[time.Duration]bool{}
	for _, st := range streams {
		ev := st.next(t)
		if ev.Type != "bye" || st.dec.Retry() < window/10 || st.dec.Retry() > window {
			t.Fatalf("goodbye %+v, retry %v", ev, st.dec.Retry())
		}
		retries[st.dec.Retry()] = true
		st.end(t)
	}
	if len(retries) < 2 {
		t.Fatalf("retry not randomized: %v", retries)
	}
	for range 5 {
		if r := s.waitClosed(t, ctx); r != sse.ReasonShutdown {
			t.Fatalf("reason %q", r)
		}
	}
	if _, err := s.sse.Publish(ctx, "news", nil); !errors.Is(err, sse.ErrServerClosed) {
		t.Fatalf("Publish after Shutdown: %v", err)
	}
	resp, err := http.Get(s.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("status after Shutdown %d", resp.StatusCode)
	}
	if err := s.sse.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.sse.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// TestRegisterOnShutdown: http.Server.Shutdown returns once the streams
// have ended, instead of waiting for them until its context expires.
func TestRegisterOnShutdown(t *testing.T) {
	ctx := testCtx(t)
	s, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	s.RegisterOnShutdown(srv, 5*time.Second)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	st := open(t, ctx, nil, "http://"+l.Addr().String()+"/?topic=a", nil)
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st.end(t)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	s.Close()
}

// rawStuckClient opens a stream by hand on a TCP connection and never
// reads: its socket buffers fill and the server's writes stall.
func rawStuckClient(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
	return c
}

// TestSlowSubscriberIsolated: a client that never reads is dropped (by its
// queue policy, or by the write deadline when the policy drops events
// instead) while the others go on.
func TestSlowSubscriberIsolated(t *testing.T) {
	for _, tc := range []struct {
		policy  sse.Policy
		reasons []sse.CloseReason // the queue or the write deadline, whichever comes first
	}{
		{sse.Disconnect, []sse.CloseReason{sse.ReasonSlowConsumer, sse.ReasonWriteTimeout}},
		{sse.DropOldest, []sse.CloseReason{sse.ReasonWriteTimeout}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			ctx := testCtx(t)
			stuck := make(chan sse.CloseReason, 1)
			s := newServer(t, &sse.ServerOptions{
				Policy: tc.policy, QueueMessages: 8, WriteTimeout: 200 * time.Millisecond,
				OnClose: func(r *http.Request, reason sse.CloseReason) {
					if r.URL.Query().Get("who") == "stuck" {
						stuck <- reason
					}
				},
			})
			addr := strings.TrimPrefix(s.srv.URL, "http://")
			rawStuckClient(t, addr, "/?topic=news&who=stuck")
			s.waitJoined(t, ctx)
			// The reading client resumes with Last-Event-ID if its own
			// queue overflows, so under Disconnect it gets every event.
			fast, err := sse.Subscribe(ctx, s.url, &sse.ClientOptions{Retry: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer fast.Close()
			s.waitJoined(t, ctx)
			payload := strings.Repeat("x", 16<<10)
			var ids []string
			var reason sse.CloseReason
		loop:
			for {
				select {
				case reason = <-stuck:
					break loop
				case <-ctx.Done():
					t.Fatal("stuck client never dropped")
				default:
				}
				ids = append(ids, publish(t, ctx, s.sse, "news", payload)...)
				if len(ids)%8 == 0 {
					time.Sleep(time.Millisecond) // pacing, not an assertion
				}
			}
			if !slices.Contains(tc.reasons, reason) {
				t.Fatalf("stuck client closed for %q, want one of %q", reason, tc.reasons)
			}
			last := ""
			for n := 0; last != ids[len(ids)-1]; n++ {
				var ev sse.Event
				select {
				case ev = <-fast.C:
				case <-ctx.Done():
					t.Fatalf("fast client got %d of %d", n, len(ids))
				}
				if ev.Type == "lost" {
					// The topic's fan-out fell behind the broker's
					// buffer (a slow run): only possible as a drop.
					if tc.policy == sse.Disconnect {
						t.Skip("the fan-out lagged the broker; nothing to check about exactness")
					}
					n--
					continue
				}
				if last != "" && pubsub.CompareIDs(ev.ID, last) <= 0 {
					t.Fatalf("out of order: %s after %s", ev.ID, last)
				}
				if tc.policy == sse.Disconnect && ev.ID != ids[n] {
					t.Fatalf("event %d is %s, want %s", n, ev.ID, ids[n])
				}
				last = ev.ID
			}
		})
	}
}

func testWait(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition never met")
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func TestNewServerInvalid(t *testing.T) {
	pub := []string{"news"}
	topics := func(*http.Request) ([]string, error) { return []string{"news"}, nil }
	tests := []struct {
		name string
		opt  *sse.ServerOptions
		want error // nil: any error
	}{
		{"nil options: no topics", nil, sse.ErrNoTopics},
		{"no Topics, no PublicTopics", &sse.ServerOptions{MaxTopics: 4}, sse.ErrNoTopics},
		{"Topics and PublicTopics", &sse.ServerOptions{Topics: topics, PublicTopics: pub}, nil},
		{"unknown policy", &sse.ServerOptions{PublicTopics: pub, Policy: 99}, nil},
		{"unknown topic policy", &sse.ServerOptions{PublicTopics: pub, TopicPolicy: map[string]sse.Policy{"a": 42}}, nil},
		{"line break in LostEvent", &sse.ServerOptions{PublicTopics: pub, LostEvent: "a\nb"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sse.NewServer(tt.opt)
			if err == nil {
				s.Close()
				t.Fatal("NewServer succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestClientGoneEndsStream: a client that closes its connection ends the
// stream at once (reason "client"), also when it is idle.
func TestClientGoneEndsStream(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{Heartbeat: -1})
	for range 3 {
		st := open(t, ctx, nil, s.url, nil)
		s.waitJoined(t, ctx)
		st.resp.Body.Close()
		if r := s.waitClosed(t, ctx); r != sse.ReasonClient {
			t.Fatalf("reason %q", r)
		}
	}
	if n := s.sse.Stats().Conns; n != 0 {
		t.Fatalf("%d streams open", n)
	}
}

// TestOnCloseRecovered: a panic or runtime.Goexit in OnClose (which runs
// on a server goroutine) neither crashes the process nor keeps Close
// waiting; both are counted.
func TestOnCloseRecovered(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{
		OnClose: func(r *http.Request, _ sse.CloseReason) {
			if r.URL.Query().Get("how") == "panic" {
				panic("OnClose panics")
			}
			runtime.Goexit()
		},
	})
	for _, how := range []string{"panic", "goexit"} {
		st := open(t, ctx, nil, s.url+"&how="+how, nil)
		s.waitJoined(t, ctx)
		st.resp.Body.Close()
	}
	testWait(t, ctx, func() bool { return s.sse.Stats().CallbackPanics == 2 })
	testWait(t, ctx, func() bool { return s.sse.Stats().Conns == 0 })
	open(t, ctx, nil, s.url+"&how=panic", nil)
	s.waitJoined(t, ctx)
	if err := s.sse.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.sse.Stats().CallbackPanics; n != 3 {
		t.Fatalf("CallbackPanics = %d", n)
	}
}

// TestSlowReaderGetsEverythingIntact: a client that reads slowly through
// a small receive buffer makes the server's socket writes partial (the
// rest is written before anything else) and moves events between inline
// writes and the writer's batches; every event must arrive whole and in
// order.
func TestSlowReaderGetsEverythingIntact(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &sse.ServerOptions{QueueMessages: 4096, QueueBytes: 64 << 20, Heartbeat: 5 * time.Millisecond})
	addr := strings.TrimPrefix(s.srv.URL, "http://")
	// Default socket buffers: a tiny receive buffer would stall the
	// transfer in TCP's zero-window probing, not in the server.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /?topic=news HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	s.waitJoined(t, ctx)
	const events = 300
	want := make([]string, events)
	for i := range events {
		want[i] = strings.Repeat(strconv.Itoa(i%10), 1+(i*997)%20000)
	}
	var got atomic.Int64
	done := make(chan error, 1)
	go func() {
		// Read through net/http's chunked decoding, slowly.
		resp, err := http.ReadResponse(bufio.NewReaderSize(slowReader{c}, 512), nil)
		if err != nil {
			done <- err
			return
		}
		dec := sse.NewDecoder(resp.Body, 0)
		for i := 0; i < events; {
			ev, err := dec.Next()
			if err != nil {
				done <- err
				return
			}
			if ev.ID == "" || string(ev.Data) != want[i] {
				done <- fmt.Errorf("event %d: %d bytes (id %q), want %d bytes", i, len(ev.Data), ev.ID, len(want[i]))
				return
			}
			i++
			got.Add(1)
		}
		done <- nil
	}()
	for i := range events {
		publish(t, ctx, s.sse, "news", want[i])
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // pacing: some events go inline, some queue
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatalf("client got %d of %d events; stats %+v", got.Load(), events, s.sse.Stats())
	}
}

// slowReader reads at most 700 bytes at a time, pausing between reads.
type slowReader struct{ c net.Conn }

func (r slowReader) Read(p []byte) (int, error) {
	time.Sleep(50 * time.Microsecond) // pacing, not an assertion
	return r.c.Read(p[:min(len(p), 700)])
}
