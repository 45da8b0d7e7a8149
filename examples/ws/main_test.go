package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// TestRun runs the demo as `go run ./examples/ws` does and checks what it
// prints.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `ann sees "#1: hello", bob sees "#1: hello"
ann sees "#2: hi ann", bob sees "#2: hi ann"
after shutdown: 0 connections, 2 opened, 2 closed by shutdown, 4 messages in
`
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}
