package compress_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/compress"
)

func TestPrecompress(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"app.js":           apiJSON(20 << 10),
		"nested/data.json": apiJSON(5 << 10),
		"small.css":        []byte("body{}"),
		"noise.txt":        nil, // random: not worth compressing
		"photo.jpg":        apiJSON(5 << 10),
		"unknown.ext":      apiJSON(5 << 10),
		".git/config.json": apiJSON(5 << 10),
	}
	files["noise.txt"] = make([]byte, 8<<10)
	rand.Read(files["noise.txt"])
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A stale sidecar of the noise file, which must go.
	stale := filepath.Join(dir, "noise.txt.gz")
	os.WriteFile(stale, []byte("stale"), 0o644)
	earlier := time.Now().Add(-time.Hour)
	os.Chtimes(stale, earlier, earlier)

	st, err := compress.Precompress(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := compress.PrecompressStats{Files: 3, Written: 6, Dropped: 3}
	if st.Files != want.Files || st.Written != want.Written || st.Dropped != want.Dropped || st.Current != 0 {
		t.Fatalf("first run %+v, want %+v", st, want)
	}
	if st.BytesOut*4 > st.BytesIn {
		t.Errorf("sidecars %d bytes for %d of JSON: less than 4× smaller", st.BytesOut, st.BytesIn)
	}
	for _, name := range []string{"app.js", "nested/data.json"} {
		orig := files[name]
		info, _ := os.Stat(filepath.Join(dir, name))
		for enc, ext := range map[string]string{"gzip": ".gz", "br": ".br", "zstd": ".zst"} {
			p := filepath.Join(dir, name+ext)
			side, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%s: %v", name+ext, err)
			}
			if !bytes.Equal(decode(t, enc, side), orig) {
				t.Fatalf("%s does not decode to %s", name+ext, name)
			}
			si, _ := os.Stat(p)
			if !si.ModTime().Equal(info.ModTime()) || si.Mode().Perm() != info.Mode().Perm() {
				t.Errorf("%s: mtime %v mode %v, want the original's %v %v", name+ext, si.ModTime(), si.Mode(), info.ModTime(), info.Mode())
			}
		}
	}
	for _, absent := range []string{"small.css.gz", "noise.txt.gz", "noise.txt.br", "photo.jpg.br", "unknown.ext.br", ".git/config.json.br"} {
		if _, err := os.Stat(filepath.Join(dir, absent)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists (%v)", absent, err)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}

	// Incremental: nothing to do, then one changed file.
	if st, err = compress.Precompress(context.Background(), dir, nil); err != nil || st.Written != 0 || st.Current != 6 {
		t.Fatalf("second run %+v, %v; want 6 current", st, err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "app.js"), later, later)
	st, err = compress.Precompress(context.Background(), dir, &compress.Options{Encodings: []string{compress.Brotli}})
	if err != nil || st.Written != 1 || st.Current != 1 {
		t.Fatalf("after touching app.js, brotli only: %+v, %v; want 1 written, 1 current", st, err)
	}
}

func TestPrecompressErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.json"), apiJSON(4<<10), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := compress.Precompress(ctx, dir, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if _, err := compress.Precompress(context.Background(), filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing directory: no error")
	}
	if _, err := compress.Precompress(context.Background(), dir, &compress.Options{Encodings: []string{"lzma"}}); err == nil {
		t.Error("bad option: no error")
	}
}
