package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/pubsub/internal/brokertest"
)

func TestMemoryContract(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) pubsub.Broker {
		m, err := pubsub.NewMemory(nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMem(t *testing.T, o *pubsub.MemoryOptions) *pubsub.Memory {
	t.Helper()
	m, err := pubsub.NewMemory(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func pub(t *testing.T, b pubsub.Broker, topic string, data ...string) []string {
	t.Helper()
	var ids []string
	for _, d := range data {
		id, err := b.Publish(context.Background(), topic, []byte(d))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestMemoryIDs(t *testing.T) {
	clk := &clock{now: time.UnixMilli(5000)}
	m := newMem(t, &pubsub.MemoryOptions{Now: clk.Now})
	var got []string
	got = append(got, pub(t, m, "a", "x", "y")...)
	clk.Add(-time.Second) // the wall clock steps back
	got = append(got, pub(t, m, "b", "z")...)
	clk.Add(2 * time.Second)
	got = append(got, pub(t, m, "a", "w")...)
	want := []string{"5000-0", "5000-1", "5000-2", "6000-0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
}

func TestMemoryLost(t *testing.T) {
	clk := &clock{now: time.UnixMilli(10_000)}
	m := newMem(t, &pubsub.MemoryOptions{MaxMessages: 3, Now: clk.Now})
	ids := pub(t, m, "t", "a", "b", "c", "d", "e") // a, b evicted
	tests := []struct {
		name  string
		from  string
		lost  bool
		first string
	}{
		{"evicted predecessor is not lost", ids[1], false, "c"},
		{"older than evicted", ids[0], true, "c"},
		{"from beginning after eviction", "0", true, "c"},
		{"before the broker existed", "9999-0", true, "c"},
		{"recent", ids[3], false, "e"},
	}
	fresh := newMem(t, &pubsub.MemoryOptions{Now: clk.Now})
	pub(t, fresh, "t", "a")
	if sub, _ := fresh.Subscribe(context.Background(), "t", "0"); sub.Lost() {
		t.Error(`fresh broker: Subscribe from "0" reports Lost`)
	} else {
		sub.Close()
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := m.Subscribe(context.Background(), "t", tt.from)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if sub.Lost() != tt.lost {
				t.Errorf("Lost = %v, want %v", sub.Lost(), tt.lost)
			}
			brokertest.Expect(t, sub, tt.first)
		})
	}
}

func TestMemoryLagged(t *testing.T) {
	m := newMem(t, &pubsub.MemoryOptions{MaxMessages: 4})
	sub, err := m.Subscribe(context.Background(), "t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ids := pub(t, m, "t", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	brokertest.Expect(t, sub) // nothing read yet
	_, err = sub.Next(context.Background())
	var lag *pubsub.LagError
	if !errors.As(err, &lag) || !errors.Is(err, pubsub.ErrLagged) {
		t.Fatalf("Next: %v, want LagError", err)
	}
	if lag.Missed != 6 || lag.LastID != "" || lag.Topic != "t" {
		t.Fatalf("lag %+v", lag)
	}
	brokertest.Expect(t, sub, "6", "7", "8", "9")
	if sub.LastID() != ids[9] {
		t.Fatalf("LastID %q", sub.LastID())
	}
	if s := m.Stats(); s.Lagged != 1 || s.Evicted != 6 || s.Retained != 4 || s.Published != 10 || s.Subscribers != 1 || s.Topics != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The publisher never waited: it published 10 into a 4-message history
	// with a subscriber that read nothing.
}

func TestMemoryByteBound(t *testing.T) {
	m := newMem(t, &pubsub.MemoryOptions{MaxBytes: 10})
	pub(t, m, "t", "aaaa", "bbbb", "cccc")
	if s := m.Stats(); s.Retained != 2 || s.RetainedBytes != 8 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMemoryMaxAge(t *testing.T) {
	clk := &clock{now: time.UnixMilli(1_000_000)}
	m := newMem(t, &pubsub.MemoryOptions{MaxAge: time.Minute, Now: clk.Now})
	ids := pub(t, m, "old", "a")
	clk.Add(30 * time.Second)
	pub(t, m, "new", "b")
	clk.Add(31 * time.Second) // "a" expired, "b" not
	sub, err := m.Subscribe(context.Background(), "old", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if sub.Lost() {
		t.Error("Lost although nothing after the ID was discarded")
	}
	sub.Close()
	sub, _ = m.Subscribe(context.Background(), "old", "0")
	if !sub.Lost() {
		t.Error("not Lost although a expired")
	}
	sub.Close()
	m.Sweep()
	if s := m.Stats(); s.Topics != 1 || s.Retained != 1 {
		t.Fatalf("after sweep: %+v, want only topic new", s)
	}
	// A forgotten topic comes back with a floor: the old ID is reported lost.
	sub, _ = m.Subscribe(context.Background(), "old", "0")
	defer sub.Close()
	if !sub.Lost() {
		t.Error("recreated topic: not Lost")
	}
}

func TestMemorySweepKeepsSubscribedTopics(t *testing.T) {
	clk := &clock{now: time.UnixMilli(1_000_000)}
	m := newMem(t, &pubsub.MemoryOptions{MaxAge: time.Second, Now: clk.Now})
	sub, _ := m.Subscribe(context.Background(), "t", "")
	defer sub.Close()
	clk.Add(time.Hour)
	m.Sweep()
	if s := m.Stats(); s.Topics != 1 {
		t.Fatalf("subscribed topic forgotten: %+v", s)
	}
	pub(t, m, "t", "still here")
	brokertest.Expect(t, sub, "still here")
}

func TestMemoryMaxTopics(t *testing.T) {
	m := newMem(t, &pubsub.MemoryOptions{MaxTopics: 2})
	pub(t, m, "a", "x")
	pub(t, m, "b", "x")
	pub(t, m, "a", "again") // existing topic
	if _, err := m.Publish(context.Background(), "c", nil); !errors.Is(err, pubsub.ErrTooManyTopics) {
		t.Fatalf("Publish: %v", err)
	}
	// Subscribers never count: see TestMemoryMaxTopicsBoundsPublishers.
}

func TestMemoryOptionsValidation(t *testing.T) {
	if _, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxAge: -1}); err == nil {
		t.Fatal("negative MaxAge accepted")
	}
	o := &pubsub.MemoryOptions{}
	m := newMem(t, o)
	if o.MaxMessages != 0 || o.MaxBytes != 0 || o.MaxTopics != 0 || o.Now != nil {
		t.Fatal("NewMemory changed the caller's options")
	}
	_ = m
}

func TestMemorySweeperGoroutineStops(t *testing.T) {
	m, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The leak check in TestMain checks the sweeper is gone.
}

func TestCompareIDs(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"9-0", "10-0", -1},
		{"10-2", "10-10", -1},
		{"10-1", "10-1", 0},
		{"10", "10-0", 0},
		{"11-0", "10-99", 1},
		{"bad", "0-0", -1},
		{"bad", "worse", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := pubsub.CompareIDs(tt.a, tt.b); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
	if !pubsub.ValidID("1-2") || pubsub.ValidID("x") {
		t.Fatal("ValidID")
	}
}
