package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/pubsub/internal/brokertest"
	pubsubredis "github.com/wirespeed/wirespeed/pubsub/redis"
)

// safety bounds waits that would otherwise hang; never an assertion.
const safety = 30 * time.Second

func client(t *testing.T, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var fast = &pubsubredis.Options{Block: 50 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}

func newBroker(t *testing.T, c goredis.UniversalClient, o *pubsubredis.Options) *pubsubredis.Broker {
	t.Helper()
	b, err := pubsubredis.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), safety)
	t.Cleanup(cancel)
	return c
}

func TestContract(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := client(t, srv.Addr)
	brokertest.Run(t, func(t *testing.T) pubsub.Broker {
		return newBroker(t, c, fast)
	})
}

func TestTwoInstances(t *testing.T) {
	srv := testenv.StartRedis(t)
	a := newBroker(t, client(t, srv.Addr), fast)
	b := newBroker(t, client(t, srv.Addr), fast)
	sa, err := a.Subscribe(ctx(t), "room", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := b.Subscribe(ctx(t), "room", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	idA, err := a.Publish(ctx(t), "room", []byte("from a"))
	if err != nil {
		t.Fatal(err)
	}
	idB, err := b.Publish(ctx(t), "room", []byte("from b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []pubsub.Subscription{sa, sb} {
		got := brokertest.Expect(t, s, "from a", "from b")
		if got[0].ID != idA || got[1].ID != idB {
			t.Fatalf("ids %q %q, want %q %q", got[0].ID, got[1].ID, idA, idB)
		}
	}
	// History is shared: b replays what a published.
	r, err := b.Subscribe(ctx(t), "room", "0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Lost() {
		t.Error("Lost on an untrimmed stream")
	}
	brokertest.Expect(t, r, "from a", "from b")
}

func TestLostAfterTrim(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := client(t, srv.Addr)
	b := newBroker(t, c, fast)
	settled(t, c)
	var ids []string
	for i := range 5 {
		id, err := b.Publish(ctx(t), "t", fmt.Appendf(nil, "m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := c.XTrimMaxLen(ctx(t), "pubsub:t", 2).Err(); err != nil { // exact trim: m0..m2 gone
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx(t), "t", []byte("m5")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from string
		lost       bool
		first      string
	}{
		{"before trimmed", ids[0], true, "m3"},
		{"last trimmed (conservative)", ids[2], true, "m3"},
		{"first retained", ids[3], false, "m4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := b.Subscribe(ctx(t), "t", tt.from)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Lost() != tt.lost {
				t.Errorf("Lost %v, want %v", s.Lost(), tt.lost)
			}
			brokertest.Expect(t, s, tt.first)
		})
	}
	// XDEL in the middle: exact, via max-deleted-entry-id.
	if err := c.XDel(ctx(t), "pubsub:t", ids[4]).Err(); err != nil {
		t.Fatal(err)
	}
	s, err := b.Subscribe(ctx(t), "t", ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if !s.Lost() {
		t.Error("entry after fromID deleted: not Lost")
	}
	brokertest.Expect(t, s, "m5")
	s.Close()
	// A stream that never existed while this server ran: nothing lost
	// (TestLostAfterDataLoss has the stream Redis lost).
	s, err = b.Subscribe(ctx(t), "never", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Lost() {
		t.Error("stream never written: Lost")
	}
}

func TestLaggedThenReplayFromStream(t *testing.T) {
	srv := testenv.StartRedis(t)
	o := *fast
	o.Buffer = 4
	b := newBroker(t, client(t, srv.Addr), &o)
	s, err := b.Subscribe(ctx(t), "t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string
	for i := range 10 {
		if _, err := b.Publish(ctx(t), "t", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("m%d", i))
	}
	testenv.WaitFor(t, safety, "the reader to receive 10 messages", func() bool { return b.Stats().Received == 10 })
	_, err = s.Next(ctx(t))
	var lag *pubsub.LagError
	if !errors.As(err, &lag) || lag.Missed != 6 {
		t.Fatalf("Next: %v, want LagError with 6 missed", err)
	}
	// Nothing was read yet, so LastID is the fromID (""): replay from the
	// start of the stream.
	from := lag.LastID
	if from == "" {
		from = "0"
	}
	r, err := b.Subscribe(ctx(t), "t", from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	brokertest.Expect(t, r, want...)
}

func TestOptions(t *testing.T) {
	if _, err := pubsubredis.New(nil, nil); err == nil {
		t.Error("nil client accepted")
	}
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := pubsubredis.New(c, &pubsubredis.Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond}); err == nil {
		t.Error("MaxBackoff < MinBackoff accepted")
	}
	b, err := pubsubredis.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRedisRestart kills redis-server (losing its data: persistence is off)
// while messages are being published, restarts it, and checks what the
// package doc promises: no panic, subscriptions survive, local subscribers
// get this instance's messages meanwhile (ErrLocalOnly), readers resume,
// nothing is delivered twice (a publish cut off mid-XADD may have reached
// Redis and its reader too), Redis IDs stay in order, and every message
// published after the restart reaches every instance.
func TestRedisRestart(t *testing.T) {
	srv := testenv.StartRedis(t)
	ca, cb := client(t, srv.Addr), client(t, srv.Addr)
	a := newBroker(t, ca, fast)
	b := newBroker(t, cb, fast)
	sa, err := a.Subscribe(ctx(t), "t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := b.Subscribe(ctx(t), "t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	// A publisher that runs across the outage.
	var (
		restarted atomic.Bool
		mu        sync.Mutex
		mustSee   = map[string]bool{} // published OK after the restart
		localOnly = map[string]bool{}
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		okAfter   atomic.Int64
	)
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			after := restarted.Load()
			data := fmt.Sprintf("p%d", i)
			_, err := a.Publish(ctx(t), "t", []byte(data))
			mu.Lock()
			switch {
			case err == nil && after:
				mustSee[data] = true
				okAfter.Add(1)
			case errors.Is(err, pubsubredis.ErrLocalOnly):
				localOnly[data] = true
			case err != nil && !errors.Is(err, pubsubredis.ErrLocalOnly):
				t.Errorf("publish %s: %v, want nil or ErrLocalOnly", data, err)
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(time.Millisecond) // pace retries during the outage
			}
		}
	})
	testenv.WaitFor(t, safety, "publishes before the kill", func() bool { return a.Stats().Published >= 20 })
	srv.Kill()
	testenv.WaitFor(t, safety, "a local-only publish", func() bool { return a.Stats().LocalOnly >= 5 })
	srv.Restart()
	restarted.Store(true)
	testenv.WaitFor(t, safety, "publishes after the restart", func() bool { return okAfter.Load() >= 20 })
	close(stop)
	wg.Wait()
	endID, err := b.Publish(ctx(t), "t", []byte("end"))
	if err != nil {
		t.Fatal(err)
	}

	check := func(name string, s pubsub.Subscription, wantLocal bool) {
		t.Helper()
		seen := map[string]bool{}
		sawLocal := 0
		prev := ""
		for {
			m, err := s.Next(ctx(t))
			if err != nil {
				t.Fatalf("%s: Next: %v", name, err)
			}
			d := string(m.Data)
			if seen[d] {
				t.Fatalf("%s: %s delivered twice", name, d)
			}
			seen[d] = true
			mu.Lock()
			local := wantLocal && localOnly[d] // only the publisher has local IDs
			mu.Unlock()
			if local {
				sawLocal++
			} else if prev != "" && pubsub.CompareIDs(prev, m.ID) >= 0 {
				t.Fatalf("%s: ID %s after %s", name, m.ID, prev)
			}
			if !local {
				prev = m.ID
			}
			if d == "end" {
				if m.ID != endID {
					t.Fatalf("%s: end ID %s, want %s", name, m.ID, endID)
				}
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for d := range mustSee {
			if !seen[d] {
				t.Errorf("%s: %s was published after the restart but not delivered", name, d)
			}
		}
		if wantLocal && sawLocal != len(localOnly) {
			t.Errorf("%s: got %d of %d local-only messages", name, sawLocal, len(localOnly))
		}
	}
	check("publishing instance", sa, true)
	check("other instance", sb, false)
	if s := a.Stats(); s.Errors == 0 || !s.Healthy {
		t.Errorf("stats after recovery: %+v", s)
	}
}

// TestRedisDown: with Redis unreachable, calls fail with the Redis error
// and nothing panics; Publish without local subscribers is not
// ErrLocalOnly.
func TestRedisDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	b := newBroker(t, client(t, srv.Addr), fast)
	srv.Kill()
	if _, err := b.Subscribe(ctx(t), "t", ""); err == nil {
		t.Fatal("Subscribe with Redis down: no error")
	}
	_, err := b.Publish(ctx(t), "t", []byte("x"))
	if err == nil || errors.Is(err, pubsubredis.ErrLocalOnly) {
		t.Fatalf("Publish with Redis down and no subscribers: %v", err)
	}
	if s := b.Stats(); s.Healthy || s.Subscribers != 0 {
		t.Fatalf("stats %+v", s)
	}
}
