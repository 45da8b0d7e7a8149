package redis_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/pubsub/internal/brokertest"
)

// publishN publishes data to topic and returns the IDs.
func publishN(t *testing.T, b pubsub.Broker, topic string, data ...string) []string {
	t.Helper()
	var ids []string
	for _, d := range data {
		id, err := b.Publish(ctx(t), topic, []byte(d))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// afterMS waits until the clock is past the ID's millisecond, so IDs made
// later are greater (IDs are time based).
func afterMS(t *testing.T, id string) {
	ms, _ := strconv.ParseInt(strings.Split(id, "-")[0], 10, 64)
	testenv.WaitFor(t, safety, "the clock to pass "+id, func() bool { return time.Now().UnixMilli() > ms+1 })
}

// settled waits until the server has run into its second second: Redis
// knows its start time to the second, so only IDs made after that are
// known to be of its lifetime.
func settled(t *testing.T, c *goredis.Client) {
	t.Helper()
	testenv.WaitFor(t, safety, "the server's second second", func() bool {
		info, err := c.Info(ctx(t), "server").Result()
		return err == nil && strings.Contains(info, "uptime_in_seconds:") && !strings.Contains(info, "uptime_in_seconds:0\r\n")
	})
}

// TestLostAfterDataLoss: redis-server restarts without its data and the
// topic is written again. A client resuming from an ID of the old stream
// must be told it lost messages, whatever was written since; an ID of the
// new lifetime, on a topic written or not since, lost nothing.
func TestLostAfterDataLoss(t *testing.T) {
	srv := testenv.StartRedis(t) // persistence off
	c := client(t, srv.Addr)
	b := newBroker(t, c, fast)
	old := publishN(t, b, "t", "old0", "old1", "old2")
	srv.Restart()
	if n, err := c.Exists(ctx(t), "pubsub:t").Result(); err != nil || n != 0 {
		t.Fatalf("stream after restart: exists=%d err=%v, want gone", n, err)
	}
	afterMS(t, old[2])
	settled(t, c)
	fresh := publishN(t, b, "t", "new0", "new1")
	afterMS(t, fresh[1])
	publishN(t, b, "later", "first") // a topic first written after fresh[0]
	future := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + "-0"
	tests := []struct {
		name, topic, from string
		lost              bool
		want              []string
	}{
		{"old ID, old messages after it gone", "t", old[0], true, []string{"new0", "new1"}},
		{"last old ID", "t", old[2], true, []string{"new0", "new1"}},
		{"new ID", "t", fresh[0], false, []string{"new1"}},
		{"everything there is", "t", "0", false, []string{"new0", "new1"}},
		// An ID above the stream's last may be another topic's (an SSE
		// stream shares one Last-Event-ID among its topics): not lost.
		{"newer than the stream", "t", future, false, nil},
		{"topic first written after the ID", "later", fresh[0], false, []string{"first"}},
		{"topic first written after the restart", "later", old[0], true, []string{"first"}},
		{"topic never written, ID of this lifetime", "never", fresh[0], false, nil},
		{"topic not written since the restart", "never", old[0], true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := b.Subscribe(ctx(t), tt.topic, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Lost() != tt.lost {
				t.Errorf("Lost %v, want %v", s.Lost(), tt.lost)
			}
			brokertest.Expect(t, s, tt.want...)
		})
	}
}

// TestLostAfterEviction: a Redis that evicts keys (maxmemory with an
// allkeys policy) may have evicted a stream: a missing stream is then
// reported lost even though the server did not restart.
func TestLostAfterEviction(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := client(t, srv.Addr)
	b := newBroker(t, c, fast)
	ids := publishN(t, b, "t", "a")
	for i := range 100 {
		if err := c.Set(ctx(t), fmt.Sprintf("filler%d", i), strings.Repeat("x", 1000), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range [][2]string{{"maxmemory-policy", "allkeys-random"}, {"maxmemory", "1"}} {
		if err := c.ConfigSet(ctx(t), kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Set(ctx(t), "trigger", "x", 0).Err() // evicts (or fails: out of memory)
	if err := c.ConfigSet(ctx(t), "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx(t), "stats").Result()
	if err != nil || strings.Contains(info, "evicted_keys:0\r\n") {
		t.Fatalf("no eviction: %v", err)
	}
	if err := c.Del(ctx(t), "pubsub:t").Err(); err != nil { // evicted or not, it is gone
		t.Fatal(err)
	}
	s, err := b.Subscribe(ctx(t), "t", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Lost() {
		t.Error("stream gone on a server that evicts keys: not Lost")
	}
}

// TestLostRingClient: where the broker cannot ask the stream's server
// (a ring client), a stream that did not exist at the ID is reported lost.
func TestLostRingClient(t *testing.T) {
	srv := testenv.StartRedis(t)
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"one": srv.Addr}, MaxRetries: -1})
	t.Cleanup(func() { _ = ring.Close() })
	b := newBroker(t, ring, fast)
	ids := publishN(t, b, "t", "a")
	s, err := b.Subscribe(ctx(t), "never", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Lost() {
		t.Error("ring client, missing stream: not Lost")
	}
}
