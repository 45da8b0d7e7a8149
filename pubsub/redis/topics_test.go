package redis_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/pubsub/internal/brokertest"
	pubsubredis "github.com/wirespeed/wirespeed/pubsub/redis"
)

// TestSubscribersDoNotStarvePublishers: subscriptions to more topics than
// the client's pool has connections must not take the connections
// publishers need (a blocked XREAD holds one for Options.Block).
func TestSubscribersDoNotStarvePublishers(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1, PoolSize: 3, PoolTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	o := *fast
	o.Block = 20 * time.Second // a blocked read keeps its connection long past PoolTimeout
	b := newBroker(t, c, &o)
	var subs []pubsub.Subscription
	for i := range 8 {
		s, err := b.Subscribe(ctx(t), fmt.Sprintf("j%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	live, err := b.Subscribe(ctx(t), "orders-2025", "")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	for i := range 3 {
		if _, err := b.Publish(ctx(t), "orders-2025", fmt.Appendf(nil, "o%d", i)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	brokertest.Expect(t, live, "o0", "o1", "o2")
	if _, err := b.Publish(ctx(t), "j7", []byte("x")); err != nil {
		t.Fatal(err)
	}
	brokertest.Expect(t, subs[7], "x")
}

// TestSubscriptionCost: a topic with local subscribers costs no goroutine
// of its own on a single Redis, and topics with local subscribers are
// bounded by MaxTopics; they are released when their subscribers leave.
func TestSubscriptionCost(t *testing.T) {
	srv := testenv.StartRedis(t)
	o := *fast
	o.MaxTopics = 100
	b := newBroker(t, client(t, srv.Addr), &o)
	first, err := b.Subscribe(ctx(t), "j0", "")
	if err != nil {
		t.Fatal(err)
	}
	goroutines := runtime.NumGoroutine()
	subs := []pubsub.Subscription{first}
	for i := 1; i < o.MaxTopics; i++ {
		s, err := b.Subscribe(ctx(t), fmt.Sprintf("j%d", i), "")
		if err != nil {
			t.Fatalf("Subscribe j%d: %v", i, err)
		}
		subs = append(subs, s)
	}
	if g := runtime.NumGoroutine(); g > goroutines+2 {
		t.Errorf("%d topics cost %d goroutines", o.MaxTopics-1, g-goroutines)
	}
	if _, err := b.Subscribe(ctx(t), "one-too-many", ""); !errors.Is(err, pubsub.ErrTooManyTopics) {
		t.Fatalf("Subscribe over MaxTopics: %v, want ErrTooManyTopics", err)
	}
	// Publishing is not bounded by it.
	if _, err := b.Publish(ctx(t), "one-too-many", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Topics != o.MaxTopics || s.Subscribers != o.MaxTopics {
		t.Fatalf("stats %+v", s)
	}
	for _, s := range subs {
		s.Close()
	}
	if s := b.Stats(); s.Topics != 0 || s.Subscribers != 0 {
		t.Fatalf("after the subscribers left: %+v", s)
	}
	s, err := b.Subscribe(ctx(t), "one-too-many", "0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	brokertest.Expect(t, s, "x")
}

func TestMaxTopicsOption(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := pubsubredis.New(c, &pubsubredis.Options{MaxTopics: -1}); err == nil {
		t.Error("negative MaxTopics accepted")
	}
}

// TestTopicChurn races subscriptions that come and go against publishers
// on a few shared topics and on throwaway ones: a subscriber receives what
// is published after its Subscribe returns, and every topic is released
// when its subscribers leave.
func TestTopicChurn(t *testing.T) {
	srv := testenv.StartRedis(t)
	o := *fast
	o.Block = 10 * time.Second // reads must be woken, not time out
	b := newBroker(t, client(t, srv.Addr), &o)
	const workers, rounds = 6, 30
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				topic := fmt.Sprintf("shared%d", i%3)
				if i%2 == 1 {
					topic = fmt.Sprintf("own%d-%d", w, i)
				}
				s, err := b.Subscribe(ctx(t), topic, "")
				if err != nil {
					t.Error(err)
					return
				}
				id, err := b.Publish(ctx(t), topic, fmt.Appendf(nil, "w%d-%d", w, i))
				if err != nil {
					t.Error(err)
					s.Close()
					return
				}
				for {
					m, err := s.Next(ctx(t))
					if err != nil {
						t.Error(err)
						break
					}
					if m.ID == id {
						break
					}
				}
				s.Close()
			}
		})
	}
	wg.Wait()
	if s := b.Stats(); s.Topics != 0 || s.Subscribers != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRingClient: a client that may spread keys over servers (ring,
// cluster) gets a reader per topic, released with the topic's last
// subscriber; the contract holds.
func TestRingClient(t *testing.T) {
	srv := testenv.StartRedis(t)
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"one": srv.Addr}, MaxRetries: -1})
	t.Cleanup(func() { _ = ring.Close() })
	brokertest.Run(t, func(t *testing.T) pubsub.Broker {
		return newBroker(t, ring, fast)
	})
	o := *fast
	o.MaxTopics = 2
	b := newBroker(t, ring, &o)
	var subs []pubsub.Subscription
	for _, topic := range []string{"a", "b"} {
		s, err := b.Subscribe(ctx(t), topic, "")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if _, err := b.Subscribe(ctx(t), "c", ""); !errors.Is(err, pubsub.ErrTooManyTopics) {
		t.Fatalf("Subscribe over MaxTopics: %v", err)
	}
	if _, err := b.Publish(ctx(t), "b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	brokertest.Expect(t, subs[1], "x")
	for _, s := range subs {
		s.Close()
	}
	if s := b.Stats(); s.Topics != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestNoClientID: a server whose ACL refuses CLIENT ID still serves the
// shared read; topics then join when a read times out.
func TestNoClientID(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := client(t, srv.Addr)
	if err := c.Do(ctx(t), "ACL", "SETUSER", "default", "-client|id").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ClientID(ctx(t)).Err(); err == nil {
		t.Fatal("CLIENT ID still allowed")
	}
	b := newBroker(t, c, fast)
	for _, topic := range []string{"a", "b"} {
		s, err := b.Subscribe(ctx(t), topic, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := b.Publish(ctx(t), topic, []byte(topic)); err != nil {
			t.Fatal(err)
		}
		brokertest.Expect(t, s, topic)
	}
	if s := b.Stats(); s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}
}
