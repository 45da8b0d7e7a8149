package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		`"gzip"                           → gzip`,
		`"gzip, deflate, br"              → br`,
		`"gzip, deflate, br, zstd"        → zstd`,
		`"br;q=1, zstd;q=0.5, gzip;q=0.5" → br`,
		`"br;q=0, *"                      → zstd`,
		`""                               → none`,
		"middleware: 2 zstd, 2 br, 1 gzip, 1 uncompressed responses",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
