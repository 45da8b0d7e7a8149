package compress

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoder is what the three libraries' writers have in common. Reset makes
// any encoder, whatever state it was left in (closed, failed, or abandoned
// mid-stream by a panicking handler), equivalent to a new one writing to w.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(w io.Writer)
}

var (
	_ encoder = (*gzip.Writer)(nil)
	_ encoder = (*brotli.Writer)(nil)
	_ encoder = (*zstd.Encoder)(nil)
)

// Window sizes for on-the-fly compression. They bound the memory each
// pooled encoder holds (about 0.8 MiB for zstd, 2.7 MiB for brotli 5, 1.1
// MiB for gzip, measured after a 128 KiB body); only bodies larger than
// the window compress a little worse. RFC 9659 caps zstd at 8 MiB for HTTP.
const (
	dynamicZstdWindow = 256 << 10 // 256 KiB
	dynamicBrotliWin  = 18        // log2: 256 KiB
	staticZstdWindow  = 8 << 20   // the RFC 9659 maximum
)

// codec is one enabled coding with its pool of encoders at the configured
// level. Safe for concurrent use.
type codec struct {
	name   string
	coding int
	pool   sync.Pool // of encoder
}

func newCodec(coding int, cfg *config) (*codec, error) {
	c := &codec{name: codingNames[coding], coding: coding}
	// Build one encoder now so a bad level fails in New, not in a request.
	e, err := newEncoder(coding, cfg)
	if err != nil {
		return nil, err
	}
	c.pool.Put(e)
	c.pool.New = func() any {
		e, _ := newEncoder(coding, cfg) // the same arguments succeeded above
		return e
	}
	return c, nil
}

// newEncoder returns an encoder for on-the-fly compression at the
// configured level.
func newEncoder(coding int, cfg *config) (encoder, error) {
	switch coding {
	case codingGzip:
		return gzip.NewWriterLevel(nil, cfg.gzipLevel)
	case codingBrotli:
		return brotli.NewWriterOptions(nil, brotli.WriterOptions{Quality: cfg.brotliLevel, LGWin: dynamicBrotliWin}), nil
	case codingZstd:
		return zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(cfg.zstdLevel)),
			zstd.WithEncoderConcurrency(1), // no goroutines; the request's own does the work
			zstd.WithWindowSize(dynamicZstdWindow),
			zstd.WithLowerEncoderMem(true),
			zstd.WithZeroFrames(true), // an empty body is still a valid frame
		)
	}
	return nil, fmt.Errorf("compress: no encoder for coding %d", coding)
}

// newStaticEncoder returns an encoder at maximum effort, for sidecar files:
// gzip 9, brotli 11, zstd's best level within the RFC 9659 window.
func newStaticEncoder(coding int, w io.Writer) (encoder, error) {
	switch coding {
	case codingGzip:
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	case codingBrotli:
		return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: brotli.BestCompression}), nil
	case codingZstd:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(19)),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(staticZstdWindow),
		)
	}
	return nil, fmt.Errorf("compress: no encoder for coding %d", coding)
}

// get returns a pooled encoder writing to dst, in a fresh state.
func (c *codec) get(dst io.Writer) encoder {
	e := c.pool.Get().(encoder)
	e.Reset(dst)
	return e
}

// put returns e to the pool. An encoder abandoned mid-stream is reset
// first, so the pool never holds one with a half-written stream or a
// reference to a finished response; a cleanly closed one is reset by the
// next get anyway.
func (c *codec) put(e encoder, clean bool) {
	if !clean {
		e.Reset(nil)
	}
	c.pool.Put(e)
}

// padding is the filler text for RandomPadding: printable Latin-1 without
// NUL, as the gzip comment field requires.
var padding = strings.Repeat("wirespeed-padding.", maxPadding/18+1)[:maxPadding]

// zstdSkippableMagic is the first of the 16 skippable-frame magic numbers
// (RFC 8878 section 3.1.2).
const zstdSkippableMagic = 0x184D2A50

// pad adds n bytes of padding to the stream e is about to start: in the
// gzip header's comment, or as a zstd skippable frame written to dst ahead
// of e's first frame. scratch holds the frame header so nothing escapes.
func pad(e encoder, dst io.Writer, n int, scratch *[8]byte) error {
	switch e := e.(type) {
	case *gzip.Writer:
		e.Comment = padding[:n]
		return nil
	case *zstd.Encoder:
		binary.LittleEndian.PutUint32(scratch[0:4], zstdSkippableMagic)
		binary.LittleEndian.PutUint32(scratch[4:8], uint32(n))
		if _, err := dst.Write(scratch[:]); err != nil {
			return err
		}
		_, err := io.WriteString(dst, padding[:n])
		return err
	}
	return fmt.Errorf("compress: cannot pad %T", e)
}
