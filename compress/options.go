package compress

import (
	"errors"
	"fmt"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// The content codings this package produces, named as they appear in
// Accept-Encoding and Content-Encoding; pass them to [Encodings].
const (
	// Gzip is gzip (RFC 1952), made with klauspost/compress/gzip. Every
	// HTTP client decodes it.
	Gzip = "gzip"
	// Brotli is brotli (RFC 7932), made with andybalholm/brotli. Browsers
	// decode it; Go's http.Client does not.
	Brotli = "br"
	// Zstd is Zstandard (RFC 8878) within RFC 9659's 8 MiB window limit,
	// made with klauspost/compress/zstd. Chrome, Firefox and curl decode
	// it.
	Zstd = "zstd"
)

// Defaults of the options, chosen for dynamic responses by measuring JSON
// bodies of 2 to 128 KiB (see bench/README.md).
const (
	// DefaultMinSize is the default of [MinSize]: bodies shorter than 1 KiB
	// gain less from compression than its framing and CPU cost.
	DefaultMinSize = 1024
	// DefaultGzipLevel is the default of [GzipLevel], gzhttp's too: level 1
	// is 1.6 times faster but 8% larger, level 6 no smaller.
	DefaultGzipLevel = 5
	// DefaultBrotliLevel is the default of [BrotliLevel]: the lowest level
	// that is clearly smaller than gzip (8–13% on JSON); levels 3 and 4 are
	// within 3% of gzip at several times its CPU.
	DefaultBrotliLevel = 5
	// DefaultZstdLevel is the default of [ZstdLevel], on zstd's own 1–22
	// scale: the fastest speed, which on API bodies compresses within 1%
	// of the next and about as small as gzip 5, faster.
	DefaultZstdLevel = 1
)

// maxPadding bounds [RandomPadding]; more padding than this costs bandwidth
// without adding protection.
const maxPadding = 4096

// Option configures [New], [Middleware], [FileServer] and [Precompress];
// the constructor validates the options and returns an error for a bad one.
// Options are applied in order; a later option overrides an earlier one.
// Precompress uses [Encodings], [MinSize] and [ContentTypes] and ignores
// the rest. An Option is a value without state and may be shared between
// goroutines and constructors.
type Option func(*config) error

// config is the validated configuration; see the options for the meaning
// and default of each field.
type config struct {
	encodings     []string // server preference order
	encodingsSet  bool     // Encodings was given
	gzipLevel     int
	brotliLevel   int
	zstdLevel     int
	minSize       int
	types         typeMatcher
	notAcceptable bool
	padding       int
}

// defaultEncodings is the server preference order when [Encodings] is not
// given: zstd compresses JSON smaller than gzip and faster than both, brotli
// compresses smallest at a higher CPU cost, and gzip is what every client
// has.
var defaultEncodings = []string{Zstd, Brotli, Gzip}

// newConfig applies opts over the defaults and validates the result.
func newConfig(opts []Option) (*config, error) {
	c := &config{
		gzipLevel:   DefaultGzipLevel,
		brotliLevel: DefaultBrotliLevel,
		zstdLevel:   DefaultZstdLevel,
		minSize:     DefaultMinSize,
		types:       defaultTypes,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if !c.encodingsSet {
		c.encodings = defaultEncodings
		if c.padding > 0 {
			// Brotli has no field the encoder can pad; with padding on, the
			// default set leaves it out rather than send it unpadded.
			c.encodings = []string{Zstd, Gzip}
		}
	}
	if c.padding > 0 {
		for _, e := range c.encodings {
			if e == Brotli {
				return nil, errors.New("compress: RandomPadding cannot pad brotli streams; remove Brotli from Encodings or drop RandomPadding")
			}
		}
	}
	return c, nil
}

// Encodings sets the content codings the middleware may use, in the
// server's order of preference: when the client's Accept-Encoding gives two
// of them the same q-value, the one named first wins. Names are [Zstd],
// [Brotli] and [Gzip]; an unknown name, a repeated name or an empty list is
// an error.
//
// Defaults to Zstd, Brotli, Gzip (Zstd, Gzip when [RandomPadding] is on).
func Encodings(names ...string) Option {
	return func(c *config) error {
		if len(names) == 0 {
			return errors.New("compress: Encodings needs at least one of zstd, br, gzip")
		}
		seen := map[string]bool{}
		list := make([]string, 0, len(names))
		for _, n := range names {
			n = strings.ToLower(strings.TrimSpace(n))
			switch n {
			case Gzip, Brotli, Zstd:
			default:
				return fmt.Errorf("compress: unknown encoding %q; use %q, %q or %q", n, Zstd, Brotli, Gzip)
			}
			if seen[n] {
				return fmt.Errorf("compress: encoding %q listed twice in Encodings", n)
			}
			seen[n] = true
			list = append(list, n)
		}
		c.encodings = list
		c.encodingsSet = true
		return nil
	}
}

// GzipLevel sets the gzip compression level for on-the-fly compression, from
// 1 (fastest) to 9 (smallest). [Precompress] always uses 9.
//
// Defaults to [DefaultGzipLevel] (5).
func GzipLevel(level int) Option {
	return func(c *config) error {
		if level < gzip.BestSpeed || level > gzip.BestCompression {
			return fmt.Errorf("compress: gzip level %d out of range; use 1 (fastest) to 9 (smallest)", level)
		}
		c.gzipLevel = level
		return nil
	}
}

// BrotliLevel sets the brotli quality for on-the-fly compression, from 0
// (fastest) to 11 (smallest). Levels above 6 are slow enough to cost more
// than they save on dynamic responses; [Precompress] always uses 11.
//
// Defaults to [DefaultBrotliLevel] (5).
func BrotliLevel(level int) Option {
	return func(c *config) error {
		if level < brotli.BestSpeed || level > brotli.BestCompression {
			return fmt.Errorf("compress: brotli level %d out of range; use 0 (fastest) to 11 (smallest)", level)
		}
		c.brotliLevel = level
		return nil
	}
}

// ZstdLevel sets the zstd level for on-the-fly compression on zstd's own
// scale, 1 (fastest) to 22 (smallest). The encoder has four speeds, so
// levels map to them as klauspost/compress/zstd does: 1–2 fastest, 3–5
// default, 6–9 better, 10–22 best. [Precompress] always uses 19.
//
// Defaults to [DefaultZstdLevel] (1).
func ZstdLevel(level int) Option {
	return func(c *config) error {
		if level < 1 || level > 22 {
			return fmt.Errorf("compress: zstd level %d out of range; use 1 (fastest) to 22 (smallest)", level)
		}
		c.zstdLevel = level
		return nil
	}
}

// MinSize sets the smallest body, in bytes, worth compressing. The
// middleware buffers up to this many bytes to learn the size before it
// decides; a Content-Length the handler sets decides at once. A handler that
// flushes, or a text/event-stream response, is compressed regardless of
// size, since its total size is unknown. Zero compresses every non-empty
// body; a negative size is an error.
//
// Defaults to [DefaultMinSize] (1024).
func MinSize(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("compress: MinSize %d is negative; use 0 to compress every non-empty body", n)
		}
		c.minSize = n
		return nil
	}
}

// ContentTypes replaces the list of media types worth compressing. Each
// pattern is "type/subtype", "type/*" or "type/*+suffix" (for example
// "application/*+json"); matching ignores case and parameters such as
// charset. A response without Content-Type is sniffed with
// [net/http.DetectContentType] first, as net/http itself would. An empty list
// or a malformed pattern is an error.
//
// Defaults to [DefaultContentTypes]: text, JSON, XML, JavaScript, SVG, wasm,
// YAML, form data and uncompressed fonts; never images (other than SVG),
// video, audio or archives, which are compressed already.
func ContentTypes(patterns ...string) Option {
	return func(c *config) error {
		m, err := newTypeMatcher(patterns)
		if err != nil {
			return err
		}
		c.types = m
		return nil
	}
}

// NotAcceptable makes the middleware answer 406 Not Acceptable when the
// client rules out the identity coding ("identity;q=0", or "*;q=0" without
// identity) and accepts none of the enabled encodings, instead of sending
// the response uncompressed. Only successful (2xx) responses the middleware
// would otherwise send uncompressed are replaced; errors pass unchanged.
//
// Defaults to off, as RFC 9110 section 12.5.3 recommends: an unacceptable
// identity response is more useful to most clients than a 406.
func NotAcceptable(on bool) Option {
	return func(c *config) error {
		c.notAcceptable = on
		return nil
	}
}

// RandomPadding turns on a BREACH mitigation: every compressed response gets
// between 1 and maxBytes bytes of padding whose length is drawn at random
// per response, in the gzip header's comment field or in a zstd skippable
// frame in front of the data. Decoders ignore both. Brotli has no such
// field, so with padding on the default encodings leave brotli out and
// naming it in [Encodings] is an error. maxBytes must be between 1 and 4096;
// 0 turns padding off.
//
// Padding makes the length an attacker observes noisy; it does not hide it.
// Averaging over repeated requests removes the noise, so padding multiplies
// the number of requests an attack needs rather than preventing it. Prefer
// the real fixes where possible: keep secrets out of responses that reflect
// user input, mask CSRF tokens per request, or opt such responses out of
// compression by setting "Content-Encoding: identity" on them (the
// middleware removes that header and sends the body as is).
//
// Defaults to 0 (off).
func RandomPadding(maxBytes int) Option {
	return func(c *config) error {
		if maxBytes < 0 || maxBytes > maxPadding {
			return fmt.Errorf("compress: RandomPadding %d out of range; use 1 to %d bytes, or 0 for none", maxBytes, maxPadding)
		}
		c.padding = maxBytes
		return nil
	}
}
