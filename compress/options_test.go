package compress_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wirespeed/wirespeed/compress"
)

type constructor struct {
	name string
	make func(*compress.Options) error
}

// constructors returns every constructor that validates Options;
// Precompress works on an empty directory of the test's own.
func constructors(t *testing.T) []constructor {
	dir := t.TempDir()
	return []constructor{
		{"New", func(o *compress.Options) error { _, err := compress.New(o); return err }},
		{"Middleware", func(o *compress.Options) error { _, err := compress.Middleware(o); return err }},
		{"FileServer", func(o *compress.Options) error { _, err := compress.FileServer(fstest.MapFS{}, o); return err }},
		{"Precompress", func(o *compress.Options) error {
			_, err := compress.Precompress(context.Background(), dir, o)
			return err
		}},
	}
}

func TestOptionsNegativeIsAnErrorNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		opts *compress.Options
		want string
	}{
		{&compress.Options{GzipLevel: -1}, "compress: Options.GzipLevel is negative (-1)"},
		{&compress.Options{BrotliLevel: -2}, "compress: Options.BrotliLevel is negative (-2)"},
		{&compress.Options{ZstdLevel: -3}, "compress: Options.ZstdLevel is negative (-3)"},
		{&compress.Options{RandomPadding: -4}, "compress: Options.RandomPadding is negative (-4)"},
	} {
		for _, c := range constructors(t) {
			if c.name == "Precompress" {
				continue // ignores levels and padding
			}
			t.Run(c.name+"/"+tc.want, func(t *testing.T) {
				err := c.make(tc.opts)
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("error %v, want one starting with %q", err, tc.want)
				}
			})
		}
	}
}

func TestOptionsNegativeMinSizeCompressesEveryBody(t *testing.T) {
	tiny := []byte("hi")
	for _, tc := range []struct {
		name   string
		opts   *compress.Options
		wantCE string
	}{
		{"nil options: 1 KiB minimum", nil, ""},
		{"zero: the default minimum", &compress.Options{MinSize: 0}, ""},
		{"negative: no minimum", &compress.Options{MinSize: -1}, "gzip"},
		{"most negative: no minimum", &compress.Options{MinSize: math.MinInt}, "gzip"},
		{"positive above the body", &compress.Options{MinSize: 3}, ""},
		{"positive at the body", &compress.Options{MinSize: 2}, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := compress.Middleware(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			resp := record(mw(reply(tiny, "Content-Type", "text/plain")), get("/", "gzip"))
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantCE {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.wantCE)
			}
		})
	}
}

func TestOptionsRejectsInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *compress.Options
		want string
	}{
		{"gzip level high", &compress.Options{GzipLevel: 10}, "compress: Options.GzipLevel 10 is out of range"},
		{"brotli level high", &compress.Options{BrotliLevel: 12}, "compress: Options.BrotliLevel 12 is out of range"},
		{"zstd level high", &compress.Options{ZstdLevel: 23}, "compress: Options.ZstdLevel 23 is out of range"},
		{"padding too large", &compress.Options{RandomPadding: 5000}, "compress: Options.RandomPadding 5000 is out of range"},
		{"unknown encoding", &compress.Options{Encodings: []string{"deflate"}}, "compress: Options.Encodings: unknown encoding"},
		{"duplicate encoding", &compress.Options{Encodings: []string{"gzip", "GZIP"}}, "compress: Options.Encodings lists \"gzip\" twice"},
		{"malformed content type", &compress.Options{ContentTypes: []string{"json"}}, "compress: Options.ContentTypes: pattern"},
		{"wildcard type", &compress.Options{ContentTypes: []string{"*/*"}}, "compress: Options.ContentTypes: pattern"},
		{"bad suffix", &compress.Options{ContentTypes: []string{"application/*+"}}, "compress: Options.ContentTypes: pattern"},
		{"brotli cannot be padded", &compress.Options{RandomPadding: 32, Encodings: []string{compress.Brotli, compress.Gzip}}, "compress: Options.RandomPadding cannot pad brotli"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compress.New(tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

func TestOptionsZeroAndNilSelectDefaults(t *testing.T) {
	for _, opts := range []*compress.Options{nil, {}, {Encodings: []string{}, ContentTypes: []string{}}} {
		for _, c := range constructors(t) {
			if err := c.make(opts); err != nil {
				t.Errorf("%s(%+v): %v", c.name, opts, err)
			}
		}
	}
	// The default encodings, in the default order, with padding without
	// brotli.
	for _, tc := range []struct {
		opts *compress.Options
		ae   string
		want string
	}{
		{nil, "gzip, br, zstd", compress.Zstd},
		{nil, "gzip, br", compress.Brotli},
		{&compress.Options{RandomPadding: 8}, "br, gzip", compress.Gzip},
	} {
		mw, err := compress.Middleware(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		resp := record(mw(reply(json2k, "Content-Type", "application/json")), get("/", tc.ae))
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("%+v, Accept-Encoding %q: Content-Encoding %q, want %q", tc.opts, tc.ae, got, tc.want)
		}
	}
}

func TestOptionsAreNotModified(t *testing.T) {
	enc := []string{" GZIP ", "Zstd"}
	types := []string{"Text/Plain"}
	opts := &compress.Options{Encodings: enc, ContentTypes: types, MinSize: -1}
	c, err := compress.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(opts.Encodings, []string{" GZIP ", "Zstd"}) || !slices.Equal(opts.ContentTypes, []string{"Text/Plain"}) ||
		opts.MinSize != -1 || opts.GzipLevel != 0 {
		t.Fatalf("New modified the caller's Options: %+v", opts)
	}
	// Changing the Options afterwards has no effect.
	enc[0], types[0] = "br", "image/png"
	resp := record(c.Handler(reply([]byte("x"), "Content-Type", "text/plain")), get("/", "gzip"))
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q after changing the Options, want gzip", got)
	}
}
