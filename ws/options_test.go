package ws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/ws"
)

// TestOptionsNegative: a negative value is an error naming the field,
// except where the field gives it a meaning.
func TestOptionsNegative(t *testing.T) {
	for _, tc := range []struct {
		field string
		set   func(*ws.HubOptions)
	}{
		{"RetryAfter", func(o *ws.HubOptions) { o.RetryAfter = -time.Second }},
		{"QueueMessages", func(o *ws.HubOptions) { o.QueueMessages = -1 }},
		{"PriorityMessages", func(o *ws.HubOptions) { o.PriorityMessages = -1 }},
		{"QueueBytes", func(o *ws.HubOptions) { o.QueueBytes = -1 }},
		{"BlockTimeout", func(o *ws.HubOptions) { o.BlockTimeout = -1 }},
		{"WriteTimeout", func(o *ws.HubOptions) { o.WriteTimeout = -1 }},
		{"PongTimeout", func(o *ws.HubOptions) { o.PongTimeout = -1 }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			var o ws.HubOptions
			tc.set(&o)
			h, err := ws.NewHub(&o)
			if err == nil {
				h.Close()
				t.Fatal("NewHub accepted a negative value")
			}
			if want := "ws: HubOptions." + tc.field + " is negative ("; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q, want it to start with %q", err, want)
			}
		})
	}
}

// TestOptionsNegativeMeaning: the fields that give a negative value a
// meaning behave that way (PingInterval: see TestPingDisabled's use).
func TestOptionsNegativeMeaning(t *testing.T) {
	t.Run("ReadLimit means no limit", func(t *testing.T) {
		ctx := testCtx(t)
		s := newServer(t, &ws.HubOptions{
			ReadLimit: -1,
			OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, b []byte) { c.Send(ctx, typ, b) },
		})
		c := dial(t, ctx, s.url, nil)
		c.SetReadLimit(-1)
		big := bytes.Repeat([]byte("x"), 64<<10) // twice the default limit
		if err := c.Write(ctx, websocket.MessageText, big); err != nil {
			t.Fatal(err)
		}
		if got := read(t, ctx, c); len(got) != len(big) {
			t.Fatalf("echo of %d bytes", len(got))
		}
	})
	t.Run("MaxTopicsPerConn means no limit", func(t *testing.T) {
		ctx := testCtx(t)
		s := newServer(t, &ws.HubOptions{MaxTopicsPerConn: -1})
		dial(t, ctx, s.url, nil)
		c := s.waitJoined(t, ctx)
		for i := range 40 {
			if err := s.hub.Subscribe(ctx, c, fmt.Sprint("t", i)); err != nil {
				t.Fatalf("topic %d: %v", i, err)
			}
		}
	})
	t.Run("MaxConns and MaxConnsPerIP mean no limit", func(t *testing.T) {
		ctx := testCtx(t)
		s := newServer(t, &ws.HubOptions{MaxConns: -1, MaxConnsPerIP: -1, PingInterval: -1, OnClose: func(*ws.Conn, ws.CloseReason) {}})
		const n = 101 // one over the per-IP default
		for range n {
			dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
		}
		if st := s.hub.Stats(); st.Conns != n {
			t.Fatalf("%d connections, want %d", st.Conns, n)
		}
	})
	t.Run("ShutdownBatch and ShutdownJitter mean at once", func(t *testing.T) {
		ctx := testCtx(t)
		s := newServer(t, &ws.HubOptions{ShutdownBatch: -1, ShutdownJitter: -1})
		var conns []*websocket.Conn
		for range 5 {
			conns = append(conns, dial(t, ctx, s.url, nil))
			s.waitJoined(t, ctx)
		}
		if err := s.hub.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range conns {
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("read: %v, want 1001", err)
			}
		}
	})
}

func TestPolicyNames(t *testing.T) {
	for p, want := range map[ws.Policy]string{
		ws.Inherit: "inherit", ws.DropOldest: "drop-oldest", ws.DropNewest: "drop-newest",
		ws.Block: "block", ws.Disconnect: "disconnect", ws.CoalesceByKey: "coalesce-by-key",
	} {
		if p.String() != want {
			t.Errorf("%d is %q, want %q", p, p, want)
		}
	}
}

// TestRegisterOnShutdownHTTPX: an httpx.Server's drain shuts the hub down
// when it starts: connections get 1001 and new upgrades 503 while the
// server still serves (a load balancer's DrainDelay).
func TestRegisterOnShutdownHTTPX(t *testing.T) {
	ctx := testCtx(t)
	joined := make(chan struct{}, 1)
	hub, err := ws.NewHub(&ws.HubOptions{OnConnect: func(context.Context, *ws.Conn) { joined <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	srv, err := httpx.NewServer(hub, &httpx.ServerOptions{DrainDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hub.RegisterOnShutdown(srv, 5*time.Second)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, nil) }()
	url := "ws://" + l.Addr().String()
	c := dial(t, ctx, url, nil)
	<-joined
	srv.StartDrain() // what Shutdown does first
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("read: %v, want 1001", err)
	}
	_, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade while draining: %v, %v; want 503", err, resp)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
}
