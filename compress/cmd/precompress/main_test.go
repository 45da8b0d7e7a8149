package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	css := strings.Repeat("body { margin: 0; padding: 0; color: #123456; }\n", 100)
	if err := os.WriteFile(filepath.Join(dir, "site.css"), []byte(css), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-encodings", "br,gzip", dir}, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "1 files, 2 sidecars written") {
		t.Errorf("output %q", out.String())
	}
	for _, ext := range []string{".br", ".gz"} {
		if _, err := os.Stat(filepath.Join(dir, "site.css"+ext)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "site.css.zst")); err == nil {
		t.Error("zstd sidecar written though not asked for")
	}
	for _, args := range [][]string{nil, {"-encodings", "lzma", dir}, {"-nope"}} {
		if err := run(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
