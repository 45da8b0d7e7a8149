package ws_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/ws"
)

func ExampleHub() {
	ctx := context.Background()
	joined := make(chan struct{})
	var hub *ws.Hub
	hub, err := ws.NewHub(&ws.HubOptions{
		OnConnect: func(ctx context.Context, c *ws.Conn) {
			hub.Subscribe(ctx, c, "news")
			close(joined)
		},
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		panic(err)
	}
	defer c.CloseNow()
	<-joined
	hub.Publish(ctx, "news", []byte("hello, subscribers"))
	_, msg, err := c.Read(ctx)
	fmt.Println(string(msg), err)

	done := make(chan error, 1)
	go func() { done <- hub.Shutdown(ctx) }()
	_, _, err = c.Read(ctx)
	fmt.Println(websocket.CloseStatus(err), <-done)
	// Output:
	// hello, subscribers <nil>
	// StatusGoingAway <nil>
}

func ExampleDial() {
	ctx := context.Background()
	// Clients may subscribe themselves to the topics listed in
	// PublicTopics (and to those AllowTopic accepts), to no others.
	hub, err := ws.NewHub(&ws.HubOptions{ClientTopics: true, PublicTopics: []string{"prices"}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	got := make(chan string, 1)
	cl, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &ws.ClientOptions{
		OnMessage: func(_ websocket.MessageType, b []byte) { got <- string(b) },
	})
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	// Subscribe returns once the hub confirmed; after a reconnect the
	// client subscribes again by itself.
	if err := cl.Subscribe(ctx, "prices"); err != nil {
		panic(err)
	}
	hub.Publish(ctx, "prices", []byte(`{"WIRE":101.25}`))
	fmt.Println(cl.State(), <-got)
	// Output:
	// connected {"WIRE":101.25}
}

// ExampleHub_RegisterOnShutdown is the package's quick start: the hub on
// an httpx.Server, whose drain closes the connections with 1001 and a
// reconnect hint (an *http.Server works the same way).
func ExampleHub_RegisterOnShutdown() {
	ctx := context.Background()
	var hub *ws.Hub
	hub, err := ws.NewHub(&ws.HubOptions{
		OnConnect: func(ctx context.Context, c *ws.Conn) { hub.Subscribe(ctx, c, "news") },
		OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, b []byte) {
			c.Send(ctx, typ, b) // echo
		},
	})
	if err != nil {
		panic(err)
	}
	defer hub.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /ws", hub)
	srv, err := httpx.NewServer(mux, nil)
	if err != nil {
		panic(err)
	}
	hub.RegisterOnShutdown(srv, 10*time.Second)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l, nil)

	c, _, err := websocket.Dial(ctx, "ws://"+l.Addr().String()+"/ws", nil)
	if err != nil {
		panic(err)
	}
	defer c.CloseNow()
	for hub.Stats().Topics == 0 { // OnConnect has not subscribed yet
		time.Sleep(time.Millisecond)
	}
	hub.Publish(ctx, "news", []byte(`{"headline":"…"}`))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))

	closed := make(chan error, 1)
	go func() { _, _, err := c.Read(ctx); closed <- err }()
	srv.Shutdown(ctx) // on SIGTERM: the drain starts the hub's Shutdown
	fmt.Println(websocket.CloseStatus(<-closed))
	// Output:
	// {"headline":"…"}
	// StatusGoingAway
}
