package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// TestRun runs the demo as `go run ./examples/sse` does and checks what it
// prints.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `got "tick 1"
got "tick 2"
got "tick 3"
server 1 shut down; published "tick 4" and "tick 5" meanwhile
server 2: client resumed after the last event it saw: true
got "tick 4"
got "tick 5"
got "tick 6"
client: 2 connections, 6 events, 0 lost reports
`
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}
