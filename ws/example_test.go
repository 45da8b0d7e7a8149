package ws_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"

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
