package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// TestRun runs the demo as `go run ./examples/batch` does and checks what
// it prints.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `cache miss storm: 100 requests, 1 backend call, 99 shared the result
loader: 22 loads (20 distinct ids), 1 query for ids [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20]
loader: user 7 = user-7, user 13 = (not found)
bulk import: item 1234 failed with 422: price of sku-1234 must be positive
bulk import: 2500 items, 2499 created, 1 failed; server: 3 requests, 0 replayed, 2499 inserts
bulk retry: item 1234 failed with 422: price of sku-1234 must be positive
bulk retry: 2500 items, 2499 created, 1 failed; server: 6 requests, 3 replayed, 2499 inserts
`
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}
