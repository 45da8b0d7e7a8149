// Command ws runs a small chat hub on a loopback server and talks to it
// with two reconnecting clients, then shuts the hub down gracefully and
// exits:
//
//   - both clients subscribe to the "room" topic through the hub's control
//     protocol (HubOptions.ClientTopics);
//   - each line a client sends goes to OnMessage, which publishes it to the
//     room, so both clients see both lines in the order the hub published
//     them;
//   - Hub.Shutdown closes every connection with 1001 and a reconnect hint.
//
// Run it with
//
//	go run ./examples/ws
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.SetFlags(0)
		log.Fatalf("ws: %v", err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	var hub *ws.Hub
	hub, err := ws.NewHub(&ws.HubOptions{
		ClientTopics: true,
		PublicTopics: []string{"room"}, // the only topic clients may subscribe to
		OnMessage: func(ctx context.Context, c *ws.Conn, _ websocket.MessageType, data []byte) {
			hub.Publish(ctx, "room", fmt.Appendf(nil, "#%d: %s", c.ID(), data))
		},
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: hub}
	hub.RegisterOnShutdown(srv, 5*time.Second)
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(l) }()
	url := "ws://" + l.Addr().String()

	type line struct {
		who  string
		text string
	}
	lines := make(chan line, 16)
	closed := make(chan string, 2)
	var clients []*ws.Client
	for _, who := range []string{"ann", "bob"} {
		cl, err := ws.Dial(ctx, url, &ws.ClientOptions{
			OnMessage: func(_ websocket.MessageType, b []byte) { lines <- line{who, string(b)} },
			OnState: func(s ws.State) {
				if s == ws.StateConnecting {
					closed <- who
				}
			},
		})
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := cl.Subscribe(ctx, "room"); err != nil {
			return err
		}
		clients = append(clients, cl)
	}

	// One line at a time, so the output does not depend on scheduling.
	for i, text := range []string{"hello", "hi ann"} {
		if err := clients[i].Send(ctx, websocket.MessageText, []byte(text)); err != nil {
			return err
		}
		got := map[string]string{}
		for len(got) < 2 {
			select {
			case l := <-lines:
				got[l.who] = l.text
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		fmt.Fprintf(out, "ann sees %q, bob sees %q\n", got["ann"], got["bob"])
	}

	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	<-served
	if err := hub.Shutdown(ctx); err != nil { // waits for the shutdown hook's work
		return err
	}
	for range clients {
		select {
		case <-closed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	st := hub.Stats()
	fmt.Fprintf(out, "after shutdown: %d connections, %d opened, %d closed by shutdown, %d messages in\n",
		st.Conns, st.Opened, st.Closed[ws.ReasonShutdown], st.MessagesIn)
	for _, cl := range clients {
		cl.Close()
	}
	return nil
}
