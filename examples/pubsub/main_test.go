package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/pubsub"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

const want = `published 3 orders through instance A
instance B delivered "order 1"
instance B delivered "order 2"
the client goes away and comes back with the last ID it saw
instance A delivered "order 3" (lost history: false)
instance A delivered "order 4" (lost history: false)
`

// TestRun runs the demo as `go run ./examples/pubsub` does and checks what
// it prints.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), "", &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestRunRedis runs it as two instances on one real redis-server.
func TestRunRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	var out strings.Builder
	if err := run(context.Background(), r.Addr, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestBadInput: the handler answers malformed requests with a 4xx.
func TestBadInput(t *testing.T) {
	m, err := pubsub.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv := httptest.NewServer(handler(m, 50*time.Millisecond))
	defer srv.Close()
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/poll/orders?after=yesterday", "", http.StatusBadRequest},
		{"GET", "/poll/orders?after=1-0", "", http.StatusNoContent},
		{"POST", "/publish/orders", strings.Repeat("x", 65<<10), http.StatusRequestEntityTooLarge},
		{"DELETE", "/publish/orders", "", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
}
