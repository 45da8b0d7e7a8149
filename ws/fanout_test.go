package ws_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/ws"
)

// gatedBroker holds its subscriptions' first Next until open is closed, so
// a test can pile messages up in the broker before the fan-out sees any.
type gatedBroker struct {
	pubsub.Broker
	open chan struct{}
}

type gatedSub struct {
	pubsub.Subscription
	open <-chan struct{}
}

func (b *gatedBroker) Subscribe(ctx context.Context, topic, fromID string) (pubsub.Subscription, error) {
	s, err := b.Broker.Subscribe(ctx, topic, fromID)
	if err != nil {
		return nil, err
	}
	return &gatedSub{Subscription: s, open: b.open}, nil
}

func (s *gatedSub) Next(ctx context.Context) (pubsub.Message, error) {
	select {
	case <-s.open:
	case <-ctx.Done():
		return pubsub.Message{}, ctx.Err()
	}
	return s.Subscription.Next(ctx)
}

// readSeq reads text messages (split at sep when joined) until it has
// seen the number last, and returns the numbers in the order received.
func readSeq(t *testing.T, ctx context.Context, c *websocket.Conn, sep string, last int) []int {
	t.Helper()
	var got []int
	for len(got) == 0 || got[len(got)-1] != last {
		s := read(t, ctx, c)
		parts := []string{s}
		if sep != "" {
			parts = strings.Split(s, sep)
		}
		for _, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				t.Fatalf("message %q", p)
			}
			got = append(got, n)
		}
	}
	return got
}

// TestFanOutBacklog publishes more messages than the fan-out takes at once
// while it is held up, to several subscribers with separate and joined
// framing: each gets all of them, in order.
func TestFanOutBacklog(t *testing.T) {
	for _, sep := range []string{"", "\n"} {
		t.Run(fmt.Sprintf("sep=%q", sep), func(t *testing.T) {
			ctx := testCtx(t)
			mem, err := pubsub.NewMemory(nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { mem.Close() })
			b := &gatedBroker{Broker: mem, open: make(chan struct{})}
			opt := &ws.HubOptions{Broker: b, QueueMessages: 1000}
			if sep != "" {
				opt.JoinSeparator = []byte(sep)
			}
			s := newServer(t, opt)
			var clients []*websocket.Conn
			for range 3 {
				clients = append(clients, dial(t, ctx, s.url, nil))
				s.waitJoined(t, ctx)
			}
			const n = 500
			for i := range n {
				if _, err := s.hub.Publish(ctx, "news", []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			close(b.open)
			for _, c := range clients {
				got := readSeq(t, ctx, c, sep, n-1)
				if len(got) != n {
					t.Fatalf("got %d messages, want %d", len(got), n)
				}
				for i, v := range got {
					if v != i {
						t.Fatalf("message %d is %d: out of order", i, v)
					}
				}
			}
			if st := s.hub.Stats(); st.DroppedOldest != 0 || st.BrokerSkipped != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestFanOutBrokerLag lets the broker discard messages the held-up fan-out
// has not read: the hub counts them and goes on with the rest, in order.
func TestFanOutBrokerLag(t *testing.T) {
	ctx := testCtx(t)
	mem, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	b := &gatedBroker{Broker: mem, open: make(chan struct{})}
	s := newServer(t, &ws.HubOptions{Broker: b, QueueMessages: 1000})
	c := dial(t, ctx, s.url, nil)
	s.waitJoined(t, ctx)
	const n = 100
	for i := range n {
		if _, err := s.hub.Publish(ctx, "news", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	close(b.open)
	got := readSeq(t, ctx, c, "", n-1)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
	if st := s.hub.Stats(); st.BrokerSkipped == 0 || int(st.BrokerSkipped)+len(got) < n {
		t.Fatalf("got %d messages, skipped %d of %d", len(got), st.BrokerSkipped, n)
	}
}
