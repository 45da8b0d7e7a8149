package sse_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/sse"
)

func ExampleAppendEvent() {
	b, _ := sse.AppendEvent(nil, sse.Event{ID: "42", Type: "tick", Data: []byte("line one\nline two")})
	os.Stdout.Write(b)
	// Output:
	// event: tick
	// data: line one
	// data: line two
	// id: 42
}

// ExampleServer is the package's quick start, run on an httpx.Server
// whose drain ends the streams (an *http.Server works the same way).
func ExampleServer() {
	ctx := context.Background()
	authorized := func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer secret" }
	joined := make(chan struct{}, 1)

	srv, err := sse.NewServer(&sse.ServerOptions{
		Topics: func(r *http.Request) ([]string, error) {
			if !authorized(r) {
				return nil, &sse.StatusError{Code: http.StatusUnauthorized}
			}
			return []string{"prices"}, nil
		},
		OnConnect: func(*http.Request, []string, string) { joined <- struct{}{} },
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /events", srv)
	httpServer, err := httpx.NewServer(mux, nil)
	if err != nil {
		panic(err)
	}
	srv.RegisterOnShutdown(httpServer, 10*time.Second)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go httpServer.Serve(l, nil)
	url := "http://" + l.Addr().String() + "/events"

	resp, err := http.Get(url)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	sub, err := sse.Subscribe(ctx, url, &sse.ClientOptions{
		Header: http.Header{"Authorization": {"Bearer secret"}},
	})
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	<-joined
	srv.Publish(ctx, "prices", []byte(`{"BTC":100}`)) // from anywhere
	ev := <-sub.C
	fmt.Println(string(ev.Data), ev.ID == sub.Client.LastEventID())
	sub.Close()
	httpServer.Shutdown(ctx) // on SIGTERM: the drain ends the streams
	fmt.Println(srv.Stats().Conns)
	// Output:
	// 401
	// {"BTC":100} true
	// 0
}

// ExampleServerOptions_publicTopics serves topics anyone may read without
// a Topics hook: a stream names them with ?topic=, and any other topic is
// refused.
func ExampleServerOptions_publicTopics() {
	srv, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"prices"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for _, topic := range []string{"admin", "prices"} {
		resp, err := http.Get(ts.URL + "/?topic=" + topic)
		if err != nil {
			panic(err)
		}
		resp.Body.Close() // ends the stream
		fmt.Println(topic, resp.StatusCode)
	}
	_, err = sse.NewServer(nil)
	fmt.Println(errors.Is(err, sse.ErrNoTopics))
	// Output:
	// admin 403
	// prices 200
	// true
}

func ExampleClient_Events() {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") == "2" {
			w.WriteHeader(http.StatusNoContent) // no more: the client stops
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\n\nid: 1\ndata: one\n\nid: 2\ndata: two\n\n")
	}))
	defer ts.Close()
	c, _ := sse.NewClient(ts.URL, nil)
	for ev, err := range c.Events(context.Background()) {
		if err != nil {
			panic(err)
		}
		fmt.Println(ev.ID, string(ev.Data))
	}
	// Output:
	// 1 one
	// 2 two
}
