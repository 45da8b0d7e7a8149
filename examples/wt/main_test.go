package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// TestRun runs the demo as `go run ./examples/wt` does and checks what it
// prints.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `page: served over HTTP/2.0, Alt-Svc advertises HTTP/3 on the same port: true
webtransport (preferred): stream echo "hello", datagram echo "ping"
websocket (fallback forced): stream echo "hello", datagram echo "ping"
server: 2 sessions opened, 1 forced fallback
after shutdown: closed with 1001 "server shutting down; reconnect"
`
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}
