package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// TestRun runs the demo as `go run ./examples/upload` does and checks what
// it prints.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `server: video.mp4 complete, 6291456 bytes
client: uploaded in 1 MiB chunks, one cut mid-chunk and resumed; server committed 6291456 bytes
server: video-parallel.mp4 complete, 6291456 bytes
client: uploaded as 3 parallel parts, concatenated by the server
client: download cut at 3 MiB and resumed with Range; sha256 matches: true
pre-signed URL (tampered): 403 signature does not match the URL; it was altered or signed for another path
server: note.txt complete, 5 bytes
pre-signed URL (signed): 201
stats: 6 created, 6 completed, 0 lock conflicts, 1 checksum failures
`
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}
