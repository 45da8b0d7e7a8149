// Package brokertest is the contract every pubsub.Broker passes: the
// memory broker and the Redis broker run the same tests.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
)

// safety bounds a test that would otherwise hang; it is not an assertion
// about speed.
const safety = 30 * time.Second

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), safety)
	t.Cleanup(cancel)
	return c
}

// Run runs the contract against brokers made by newBroker; each test gets a
// fresh broker (and may use fresh topic names on a shared backend).
func Run(t *testing.T, newBroker func(t *testing.T) pubsub.Broker) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b pubsub.Broker, topic string)
	}{
		{"live", testLive},
		{"replay from ID", testReplay},
		{"replay all", testReplayAll},
		{"topics isolated", testIsolated},
		{"invalid ID", testInvalidID},
		{"next context", testNextContext},
		{"subscription close", testSubClose},
		{"broker close", testBrokerClose},
		{"concurrent publishers", testConcurrent},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t)
			t.Cleanup(func() { _ = b.Close() })
			tt.fn(t, b, fmt.Sprintf("topic-%d-%d", time.Now().UnixNano(), i))
		})
	}
}

func publish(t *testing.T, b pubsub.Broker, topic string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := b.Publish(ctx(t), topic, fmt.Appendf(nil, "m%d", i))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if i > 0 && pubsub.CompareIDs(ids[i-1], id) >= 0 {
			t.Fatalf("ID %q not greater than previous %q", id, ids[i-1])
		}
		ids[i] = id
	}
	return ids
}

// Expect reads len(want) messages from sub and checks their data.
func Expect(t *testing.T, sub pubsub.Subscription, want ...string) []pubsub.Message {
	t.Helper()
	var got []pubsub.Message
	for i, w := range want {
		m, err := sub.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next %d: %v", i, err)
		}
		if string(m.Data) != w {
			t.Fatalf("message %d: %q, want %q", i, m.Data, w)
		}
		got = append(got, m)
	}
	return got
}

func subscribe(t *testing.T, b pubsub.Broker, topic, from string) pubsub.Subscription {
	t.Helper()
	sub, err := b.Subscribe(ctx(t), topic, from)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q): %v", topic, from, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func testLive(t *testing.T, b pubsub.Broker, topic string) {
	publish(t, b, topic, 2) // before: not delivered
	sub := subscribe(t, b, topic, "")
	if sub.Lost() {
		t.Error("live subscription reports Lost")
	}
	ids := publish(t, b, topic, 3)
	got := Expect(t, sub, "m0", "m1", "m2")
	for i, m := range got {
		if m.ID != ids[i] || m.Topic != topic {
			t.Errorf("message %d: id %q topic %q, want %q %q", i, m.ID, m.Topic, ids[i], topic)
		}
	}
	if sub.LastID() != ids[2] {
		t.Errorf("LastID %q, want %q", sub.LastID(), ids[2])
	}
}

func testReplay(t *testing.T, b pubsub.Broker, topic string) {
	ids := publish(t, b, topic, 5)
	sub := subscribe(t, b, topic, ids[1])
	if sub.Lost() {
		t.Error("Lost for a retained ID")
	}
	Expect(t, sub, "m2", "m3", "m4")
	if _, err := b.Publish(ctx(t), topic, []byte("live")); err != nil {
		t.Fatal(err)
	}
	Expect(t, sub, "live")
}

func testReplayAll(t *testing.T, b pubsub.Broker, topic string) {
	publish(t, b, topic, 3)
	sub := subscribe(t, b, topic, "0")
	Expect(t, sub, "m0", "m1", "m2")
}

func testIsolated(t *testing.T, b pubsub.Broker, topic string) {
	a := subscribe(t, b, topic+"-a", "")
	publish(t, b, topic+"-b", 1)
	if _, err := b.Publish(ctx(t), topic+"-a", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	Expect(t, a, "mine")
}

func testInvalidID(t *testing.T, b pubsub.Broker, topic string) {
	for _, id := range []string{"abc", "1-x", "-1", "1-2-3"} {
		if _, err := b.Subscribe(ctx(t), topic, id); !errors.Is(err, pubsub.ErrInvalidID) {
			t.Errorf("Subscribe from %q: %v, want ErrInvalidID", id, err)
		}
	}
}

func testNextContext(t *testing.T, b pubsub.Broker, topic string) {
	sub := subscribe(t, b, topic, "")
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sub.Next(c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with cancelled ctx: %v", err)
	}
	publish(t, b, topic, 1)
	Expect(t, sub, "m0")
}

func testSubClose(t *testing.T, b pubsub.Broker, topic string) {
	sub := subscribe(t, b, topic, "")
	res := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx(t))
		res <- err
	}()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Next during Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := sub.Next(ctx(t)); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func testBrokerClose(t *testing.T, b pubsub.Broker, topic string) {
	sub := subscribe(t, b, topic, "")
	res := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx(t))
		res <- err
	}()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Next during broker Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Publish(ctx(t), topic, nil); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, err := b.Subscribe(ctx(t), topic, ""); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

func testConcurrent(t *testing.T, b pubsub.Broker, topic string) {
	const pubs, each = 4, 50
	sub := subscribe(t, b, topic, "")
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Go(func() {
			for i := range each {
				if _, err := b.Publish(ctx(t), topic, fmt.Appendf(nil, "%d/%d", p, i)); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	next := make([]int, pubs)
	prev := ""
	for range pubs * each {
		m, err := sub.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if prev != "" && pubsub.CompareIDs(prev, m.ID) >= 0 {
			t.Fatalf("ID %q after %q", m.ID, prev)
		}
		prev = m.ID
		var p, i int
		fmt.Sscanf(string(m.Data), "%d/%d", &p, &i)
		if seen[string(m.Data)] || next[p] != i {
			t.Fatalf("message %q out of order or twice (want %d/%d)", m.Data, p, next[p])
		}
		seen[string(m.Data)] = true
		next[p]++
	}
	wg.Wait()
}
