package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/pubsub/internal/brokertest"
)

// TestMemorySubscribersCannotBlockPublishers is the scenario: an
// anonymous client subscribes to as many throwaway topics as MaxTopics
// allows. The application must still publish to a new topic, and once the
// subscribers leave, only the topics publishers created remain.
func TestMemorySubscribersCannotBlockPublishers(t *testing.T) {
	const limit = 100
	m := newMem(t, &pubsub.MemoryOptions{MaxTopics: limit})
	ctx := context.Background()
	pub(t, m, "prices", "100") // a topic the application created

	var subs []pubsub.Subscription
	for i := range 2 * limit {
		sub, err := m.Subscribe(ctx, fmt.Sprintf("j%d", i), "")
		if err != nil {
			t.Fatalf("Subscribe j%d: %v", i, err)
		}
		subs = append(subs, sub)
	}
	if s := m.Stats(); s.Topics != 2*limit+1 || s.PublishedTopics != 1 || s.Subscribers != 2*limit {
		t.Fatalf("stats with subscribers: %+v", s)
	}
	live, err := m.Subscribe(ctx, "orders-2025", "")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	pub(t, m, "orders-2025", "first order")
	brokertest.Expect(t, live, "first order")

	for _, sub := range subs {
		sub.Close()
	}
	if s := m.Stats(); s.Topics != 2 || s.PublishedTopics != 2 || s.Subscribers != 1 {
		t.Fatalf("after the subscribers left: %+v, want the 2 published topics", s)
	}
	live.Close()
	if s := m.Stats(); s.Topics != 2 || s.Retained != 2 {
		t.Fatalf("a topic with history was forgotten: %+v", s)
	}
}

// TestMemoryMaxTopicsBoundsPublishers: the bound applies to the topics
// publishers create, whatever subscribers do.
func TestMemoryMaxTopicsBoundsPublishers(t *testing.T) {
	m := newMem(t, &pubsub.MemoryOptions{MaxTopics: 2})
	ctx := context.Background()
	sub, err := m.Subscribe(ctx, "watched", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub(t, m, "a", "x")
	pub(t, m, "watched", "x") // the subscribed topic gets history: it counts now
	if _, err := m.Publish(ctx, "c", nil); !errors.Is(err, pubsub.ErrTooManyTopics) {
		t.Fatalf("Publish over the bound: %v", err)
	}
	for i := range 10 {
		s, err := m.Subscribe(ctx, fmt.Sprintf("s%d", i), "")
		if err != nil {
			t.Fatalf("Subscribe to a topic without history: %v", err)
		}
		s.Close()
	}
	if s := m.Stats(); s.Topics != 2 || s.PublishedTopics != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestMemoryIdleTopicsExpire: a topic without subscribers and without
// retained messages goes away: at once when its last subscriber leaves, at
// the next sweep when its history ages out.
func TestMemoryIdleTopicsExpire(t *testing.T) {
	clk := &clock{now: time.UnixMilli(1_000_000)}
	m := newMem(t, &pubsub.MemoryOptions{MaxAge: time.Minute, Now: clk.Now})
	ctx := context.Background()
	tests := []struct {
		name    string
		publish bool
		topics  int // after the subscriber left
	}{
		{"never published", false, 0},
		{"retained", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := "t-" + tt.name
			sub, err := m.Subscribe(ctx, topic, "")
			if err != nil {
				t.Fatal(err)
			}
			if tt.publish {
				pub(t, m, topic, "x")
				brokertest.Expect(t, sub, "x")
			}
			sub.Close()
			if s := m.Stats(); s.Topics != tt.topics {
				t.Fatalf("after Close: %+v, want %d topics", s, tt.topics)
			}
			clk.Add(2 * time.Minute)
			m.Sweep()
			if s := m.Stats(); s.Topics != 0 || s.PublishedTopics != 0 {
				t.Fatalf("after the history aged out: %+v", s)
			}
		})
	}
	// Forgetting a topic that never had a message loses nothing: "0" from
	// a fresh topic is still complete.
	fresh := newMem(t, nil)
	s, _ := fresh.Subscribe(ctx, "quiet", "")
	s.Close()
	pub(t, fresh, "other", "x")
	s, _ = fresh.Subscribe(ctx, "other", "0")
	defer s.Close()
	if s.Lost() {
		t.Error(`"0" reports Lost after a topic without messages was forgotten`)
	}
}

// TestMemorySubscriptionCost: a subscription to a topic without history
// costs no goroutine and no history buffer (a default topic's history
// would be 1024 entries).
func TestMemorySubscriptionCost(t *testing.T) {
	m := newMem(t, nil)
	ctx := context.Background()
	const n = 1000
	subs := make([]pubsub.Subscription, 0, n)
	goroutines := runtime.NumGoroutine()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		sub, err := m.Subscribe(ctx, fmt.Sprintf("j%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	runtime.ReadMemStats(&after)
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("%d subscriptions added %d goroutines", n, g-goroutines)
	}
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 2048 {
		t.Errorf("a subscription to a new topic allocates %d bytes", per)
	}
	for _, s := range subs {
		s.Close()
	}
}

// TestMemoryLostFromAnotherLifetime: IDs the broker cannot vouch for are
// reported lost: older than the broker, or newer than its clock (issued
// by a process whose clock was ahead).
func TestMemoryLostFromAnotherLifetime(t *testing.T) {
	clk := &clock{now: time.UnixMilli(10_000)}
	m := newMem(t, &pubsub.MemoryOptions{Now: clk.Now})
	pub(t, m, "t", "a")
	clk.Add(time.Second)
	tests := []struct {
		from string
		lost bool
	}{
		{"9999-5", true},   // before the broker existed
		{"10000-0", false}, // issued by it
		{"10500-0", false}, // not issued, but in its lifetime (an SSE anchor)
		{"11000-0", false}, // now
		{"11001-0", true},  // the future: another clock
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			sub, err := m.Subscribe(context.Background(), "t", tt.from)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if sub.Lost() != tt.lost {
				t.Errorf("Lost %v, want %v", sub.Lost(), tt.lost)
			}
		})
	}
}

// TestMemoryTopicChurn races subscriptions that come and go against
// publishers on the same few topics: a subscriber always receives what is
// published after its Subscribe (its topic is never forgotten under it),
// and the counts settle on the published topics.
func TestMemoryTopicChurn(t *testing.T) {
	m := newMem(t, nil)
	ctx := context.Background()
	const workers, rounds, topics = 8, 200, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				topic := fmt.Sprintf("t%d", (w+i)%topics)
				sub, err := m.Subscribe(ctx, topic, "")
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 { // half the subscriptions leave without a message
					want := fmt.Sprintf("w%d-%d", w, i)
					id, err := m.Publish(ctx, topic, []byte(want))
					if err != nil {
						t.Error(err)
						return
					}
					for {
						msg, err := sub.Next(ctx)
						if err != nil {
							t.Error(err)
							return
						}
						if msg.ID == id {
							break
						}
					}
				}
				sub.Close()
				quiet, err := m.Subscribe(ctx, fmt.Sprintf("q%d-%d", w, i), "")
				if err != nil {
					t.Error(err)
					return
				}
				quiet.Close()
			}
		})
	}
	wg.Wait()
	if s := m.Stats(); s.Topics != topics || s.PublishedTopics != topics || s.Subscribers != 0 {
		t.Fatalf("stats %+v, want %d published topics and nothing else", s, topics)
	}
}

// TestMemoryHistoryGrows: a topic's history grows as messages arrive; a
// reader interleaved with the growth sees every message in order or is
// told exactly how many it missed, and the last MaxMessages are always
// there for replay.
func TestMemoryHistoryGrows(t *testing.T) {
	for _, limit := range []int{1, 5, 8, 9, 100} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			m := newMem(t, &pubsub.MemoryOptions{MaxMessages: limit})
			ctx := context.Background()
			sub, err := m.Subscribe(ctx, "t", "")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var delivered, missed, published int
			read := func(n int) {
				for range n {
					if delivered+missed == published {
						return
					}
					msg, err := sub.Next(ctx)
					var lag *pubsub.LagError
					switch {
					case errors.As(err, &lag):
						missed += int(lag.Missed)
					case err != nil:
						t.Fatal(err)
					case string(msg.Data) != fmt.Sprint(delivered+missed):
						t.Fatalf("got %s, want %d", msg.Data, delivered+missed)
					default:
						delivered++
					}
				}
			}
			for i := range 3 * limit {
				pub(t, m, "t", fmt.Sprint(i))
				published++
				read(i % 3)
			}
			read(published)
			if delivered+missed != published {
				t.Fatalf("delivered %d + missed %d != published %d", delivered, missed, published)
			}
			all, err := m.Subscribe(ctx, "t", "0")
			if err != nil {
				t.Fatal(err)
			}
			defer all.Close()
			var want []string
			for i := 2 * limit; i < 3*limit; i++ {
				want = append(want, fmt.Sprint(i))
			}
			brokertest.Expect(t, all, want...)
		})
	}
}
