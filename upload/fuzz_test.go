package upload_test

import (
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/upload"
)

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{"", "a " + b64("x"), "a,b " + b64("y"), "a !!", " , ,", "a b c", "k\x00 eA=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		m, err := upload.ParseMetadata(h, 4096)
		if err != nil {
			return
		}
		// What parses re-encodes to something that parses to the same.
		m2, err := upload.ParseMetadata(upload.EncodeMetadata(m), 1<<20)
		if err != nil || len(m2) != len(m) {
			t.Fatalf("%q: round trip %v %v", h, m2, err)
		}
		for k, v := range m {
			if m2[k] != v || strings.ContainsAny(k, " ,") {
				t.Fatalf("%q: key %q", h, k)
			}
		}
	})
}

func FuzzParseChecksum(f *testing.F) {
	for _, s := range []string{"sha256 " + b64(strings.Repeat("x", 32)), "md5 xx", "crc32 AAAA", "", "sha1", "SHA1 " + b64(strings.Repeat("x", 20))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		algo, d, err := upload.ParseChecksum(h)
		if err != nil {
			return
		}
		want := map[string]int{"md5": 16, "sha1": 20, "sha256": 32}[algo]
		if want == 0 || len(d) != want {
			t.Fatalf("%q: %s with %d bytes", h, algo, len(d))
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-5", "bytes=5-", "bytes=0-1,0-1,3-9", "bytes=9-1", "bytes=,", "items=0-1", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		rs, ok := upload.ParseRange(h, size)
		if !ok {
			return
		}
		for _, r := range rs {
			if r.Start < 0 || r.End > size || r.Start >= r.End {
				t.Fatalf("%q size %d: range %+v", h, size, r)
			}
		}
		c := upload.CoalesceRanges(rs, 4)
		if len(c) > 4 {
			t.Fatalf("%d ranges after coalescing", len(c))
		}
		var total int64
		for i, r := range c {
			if i > 0 && r.Start <= c[i-1].End {
				t.Fatalf("%q: ranges %v overlap or touch", h, c)
			}
			total += r.End - r.Start
		}
		if total > size {
			t.Fatalf("%q: %d bytes of a %d-byte file", h, total, size)
		}
		if len(c) > 0 {
			back, ok := upload.ParseRange(upload.FormatRange(c), size)
			if !ok || len(back) != len(c) {
				t.Fatalf("%q: FormatRange does not round-trip: %v", h, back)
			}
		}
	})
}
