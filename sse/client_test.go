package sse_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/sse"
)

// TestClientReconnect: the client reconnects after the server ends the
// stream, sends the last ID it saw and uses the server's retry.
func TestClientReconnect(t *testing.T) {
	ctx := testCtx(t)
	var calls atomic.Int32
	seen := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		seen <- r.Header.Get("Last-Event-ID")
		switch n {
		case 1:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "retry: 1\nid: a\ndata: 1\n\nid: b\ndata: 2\n\n")
		case 2:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 3:
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			fmt.Fprint(w, "data: 3\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c, err := sse.NewClient(srv.URL, &sse.ClientOptions{Retry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ev, err := range c.Events(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID+"="+string(ev.Data))
	}
	if fmt.Sprint(got) != "[a=1 b=2 b=3]" {
		t.Fatalf("events %v", got)
	}
	for i, want := range []string{"", "b", "b", "b"} {
		if id := <-seen; id != want {
			t.Fatalf("request %d sent Last-Event-ID %q, want %q", i, id, want)
		}
	}
	if st := c.Stats(); st.Connects != 2 || st.Events != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientTerminal(t *testing.T) {
	ctx := testCtx(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	sub, err := sse.Subscribe(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range sub.C {
		t.Fatal("event from a 403")
	}
	var re *sse.ResponseError
	if !errors.As(sub.Err(), &re) || re.StatusCode != 403 {
		t.Fatalf("Err = %v", sub.Err())
	}
	sub.Close()
	sub.Close()
	if _, err := sse.NewClient(srv.URL, &sse.ClientOptions{HTTPClient: &http.Client{Timeout: time.Second}}); err == nil {
		t.Fatal("a client Timeout was accepted")
	}
}
