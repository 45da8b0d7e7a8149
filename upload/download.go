package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ServeOptions configure [ServeContent]. A nil *ServeOptions selects every
// default.
type ServeOptions struct {
	// MaxRanges is the most byte ranges one response carries. Ranges are
	// first sorted and overlapping or adjacent ones merged (so a request
	// can never make the response longer than the file); when more remain
	// they are served as the one range that covers them all. Default 16;
	// negative is an error.
	MaxRanges int
	// Filename is sent in Content-Disposition (RFC 6266, with an RFC 5987
	// filename* for names that are not plain ASCII); path elements and
	// control characters are dropped. Default "": no Content-Disposition.
	Filename string
	// Inline sends "inline" instead of "attachment" in
	// Content-Disposition. Default false.
	Inline bool
	// ContentType is the Content-Type. Default "application/octet-stream"
	// (never sniffed from the bytes: an uploaded file is not trusted to be
	// what it looks like).
	ContentType string
	// ETag is the strong entity tag, quoted, for If-Range, If-Match and
	// If-None-Match. Default "": a tag derived from the size and ModTime
	// ([StrongETag]).
	ETag string
	// ModTime is the Last-Modified time. Default zero: none is sent.
	ModTime time.Time
}

func (o *ServeOptions) withDefaults() (ServeOptions, error) {
	var c ServeOptions
	if o != nil {
		c = *o
	}
	switch {
	case c.MaxRanges < 0:
		return c, fmt.Errorf("upload: ServeOptions.MaxRanges is negative (%d)", c.MaxRanges)
	case c.MaxRanges == 0:
		c.MaxRanges = 16
	}
	if c.ContentType == "" {
		c.ContentType = "application/octet-stream"
	}
	return c, nil
}

// StrongETag returns a strong entity tag for content named name with the
// size and modification time: it changes whenever either does.
func StrongETag(name string, size int64, mod time.Time) string {
	s := sha256.Sum256([]byte(name + "\x00" + strconv.FormatInt(size, 10) + "\x00" + strconv.FormatInt(mod.UnixNano(), 10)))
	return `"` + hex.EncodeToString(s[:12]) + `"`
}

// ServeContent serves content with http.ServeContent's semantics (Range,
// If-Range, multipart/byteranges, conditional requests), after
// normalizing the Range header: ranges are sorted, overlapping and
// adjacent ones merged, and capped at opts.MaxRanges, which defeats range
// amplification (many overlapping ranges of one large file). Bytes are
// copied from content as they are sent, so memory does not grow with the
// file. It returns an error, and answers 500, only for invalid options.
func ServeContent(w http.ResponseWriter, r *http.Request, content io.ReadSeeker, opts *ServeOptions) error {
	o, err := opts.withDefaults()
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal error")
		return err
	}
	size, err := content.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = content.Seek(0, io.SeekStart)
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal error")
		return fmt.Errorf("upload: seek content: %w", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", o.ContentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	if o.ETag == "" {
		o.ETag = StrongETag("", size, o.ModTime)
	}
	hd.Set("ETag", o.ETag)
	if o.Filename != "" {
		disp := "attachment"
		if o.Inline {
			disp = "inline"
		}
		hd.Set("Content-Disposition", ContentDisposition(disp, o.Filename))
	}
	if rh := r.Header.Get("Range"); rh != "" {
		if rs, ok := ParseRange(rh, size); ok && len(rs) > 0 {
			rs = CoalesceRanges(rs, o.MaxRanges)
			r = r.Clone(r.Context())
			r.Header.Set("Range", FormatRange(rs))
		}
	}
	http.ServeContent(w, r, "", o.ModTime, content)
	return nil
}

// ByteRange is a range of bytes [Start, End) of a resource.
type ByteRange struct{ Start, End int64 }

// ParseRange parses a Range header ("bytes=0-99,200-,-50") against a
// resource of size bytes. It returns the satisfiable ranges in request
// order; ok is false when the header is not a syntactically valid bytes
// range set (the caller then leaves it to http.ServeContent, which answers
// 416). At most 1000 ranges are parsed; a header with more is invalid.
func ParseRange(h string, size int64) (rs []ByteRange, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || len(h) > 16<<10 {
		return nil, false
	}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if len(rs) >= 1000 {
			return nil, false
		}
		first, last, dash := strings.Cut(part, "-")
		if !dash {
			return nil, false
		}
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		var br ByteRange
		if first == "" {
			n, err := parseLength(last) // suffix range: the last n bytes
			if err != nil {
				return nil, false
			}
			if n == 0 {
				continue
			}
			br = ByteRange{Start: max(size-n, 0), End: size}
		} else {
			s, err := parseLength(first)
			if err != nil {
				return nil, false
			}
			e := size - 1
			if last != "" {
				if e, err = parseLength(last); err != nil || e < s {
					return nil, false
				}
				e = min(e, size-1)
			}
			if s >= size {
				continue // unsatisfiable, skipped
			}
			br = ByteRange{Start: s, End: e + 1}
		}
		if br.Start < br.End {
			rs = append(rs, br)
		}
	}
	return rs, true
}

// CoalesceRanges sorts rs, merges overlapping and adjacent ranges and, when
// more than max remain, returns the single range covering them all.
func CoalesceRanges(rs []ByteRange, max int) []ByteRange {
	out := append([]ByteRange(nil), rs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	n := 0
	for _, r := range out {
		if n > 0 && r.Start <= out[n-1].End {
			out[n-1].End = maxInt64(out[n-1].End, r.End)
			continue
		}
		out[n] = r
		n++
	}
	out = out[:n]
	if max > 0 && len(out) > max {
		out = []ByteRange{{Start: out[0].Start, End: out[len(out)-1].End}}
	}
	return out
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// FormatRange writes rs as a Range header value.
func FormatRange(rs []ByteRange) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(r.Start, 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatInt(r.End-1, 10))
	}
	return b.String()
}

// ContentDisposition returns a Content-Disposition value (RFC 6266) of the
// given type ("attachment" or "inline") for filename: the name's last path
// element, at most 255 bytes, with control characters dropped; a quoted
// ASCII fallback in which anything else non-ASCII, quotes, backslashes and
// percent signs become '_'; and, when the name is not plain ASCII, an
// RFC 5987 filename* with the UTF-8 name percent-encoded.
func ContentDisposition(disposition, filename string) string {
	name := strings.ToValidUTF8(filename, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, name)
	for len(name) > 255 {
		_, sz := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-sz]
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		name = "download"
	}
	ascii := strings.Map(func(r rune) rune {
		if r >= 0x80 || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	v := disposition + `; filename="` + ascii + `"`
	if ascii != name {
		v += "; filename*=UTF-8''" + pctEncode(name)
	}
	return v
}

// pctEncode encodes s with RFC 5987's attr-char set left as is.
func pctEncode(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}
