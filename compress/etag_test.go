package compress_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/compress"
)

func TestIfNoneMatchWeak(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		tag   string
		want  bool
	}{
		{"weak form", []string{`W/"a"`}, `"a"`, true},
		{"strong form does not count", []string{`"a"`}, `"a"`, false},
		{"in a list", []string{`"x", W/"y",W/"a"`}, `"a"`, true},
		{"second line", []string{`"x"`, ` W/"a" `}, `"a"`, true},
		{"comma inside a tag", []string{`W/"a,b"`}, `"a,b"`, true},
		{"other tag", []string{`W/"b"`}, `"a"`, false},
		{"star", []string{`*`}, `"a"`, false},
		{"unterminated", []string{`W/"a`}, `"a"`, false},
		{"malformed before", []string{`junk, W/"a"`}, `"a"`, false},
		{"malformed after", []string{`W/"a", junk`}, `"a"`, true},
		{"missing comma", []string{`"x" W/"a"`}, `"a"`, false},
		{"control character", []string{"W/\"a\x01\""}, "\"a\x01\"", false},
		{"empty", nil, `"a"`, false},
		{"empty commas", []string{` , ,W/"a"`}, `"a"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := compress.IfNoneMatchWeak(tc.lines, tc.tag); got != tc.want {
				t.Fatalf("IfNoneMatchWeak(%q, %q) = %v, want %v", tc.lines, tc.tag, got, tc.want)
			}
		})
	}
}

// refElemRE matches one If-None-Match element at the start of the rest of
// a field line: separators, then an entity-tag, then a separator or the end.
var refElemRE = regexp.MustCompile(`^[ \t,]*(W/)?("[\x21\x23-\x7e]*")[ \t]*(,|$)`)

// refIfNoneMatchWeak is an independent statement of the scan, with
// regular expressions.
func refIfNoneMatchWeak(line, tag string) bool {
	line, tag = asciiOnly(line), asciiOnly(tag)
	for {
		if regexp.MustCompile(`^[ \t,]*$`).MatchString(line) {
			return false
		}
		m := refElemRE.FindStringSubmatchIndex(line)
		if m == nil {
			return false
		}
		if m[2] >= 0 && line[m[4]:m[5]] == tag {
			return true
		}
		line = line[m[1]:]
	}
}

// asciiOnly rewrites obs-text (bytes 0x80–0xFF, which Go's regexp reads as
// UTF-8) injectively into etagc characters: "~" becomes "~~" and a high
// byte "~" and two hex digits.
func asciiOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '~':
			b.WriteString("~~")
		case c >= 0x80:
			fmt.Fprintf(&b, "~%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzIfNoneMatch checks the If-None-Match scan, a parser of request
// input, against the regular-expression reference.
func FuzzIfNoneMatch(f *testing.F) {
	f.Add(`W/"a"`, `"a"`)
	f.Add(`"x", W/"a,b" ,W/"a"`, `"a"`)
	f.Add(`*`, `"a"`)
	f.Add(`W/"a`, `"a"`)
	f.Add(` ,, W/"" `, `""`)
	f.Fuzz(func(t *testing.T, line, tag string) {
		if !regexp.MustCompile(`^"[\x21\x23-\x7e]*"$`).MatchString(asciiOnly(tag)) {
			return // the middleware only asks about well-formed strong tags
		}
		got := compress.IfNoneMatchWeak([]string{line}, tag)
		if want := refIfNoneMatchWeak(line, tag); got != want {
			t.Fatalf("IfNoneMatchWeak(%q, %q) = %v; reference says %v", line, tag, got, want)
		}
	})
}
