// Command sse runs a small price feed over Server-Sent Events and shows
// resumption across a server restart:
//
//   - a memory broker outlives the SSE server instances (as Redis would
//     outlive processes; see pubsub/redis);
//   - a Go client (sse.Subscribe) receives three events, then the server
//     shuts down gracefully (a randomized retry, then the stream ends);
//   - two events are published while no server runs; a second server
//     starts on the same address; the client reconnects with
//     Last-Event-ID and gets the two it missed and the next live one,
//     each exactly once and in order.
//
// Run it with
//
//	go run ./examples/sse
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

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/sse"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.SetFlags(0)
		log.Fatalf("sse: %v", err)
	}
}

// instance is one SSE server process: an sse.Server behind an
// http.Server whose drain ends the streams.
type instance struct {
	sse    *sse.Server
	http   *http.Server
	served chan struct{}
}

func start(addr string, broker pubsub.Broker, joined chan<- string) (*instance, error) {
	s, err := sse.NewServer(&sse.ServerOptions{
		Broker:         broker,
		Topics:         func(*http.Request) ([]string, error) { return []string{"prices"}, nil },
		ShutdownWindow: 200 * time.Millisecond, // clients come back within 0.2s
		OnConnect:      func(_ *http.Request, _ []string, from string) { joined <- from },
	})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return nil, err
	}
	in := &instance{sse: s, http: &http.Server{Handler: s}, served: make(chan struct{})}
	s.RegisterOnShutdown(in.http, 5*time.Second)
	go func() { defer close(in.served); in.http.Serve(l) }()
	return in, nil
}

// stop drains the instance: http.Server.Shutdown starts the streams'
// drain (RegisterOnShutdown) but does not wait for streams that own their
// connections, so sse.Server.Shutdown waits for them, then releases the
// server.
func (in *instance) stop(ctx context.Context) error {
	err := in.http.Shutdown(ctx)
	<-in.served
	if serr := in.sse.Shutdown(ctx); err == nil {
		err = serr
	}
	return err
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	broker, err := pubsub.NewMemory(nil)
	if err != nil {
		return err
	}
	defer broker.Close()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	joined := make(chan string, 4)
	first, err := start(addr, broker, joined)
	if err != nil {
		return err
	}

	sub, err := sse.Subscribe(ctx, "http://"+addr+"/events", &sse.ClientOptions{MaxBackoff: time.Second})
	if err != nil {
		first.stop(ctx)
		return err
	}
	defer sub.Close()
	wait := func() (string, error) {
		select {
		case from := <-joined:
			return from, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	receive := func(n int) (last string, err error) {
		for range n {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					return "", fmt.Errorf("client ended: %v", sub.Err())
				}
				fmt.Fprintf(out, "got %q\n", ev.Data)
				last = ev.ID
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return last, nil
	}
	tick := func(i int) error {
		_, err := broker.Publish(ctx, "prices", fmt.Appendf(nil, "tick %d", i))
		return err
	}

	if _, err := wait(); err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		if err := tick(i); err != nil {
			return err
		}
	}
	lastSeen, err := receive(3)
	if err != nil {
		return err
	}
	if err := first.stop(ctx); err != nil {
		return err
	}
	for i := 4; i <= 5; i++ {
		if err := tick(i); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, `server 1 shut down; published "tick 4" and "tick 5" meanwhile`)

	second, err := start(addr, broker, joined)
	if err != nil {
		return err
	}
	defer second.stop(context.Background())
	from, err := wait()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server 2: client resumed after the last event it saw: %v\n", from == lastSeen)
	if err := tick(6); err != nil {
		return err
	}
	if _, err := receive(3); err != nil {
		return err
	}
	st := sub.Client.Stats()
	fmt.Fprintf(out, "client: %d connections, %d events, %d lost reports\n", st.Connects, st.Events, st.LostReports)
	return nil
}
