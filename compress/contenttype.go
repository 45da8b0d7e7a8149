package compress

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultContentTypes returns the media-type patterns [Options].ContentTypes
// defaults to, in a new slice the caller may change: text, JSON, XML,
// JavaScript, SVG, WebAssembly, YAML, TOML, form data and uncompressed font
// formats. Images (other than SVG), audio, video and archives are absent
// because they are compressed already.
func DefaultContentTypes() []string { return slices.Clone(defaultTypePatterns) }

var defaultTypePatterns = []string{
	"text/*",
	"application/json",
	"application/*+json",
	"application/x-ndjson",
	"application/javascript",
	"application/x-javascript",
	"application/ecmascript",
	"application/xml",
	"application/*+xml",
	"image/svg+xml",
	"application/wasm",
	"application/yaml",
	"application/x-yaml",
	"application/toml",
	"application/x-www-form-urlencoded",
	"application/graphql",
	"application/vnd.ms-fontobject",
	"font/ttf",
	"font/otf",
	"font/collection",
}

var defaultTypes = mustTypeMatcher(defaultTypePatterns)

func mustTypeMatcher(patterns []string) typeMatcher {
	m, err := newTypeMatcher(patterns)
	if err != nil {
		panic(err)
	}
	return m
}

// typePattern is one parsed pattern: typ/sub, typ/* (sub == "*") or
// typ/*+suffix (sub == "", suffix set). All lower case.
type typePattern struct {
	typ, sub, suffix string
}

// typeMatcher decides whether a Content-Type is worth compressing. It is
// immutable after construction and safe for concurrent use.
type typeMatcher []typePattern

func newTypeMatcher(patterns []string) (typeMatcher, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("compress: Options.ContentTypes needs at least one pattern; see DefaultContentTypes")
	}
	m := make(typeMatcher, 0, len(patterns))
	for _, p := range patterns {
		typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(p)), "/")
		if !ok || !isToken(typ) || typ == "*" || sub == "" || strings.ContainsAny(sub, "; \t") {
			return nil, fmt.Errorf("compress: Options.ContentTypes: pattern %q is malformed; use type/subtype, type/* or type/*+suffix", p)
		}
		switch {
		case sub == "*":
			m = append(m, typePattern{typ: typ, sub: "*"})
		case strings.HasPrefix(sub, "*+"):
			if !isToken(sub[2:]) {
				return nil, fmt.Errorf("compress: Options.ContentTypes: pattern %q has a malformed suffix", p)
			}
			m = append(m, typePattern{typ: typ, suffix: sub[1:]}) // "+json"
		default:
			if !isToken(sub) {
				return nil, fmt.Errorf("compress: Options.ContentTypes: pattern %q is malformed; use type/subtype, type/* or type/*+suffix", p)
			}
			m = append(m, typePattern{typ: typ, sub: sub})
		}
	}
	return m, nil
}

// match reports whether the media type of the Content-Type value ct is in
// the list. Parameters are ignored; ct is not modified or copied.
func (m typeMatcher) match(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	typ, sub, ok := strings.Cut(ct, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	for _, p := range m {
		if !strings.EqualFold(typ, p.typ) {
			continue
		}
		switch {
		case p.sub == "*":
			return true
		case p.suffix != "":
			if len(sub) > len(p.suffix) && strings.EqualFold(sub[len(sub)-len(p.suffix):], p.suffix) {
				return true
			}
		case strings.EqualFold(sub, p.sub):
			return true
		}
	}
	return false
}

// isEventStream reports whether ct is text/event-stream, whatever its
// parameters and case.
func isEventStream(ct string) bool {
	const es = "text/event-stream"
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false
	}
	rest := ct[len(es):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool { return tchars[c] }

// tchars marks the RFC 9110 tchar bytes.
var tchars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()
