package compress

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// The content codings this package produces, named as they appear in
// Accept-Encoding and Content-Encoding; list them in
// [Options].Encodings.
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
	// DefaultMinSize is the default of [Options].MinSize: bodies shorter
	// than 1 KiB gain less from compression than its framing and CPU cost.
	DefaultMinSize = 1024
	// DefaultGzipLevel is the default of [Options].GzipLevel, gzhttp's
	// too: level 1 is 1.6 times faster but 8% larger, level 6 no smaller.
	DefaultGzipLevel = 5
	// DefaultBrotliLevel is the default of [Options].BrotliLevel: the
	// lowest level that is clearly smaller than gzip (8–13% on JSON);
	// levels 3 and 4 are within 3% of gzip at several times its CPU.
	DefaultBrotliLevel = 5
	// DefaultZstdLevel is the default of [Options].ZstdLevel, on zstd's
	// own 1–22 scale: the fastest speed, which on API bodies compresses
	// within 1% of the next and about as small as gzip 5, faster.
	DefaultZstdLevel = 1
)

// maxPadding bounds [Options].RandomPadding; more padding than this costs
// bandwidth without adding protection.
const maxPadding = 4096

// Options configures [New], [Middleware], [FileServer] and [Precompress].
// A nil *Options and the zero value are valid: every field has a default,
// stated in its comment. The constructors copy what they use, so changing
// the Options afterwards has no effect; they return an error naming the
// first invalid field. Precompress uses Encodings, MinSize and
// ContentTypes and ignores the rest.
type Options struct {
	// Encodings are the content codings the middleware may use, in the
	// server's order of preference: when the client's Accept-Encoding
	// gives two of them the same q-value, the one named first wins. Names
	// are [Zstd], [Brotli] and [Gzip]; an unknown or repeated name is an
	// error. Defaults (nil or empty) to Zstd, Brotli, Gzip; to Zstd, Gzip
	// when RandomPadding is on.
	Encodings []string

	// GzipLevel is the gzip compression level for on-the-fly compression,
	// from 1 (fastest) to 9 (smallest); [Precompress] always uses 9.
	// Defaults to [DefaultGzipLevel] (5); zero means the default; negative
	// or above 9 is an error.
	GzipLevel int
	// BrotliLevel is the brotli quality for on-the-fly compression, from 1
	// (fastest) to 11 (smallest). Levels above 6 are slow enough to cost
	// more than they save on dynamic responses; [Precompress] always uses
	// 11. Defaults to [DefaultBrotliLevel] (5); zero means the default
	// (brotli's quality 0 is not offered: 1 is as fast for HTTP bodies);
	// negative or above 11 is an error.
	BrotliLevel int
	// ZstdLevel is the zstd level for on-the-fly compression on zstd's own
	// scale, 1 (fastest) to 22 (smallest). The encoder has four speeds, so
	// levels map to them as klauspost/compress/zstd does: 1–2 fastest,
	// 3–5 default, 6–9 better, 10–22 best. [Precompress] always uses 19.
	// Defaults to [DefaultZstdLevel] (1); zero means the default; negative
	// or above 22 is an error.
	ZstdLevel int

	// MinSize is the smallest body, in bytes, worth compressing. The
	// middleware buffers up to this many bytes to learn the size before it
	// decides; a Content-Length the handler sets decides at once. A
	// handler that flushes, or a text/event-stream response, is compressed
	// regardless of size, since its total size is unknown. Defaults to
	// [DefaultMinSize] (1024); zero means the default; negative disables
	// the minimum, so every non-empty body is compressed.
	MinSize int

	// ContentTypes is the list of media types worth compressing. Each
	// pattern is "type/subtype", "type/*" or "type/*+suffix" (for example
	// "application/*+json"); matching ignores case and parameters such as
	// charset. A response without Content-Type is sniffed with
	// [net/http.DetectContentType] first, as net/http itself would. A
	// malformed pattern is an error. Defaults (nil or empty) to
	// [DefaultContentTypes]: text, JSON, XML, JavaScript, SVG, wasm, YAML,
	// form data and uncompressed fonts; never images (other than SVG),
	// video, audio or archives, which are compressed already.
	ContentTypes []string

	// NotAcceptable makes the middleware answer 406 Not Acceptable when
	// the client rules out the identity coding ("identity;q=0", or
	// "*;q=0" without identity) and accepts none of the enabled encodings,
	// instead of sending the response uncompressed. Only successful (2xx)
	// responses the middleware would otherwise send uncompressed are
	// replaced; errors pass unchanged. Defaults to false, as RFC 9110
	// section 12.5.3 recommends: an unacceptable identity response is
	// more useful to most clients than a 406.
	NotAcceptable bool

	// RandomPadding turns on a BREACH mitigation: every compressed
	// response gets between 1 and RandomPadding bytes of padding whose
	// length is drawn at random per response, in the gzip header's comment
	// field or in a zstd skippable frame in front of the data. Decoders
	// ignore both. Brotli has no such field, so with padding on the
	// default Encodings leave brotli out and naming it is an error.
	//
	// Padding makes the length an attacker observes noisy; it does not
	// hide it. Averaging over repeated requests removes the noise, so
	// padding multiplies the number of requests an attack needs rather
	// than preventing it. Prefer the real fixes where possible: keep
	// secrets out of responses that reflect user input, mask CSRF tokens
	// per request, or opt such responses out of compression by setting
	// "Content-Encoding: identity" on them (the middleware removes that
	// header and sends the body as is).
	//
	// Defaults to 0, off; zero means off; negative or above 4096 is an
	// error.
	RandomPadding int
}

// config is the validated configuration; see [Options] for the meaning
// and default of each field.
type config struct {
	encodings     []string // server preference order
	gzipLevel     int
	brotliLevel   int
	zstdLevel     int
	minSize       int // 0: every non-empty body
	types         typeMatcher
	notAcceptable bool
	padding       int
}

// defaultEncodings is the server preference order when Options.Encodings
// is empty: zstd compresses JSON smaller than gzip and faster than both,
// brotli compresses smallest at a higher CPU cost, and gzip is what every
// client has.
var defaultEncodings = []string{Zstd, Brotli, Gzip}

// negativeError reports a field that rejects negative values, in the
// wording every wirespeed package uses.
func negativeError(field string, v int, hint string) error {
	return fmt.Errorf("compress: Options.%s is negative (%d); %s", field, v, hint)
}

// newConfig validates opts (nil means all defaults) and fills in the
// defaults. It does not modify opts.
func newConfig(opts *Options) (*config, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &config{
		gzipLevel:     cmp.Or(o.GzipLevel, DefaultGzipLevel),
		brotliLevel:   cmp.Or(o.BrotliLevel, DefaultBrotliLevel),
		zstdLevel:     cmp.Or(o.ZstdLevel, DefaultZstdLevel),
		minSize:       cmp.Or(o.MinSize, DefaultMinSize),
		types:         defaultTypes,
		notAcceptable: o.NotAcceptable,
		padding:       o.RandomPadding,
	}
	switch {
	case o.GzipLevel < 0:
		return nil, negativeError("GzipLevel", o.GzipLevel, "use 1 (fastest) to 9 (smallest), or 0 for the default")
	case c.gzipLevel < gzip.BestSpeed || c.gzipLevel > gzip.BestCompression:
		return nil, fmt.Errorf("compress: Options.GzipLevel %d is out of range; use 1 (fastest) to 9 (smallest)", o.GzipLevel)
	case o.BrotliLevel < 0:
		return nil, negativeError("BrotliLevel", o.BrotliLevel, "use 1 (fastest) to 11 (smallest), or 0 for the default")
	case c.brotliLevel > brotli.BestCompression:
		return nil, fmt.Errorf("compress: Options.BrotliLevel %d is out of range; use 1 (fastest) to 11 (smallest)", o.BrotliLevel)
	case o.ZstdLevel < 0:
		return nil, negativeError("ZstdLevel", o.ZstdLevel, "use 1 (fastest) to 22 (smallest), or 0 for the default")
	case c.zstdLevel > 22:
		return nil, fmt.Errorf("compress: Options.ZstdLevel %d is out of range; use 1 (fastest) to 22 (smallest)", o.ZstdLevel)
	case o.RandomPadding < 0:
		return nil, negativeError("RandomPadding", o.RandomPadding, "use 1 to 4096 bytes, or 0 for none")
	case o.RandomPadding > maxPadding:
		return nil, fmt.Errorf("compress: Options.RandomPadding %d is out of range; use 1 to %d bytes, or 0 for none", o.RandomPadding, maxPadding)
	}
	c.minSize = max(c.minSize, 0) // negative: no minimum
	if len(o.ContentTypes) > 0 {
		m, err := newTypeMatcher(o.ContentTypes)
		if err != nil {
			return nil, err
		}
		c.types = m
	}
	if len(o.Encodings) > 0 {
		list, err := parseEncodings(o.Encodings)
		if err != nil {
			return nil, err
		}
		c.encodings = list
	} else {
		c.encodings = defaultEncodings
		if c.padding > 0 {
			// Brotli has no field the encoder can pad; with padding on, the
			// default set leaves it out rather than send it unpadded.
			c.encodings = []string{Zstd, Gzip}
		}
	}
	if c.padding > 0 && slices.Contains(c.encodings, Brotli) {
		return nil, errors.New("compress: Options.RandomPadding cannot pad brotli streams; remove Brotli from Options.Encodings or set RandomPadding to 0")
	}
	return c, nil
}

// parseEncodings checks Options.Encodings and returns a normalized copy.
func parseEncodings(names []string) ([]string, error) {
	seen := map[string]bool{}
	list := make([]string, 0, len(names))
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		switch n {
		case Gzip, Brotli, Zstd:
		default:
			return nil, fmt.Errorf("compress: Options.Encodings: unknown encoding %q; use %q, %q or %q", n, Zstd, Brotli, Gzip)
		}
		if seen[n] {
			return nil, fmt.Errorf("compress: Options.Encodings lists %q twice", n)
		}
		seen[n] = true
		list = append(list, n)
	}
	return list, nil
}
