// Command pubsub shows what a shared broker buys a service that runs as
// several instances: a message published through one instance reaches a
// client of another, and a client that comes back with the last ID it saw
// gets exactly what it missed.
//
// Two HTTP instances run side by side, each with the same small API:
//
//	POST /publish/{topic}        body → message; answers its ID
//	GET  /poll/{topic}?after=ID  the next message after ID (a long poll)
//
// With -redis host:port each instance opens its own pubsub/redis broker on
// that Redis, as separate processes would; without it both share one
// in-process memory broker, which stands in for Redis.
//
// Run it with
//
//	go run ./examples/pubsub
//	go run ./examples/pubsub -redis 127.0.0.1:6379
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wirespeed/wirespeed/pubsub"
	pubsubredis "github.com/wirespeed/wirespeed/pubsub/redis"
)

func main() {
	redisAddr := flag.String("redis", "", "Redis address (host:port); empty: an in-process memory broker")
	flag.Parse()
	if err := run(context.Background(), *redisAddr, os.Stdout); err != nil {
		log.SetFlags(0)
		log.Fatalf("pubsub: %v", err)
	}
}

// message is what /poll answers.
type message struct {
	ID   string `json:"id"`
	Data string `json:"data"`
	Lost bool   `json:"lost,omitempty"` // history after "after" may be gone
}

// handler serves the two endpoints of one instance over broker.
func handler(broker pubsub.Broker, pollWait time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish/{topic}", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, "body too large (64 KiB at most)", http.StatusRequestEntityTooLarge)
			return
		}
		id, err := broker.Publish(r.Context(), r.PathValue("topic"), data)
		if err != nil && !errors.Is(err, pubsubredis.ErrLocalOnly) {
			http.Error(w, "publish failed", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, id)
	})
	mux.HandleFunc("GET /poll/{topic}", func(w http.ResponseWriter, r *http.Request) {
		after := r.URL.Query().Get("after")
		if after == "" {
			after = "0" // from the oldest message retained
		} else if !pubsub.ValidID(after) {
			http.Error(w, "after: not a message ID", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), pollWait)
		defer cancel()
		sub, err := broker.Subscribe(ctx, r.PathValue("topic"), after)
		if err != nil {
			http.Error(w, "subscribe failed", http.StatusServiceUnavailable)
			return
		}
		defer sub.Close()
		m, err := sub.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			w.WriteHeader(http.StatusNoContent) // nothing new: poll again
			return
		}
		if err != nil {
			http.Error(w, "subscription ended", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(message{ID: m.ID, Data: string(m.Data), Lost: sub.Lost()})
	})
	return mux
}

// instance is one server process's worth: a broker and an HTTP server.
type instance struct {
	url    string
	http   *http.Server
	broker pubsub.Broker
	served chan struct{}
}

func start(broker pubsub.Broker) (*instance, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &instance{
		url:    "http://" + l.Addr().String(),
		http:   &http.Server{Handler: handler(broker, 10*time.Second), ReadHeaderTimeout: 5 * time.Second},
		broker: broker,
		served: make(chan struct{}),
	}
	go func() { defer close(in.served); in.http.Serve(l) }()
	return in, nil
}

func (in *instance) stop() {
	in.http.Close()
	<-in.served
}

// newBrokers returns one broker per instance: separate pubsub/redis
// brokers on one Redis, or one shared memory broker.
func newBrokers(redisAddr string) (a, b pubsub.Broker, closeAll func(), err error) {
	if redisAddr == "" {
		m, err := pubsub.NewMemory(nil)
		if err != nil {
			return nil, nil, nil, err
		}
		return m, m, func() { m.Close() }, nil
	}
	var closers []func() error
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	brokers := make([]pubsub.Broker, 2)
	for i := range brokers {
		client := goredis.NewClient(&goredis.Options{Addr: redisAddr})
		closers = append(closers, client.Close)
		br, err := pubsubredis.New(client, nil)
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		closers = append([]func() error{br.Close}, closers...) // brokers before clients
		brokers[i] = br
	}
	return brokers[0], brokers[1], closeAll, nil
}

func run(ctx context.Context, redisAddr string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ba, bb, closeBrokers, err := newBrokers(redisAddr)
	if err != nil {
		return err
	}
	defer closeBrokers()
	a, err := start(ba)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := start(bb)
	if err != nil {
		return err
	}
	defer b.stop()

	// A unique topic per run, so a shared Redis's old streams do not show.
	topic := fmt.Sprintf("orders-%d", time.Now().UnixNano())
	for _, order := range []string{"order 1", "order 2", "order 3"} {
		if _, err := post(ctx, a.url+"/publish/"+topic, order); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "published 3 orders through instance A")

	after := ""
	for range 2 {
		m, err := poll(ctx, b.url+"/poll/"+topic, after)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "instance B delivered %q\n", m.Data)
		after = m.ID
	}
	fmt.Fprintln(out, "the client goes away and comes back with the last ID it saw")
	if _, err := post(ctx, b.url+"/publish/"+topic, "order 4"); err != nil {
		return err
	}
	for range 2 {
		m, err := poll(ctx, a.url+"/poll/"+topic, after)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "instance A delivered %q (lost history: %v)\n", m.Data, m.Lost)
		after = m.ID
	}
	return nil
}

func post(ctx context.Context, url, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	id, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %s: %s", url, resp.Status, id)
	}
	return strings.TrimSpace(string(id)), nil
}

func poll(ctx context.Context, url, after string) (message, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?after="+after, nil)
		if err != nil {
			return message{}, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return message{}, err
		}
		var m message
		switch resp.StatusCode {
		case http.StatusOK:
			err = json.NewDecoder(resp.Body).Decode(&m)
		case http.StatusNoContent:
			resp.Body.Close()
			continue // the long poll timed out: ask again
		default:
			b, _ := io.ReadAll(resp.Body)
			err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
		}
		resp.Body.Close()
		return m, err
	}
}
