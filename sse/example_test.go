package sse_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

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

func ExampleServer() {
	ctx := context.Background()
	joined := make(chan struct{}, 1)
	srv, err := sse.NewServer(&sse.ServerOptions{
		Topics: func(r *http.Request) ([]string, error) {
			if r.URL.Query().Get("token") != "secret" {
				return nil, &sse.StatusError{Code: http.StatusUnauthorized}
			}
			return []string{"news"}, nil
		},
		OnConnect: func(*http.Request, []string, string) { joined <- struct{}{} },
	})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	resp, _ := http.Get(ts.URL)
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	sub, err := sse.Subscribe(ctx, ts.URL+"/?token=secret", nil)
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	<-joined
	srv.Publish(ctx, "news", []byte("hello, subscribers"))
	ev := <-sub.C
	fmt.Println(string(ev.Data), ev.ID == sub.Client.LastEventID())
	// Output:
	// 401
	// hello, subscribers true
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
