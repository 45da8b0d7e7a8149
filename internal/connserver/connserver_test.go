package connserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/pubsub"
)

// fakeConn is a connection of the test adapter.
type fakeConn struct {
	id     int
	ended  chan struct{}
	goAway atomic.Int32
	abort  atomic.Int32
}

type core = connserver.Server[*fakeConn, struct{}]

// newCore returns a core whose connections end as soon as they are told
// to (end ends one: the adapter's release).
func newCore(t *testing.T, cfg connserver.Config, broker pubsub.Broker) (*core, func(*fakeConn)) {
	t.Helper()
	var s *core
	end := func(c *fakeConn) {
		s.Mu.Lock()
		s.RemoveLocked(c, "ip")
		s.Mu.Unlock()
		close(c.ended)
	}
	if cfg.Pkg == "" {
		cfg.Pkg, cfg.Type = "test", "Options"
	}
	if cfg.LingerWait == 0 {
		cfg.LingerWait = 1
	}
	var err error
	s, err = connserver.New(cfg, broker, connserver.Hooks[*fakeConn, struct{}]{
		Start: func(t *connserver.Topic[*fakeConn, struct{}]) {
			sub := t.Sub
			s.WG.Go(func() {
				for {
					if _, err := sub.Next(context.Background()); err != nil && !errors.As(err, new(*pubsub.LagError)) {
						return
					}
				}
			})
		},
		Beat:   func(uint64) {},
		GoAway: func(c *fakeConn) { c.goAway.Add(1); go end(c) },
		Abort:  func(c *fakeConn) { c.abort.Add(1); go end(c) },
		Ended:  func(c *fakeConn) <-chan struct{} { return c.ended },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, end
}

func TestConfigNegative(t *testing.T) {
	for _, tc := range []struct {
		field string
		cfg   connserver.Config
	}{
		{"RetryAfter", connserver.Config{RetryAfter: -time.Second}},
		{"QueueMessages", connserver.Config{QueueMessages: -1}},
		{"QueueBytes", connserver.Config{QueueBytes: -1}},
		{"BlockTimeout", connserver.Config{BlockTimeout: -1}},
		{"WriteTimeout", connserver.Config{WriteTimeout: -1}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			tc.cfg.Pkg, tc.cfg.Type, tc.cfg.LingerWait = "x", "XOptions", 1
			err := tc.cfg.Fill()
			if err == nil || !strings.HasPrefix(err.Error(), "x: XOptions."+tc.field+" is negative (") {
				t.Fatalf("error %v, want one naming XOptions.%s", err, tc.field)
			}
		})
	}
	c := connserver.Config{Pkg: "x", Type: "XOptions", LingerWait: 1, OriginPatterns: []string{"[bad"}}
	if err := c.Fill(); err == nil {
		t.Fatal("a malformed origin pattern was accepted")
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name          string
		max, maxPerIP int
		wantGlobal    int // reservations that succeed from many IPs (0: all)
		wantPerIP     int // reservations that succeed from one IP (0: all)
	}{
		{"defaults", 0, 0, 0, 100},
		{"global", 3, 0, 3, 3},
		{"per IP", 0, 2, 0, 2},
		{"no limits", -1, -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newCore(t, connserver.Config{MaxConns: tc.max, MaxConnsPerIP: tc.maxPerIP}, nil)
			const tries = 150
			n := 0
			for i := range tries {
				if s.Reserve("10.0.0." + string(rune('a'+i%26)) + strings.Repeat("x", i)) {
					n++
				}
			}
			if want := tc.wantGlobal; want == 0 && n != tries || want != 0 && n != want {
				t.Fatalf("%d of %d reservations from many IPs, want %d", n, tries, want)
			}
			s2, _ := newCore(t, connserver.Config{MaxConns: tc.max, MaxConnsPerIP: tc.maxPerIP}, nil)
			n = 0
			for range tries {
				if s2.Reserve("1.2.3.4") {
					n++
				}
			}
			if want := tc.wantPerIP; want == 0 && n != tries || want != 0 && n != want {
				t.Fatalf("%d of %d reservations from one IP, want %d", n, tries, want)
			}
			if s2.Active() != n {
				t.Fatalf("active %d, want %d", s2.Active(), n)
			}
			s2.Release("1.2.3.4")
			if s2.Active() != n-1 {
				t.Fatal("release did not give a reservation back")
			}
		})
	}
}

func TestRefuse(t *testing.T) {
	s, _ := newCore(t, connserver.Config{RetryAfter: 1500 * time.Millisecond}, nil)
	w := httptest.NewRecorder()
	s.Refuse(w)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("%d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if s.Snapshot(nil).RejectedLimit != 1 {
		t.Fatal("not counted")
	}
}

func TestCheckOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, origin string
		patterns     []string
		ok, cross    bool
	}{
		{"no origin", "", nil, true, false},
		{"same origin", "https://example.com", nil, true, false},
		{"same origin, other case", "https://EXAMPLE.com", nil, true, false},
		{"cross origin by default", "https://evil.test", nil, false, true},
		{"pattern", "https://app.example.org", []string{"*.example.org"}, true, true},
		{"pattern does not match", "https://example.net", []string{"*.example.org"}, false, true},
		{"scheme pattern", "https://app.example.org", []string{"https://*.example.org"}, true, true},
		{"scheme pattern, other scheme", "http://app.example.org", []string{"https://*.example.org"}, false, true},
		{"null origin", "null", []string{"*"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newCore(t, connserver.Config{OriginPatterns: tc.patterns}, nil)
			r := httptest.NewRequest("GET", "http://example.com/", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			ok, cross := s.CheckOrigin(w, r)
			if ok != tc.ok || ok && cross != tc.cross {
				t.Fatalf("ok %v cross %v, want %v %v", ok, cross, tc.ok, tc.cross)
			}
			if !ok && (w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), tc.origin)) {
				t.Fatalf("refusal %d %q: want 403 without the origin echoed", w.Code, w.Body)
			}
		})
	}
}

func TestClientIPHookFails(t *testing.T) {
	for _, fail := range []func(){func() { panic("boom") }, runtime.Goexit} {
		s, _ := newCore(t, connserver.Config{ClientIP: func(*http.Request) string { fail(); return "" }}, nil)
		if _, ok := s.ClientIP(httptest.NewRequest("GET", "/", nil)); ok {
			t.Fatal("a failing hook gave an IP")
		}
		if s.Snapshot(nil).CallbackPanics != 1 {
			t.Fatal("not counted")
		}
	}
}

// countingBroker counts the subscriptions made.
type countingBroker struct {
	pubsub.Broker
	subs atomic.Int32
	gate chan struct{} // Subscribe waits for it
}

func (b *countingBroker) Subscribe(ctx context.Context, topic, from string) (pubsub.Subscription, error) {
	b.subs.Add(1)
	<-b.gate
	return b.Broker.Subscribe(ctx, topic, from)
}

// TestJoinOnce: concurrent joiners of a new topic make one broker
// subscription, and the last member's leaving closes it.
func TestJoinOnce(t *testing.T) {
	mem, err := pubsub.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	b := &countingBroker{Broker: mem, gate: make(chan struct{})}
	s, _ := newCore(t, connserver.Config{}, b)
	const n = 50
	conns := make([]*fakeConn, n)
	var wg sync.WaitGroup
	for i := range conns {
		c := &fakeConn{id: i, ended: make(chan struct{})}
		conns[i] = c
		wg.Go(func() {
			_, err := s.Join(context.Background(), "news", &connserver.Joiner[*fakeConn, struct{}]{
				Add: func(t *connserver.Topic[*fakeConn, struct{}]) { t.Members[c] = struct{}{}; t.Gen++ },
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(10 * time.Millisecond) // let them pile up on the pending topic
	close(b.gate)
	wg.Wait()
	if got := b.subs.Load(); got != 1 {
		t.Fatalf("%d broker subscriptions, want 1", got)
	}
	s.Mu.Lock()
	top := s.TopicLocked("news")
	if len(top.Members) != n {
		t.Fatalf("%d members", len(top.Members))
	}
	for _, c := range conns {
		s.LeaveLocked(top, c)
	}
	left := s.TopicsLocked()
	s.Mu.Unlock()
	if left != 0 {
		t.Fatal("topic kept after its last member left")
	}
}

func TestJoinClosing(t *testing.T) {
	s, _ := newCore(t, connserver.Config{}, nil)
	s.Close()
	_, err := s.Join(context.Background(), "news", &connserver.Joiner[*fakeConn, struct{}]{Add: func(*connserver.Topic[*fakeConn, struct{}]) {}})
	if !errors.Is(err, connserver.ErrClosing) {
		t.Fatalf("err %v", err)
	}
	if _, err := s.Publish(context.Background(), "news", nil); !errors.Is(err, connserver.ErrClosing) {
		t.Fatalf("publish err %v", err)
	}
}

// TestShutdownBatches: every connection is told to go away, none is
// dropped, whatever the batch size.
func TestShutdownBatches(t *testing.T) {
	for _, batch := range []int{0, 1, 7, 100} {
		s, _ := newCore(t, connserver.Config{ShutdownBatch: batch, ShutdownJitter: time.Millisecond}, nil)
		conns := make([]*fakeConn, 20)
		for i := range conns {
			conns[i] = &fakeConn{id: i, ended: make(chan struct{})}
			if !s.Reserve("ip") {
				t.Fatal("reserve")
			}
			if _, ok := s.Add(conns[i]); !ok {
				t.Fatal("add")
			}
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, c := range conns {
			if c.goAway.Load() != 1 || c.abort.Load() != 0 {
				t.Fatalf("batch %d: conn %d told %d times, dropped %d times", batch, c.id, c.goAway.Load(), c.abort.Load())
			}
		}
		if s.Active() != 0 || s.Reserve("ip") {
			t.Fatal("a closed server admits connections")
		}
	}
}

// registrar is a server that runs its hooks when told.
type registrar struct{ hooks []func() }

func (r *registrar) RegisterOnShutdown(f func()) { r.hooks = append(r.hooks, f) }

func TestRegisterOnShutdown(t *testing.T) {
	var r registrar
	var got time.Duration
	connserver.RegisterOnShutdown(&r, 0, func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		got = time.Until(d)
		return nil
	})
	if len(r.hooks) != 1 {
		t.Fatal("no hook registered")
	}
	r.hooks[0]()
	if got <= 0 || got > connserver.DefaultShutdownTimeout {
		t.Fatalf("deadline in %v", got)
	}
}

func TestLingerChanWithoutClock(t *testing.T) {
	s, _ := newCore(t, connserver.Config{}, nil)
	select {
	case <-s.LingerChan():
	default:
		t.Fatal("a writer lingers with no clock to end it")
	}
}
