package ws_test

import (
	"context"
	"net/http/httptest"
	"strings"
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
	var hubs []*ws.Hub
	var conns []*websocket.Conn
	for range 2 {
		client := goredis.NewClient(&goredis.Options{Addr: srv.Addr, DialTimeout: time.Second})
		b, err := redis.New(client, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(); client.Close() })
		joined := make(chan error, 1)
		var hub *ws.Hub
		hub, err = ws.NewHub(&ws.HubOptions{Broker: b, OnConnect: func(ctx context.Context, c *ws.Conn) {
			joined <- hub.Subscribe(ctx, c, "news")
		}})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(hub)
		t.Cleanup(func() {
			if err := hub.Close(); err != nil {
				t.Errorf("hub Close: %v", err)
			}
			hs.Close()
		})
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		select {
		case err := <-joined:
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the connection never joined")
		}
		hubs, conns = append(hubs, hub), append(conns, c)
	}
	if _, err := hubs[0].Publish(ctx, "news", []byte("via redis")); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		_, b, err := c.Read(ctx)
		if err != nil || string(b) != "via redis" {
			t.Fatalf("hub %d's client read %q, %v", i, b, err)
		}
	}
}
