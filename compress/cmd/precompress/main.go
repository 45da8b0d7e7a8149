// Command precompress writes precompressed sidecars (name.zst, name.br,
// name.gz) next to the static files under each directory it is given, at
// maximum effort, for compress.FileServer to serve. It is meant to run
// from a generate directive next to the embed directive:
//
//	//go:generate go run github.com/wirespeed/wirespeed/compress/cmd/precompress ./static
//
// Flags: -min-size (bytes; smaller files are left alone, default 1024) and
// -encodings (comma-separated, default "zstd,br,gzip"). It is incremental:
// sidecars that are up to date are not rewritten. It prints one summary
// line per directory and exits non-zero on the first error.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/wirespeed/wirespeed/compress"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		log.SetFlags(0)
		log.Fatalf("precompress: %v", err)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("precompress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	minSize := fs.Int("min-size", compress.DefaultMinSize, "smallest file, in `bytes`, worth a sidecar")
	encodings := fs.String("encodings", "zstd,br,gzip", "comma-separated `list` of sidecars to write")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: precompress [-min-size bytes] [-encodings zstd,br,gzip] dir...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no directory given")
	}
	if *minSize < 0 {
		return fmt.Errorf("-min-size %d is negative; use 0 to precompress every file", *minSize)
	}
	opts := &compress.Options{
		MinSize:   cmp.Or(*minSize, -1), // 0: every file, which Options spells as negative
		Encodings: strings.Split(*encodings, ","),
	}
	for _, dir := range fs.Args() {
		st, err := compress.Precompress(ctx, dir, opts)
		if err != nil {
			return err
		}
		saved := 0.0
		if st.BytesIn > 0 {
			saved = 100 * (1 - float64(st.BytesOut)/float64(st.BytesIn))
		}
		fmt.Fprintf(stdout, "precompress %s: %d files, %d sidecars written (%.1f%% smaller), %d up to date, %d not worth it\n",
			dir, st.Files, st.Written, saved, st.Current, st.Dropped)
	}
	return nil
}
