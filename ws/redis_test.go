package ws_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/pubsub/redis"
	"github.com/wirespeed/wirespeed/ws"
)

// TestTwoHubsOnRedis: two hubs, each with its own Redis broker as two
// instances would have, deliver each other's publishes.
func TestTwoHubsOnRedis(t *testing.T) {
	ctx := testCtx(t)
	srv := testenv.StartRedis(t)
	var hubs []*server
	for range 2 {
		client := goredis.NewClient(&goredis.Options{Addr: srv.Addr, DialTimeout: time.Second})
		b, err := redis.New(client, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(); client.Close() })
		hubs = append(hubs, newServer(t, &ws.HubOptions{Broker: b}))
	}
	c0 := dial(t, ctx, hubs[0].url, nil)
	hubs[0].waitJoined(t, ctx)
	c1 := dial(t, ctx, hubs[1].url, nil)
	hubs[1].waitJoined(t, ctx)
	if _, err := hubs[0].hub.Publish(ctx, "news", []byte("via redis")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{c0, c1} {
		if got := read(t, ctx, c); got != "via redis" {
			t.Fatalf("got %q", got)
		}
	}
}
