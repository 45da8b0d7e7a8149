package compress_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/compress"
)

var allEncodings = []string{compress.Zstd, compress.Brotli, compress.Gzip}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		header     []string // field lines; nil means no header
		enabled    []string // allEncodings when nil
		want       string
		identityOK bool
	}{
		{name: "no header", header: nil, want: "", identityOK: true},
		{name: "empty header", header: []string{""}, want: "", identityOK: true},
		{name: "chrome", header: []string{"gzip, deflate, br, zstd"}, want: "zstd", identityOK: true},
		{name: "chrome over http", header: []string{"gzip, deflate"}, want: "gzip", identityOK: true},
		{name: "curl", header: []string{"deflate, gzip, br, zstd"}, want: "zstd", identityOK: true},
		{name: "server order breaks ties", header: []string{"gzip, br"}, want: "br", identityOK: true},
		{name: "server order is configurable", header: []string{"gzip, br, zstd"}, enabled: []string{"gzip", "br"}, want: "gzip", identityOK: true},
		{name: "highest q wins", header: []string{"zstd;q=0.2, br;q=0.9, gzip;q=0.5"}, want: "br", identityOK: true},
		{name: "three decimals", header: []string{"zstd;q=0.001, gzip;q=0.002"}, want: "gzip", identityOK: true},
		{name: "star", header: []string{"*"}, want: "zstd", identityOK: true},
		{name: "star with exclusion", header: []string{"zstd;q=0, *"}, want: "br", identityOK: true},
		{name: "br excluded under star", header: []string{"br;q=0, *"}, enabled: []string{"br", "gzip"}, want: "gzip", identityOK: true},
		{name: "star lower than named", header: []string{"*;q=0.1, gzip"}, want: "gzip", identityOK: true},
		{name: "star zero", header: []string{"*;q=0"}, want: "", identityOK: false},
		{name: "star zero identity named", header: []string{"*;q=0, identity"}, want: "", identityOK: true},
		{name: "identity zero", header: []string{"identity;q=0"}, want: "", identityOK: false},
		{name: "identity zero gzip", header: []string{"identity;q=0, gzip"}, want: "gzip", identityOK: false},
		{name: "identity preferred", header: []string{"identity;q=1, gzip;q=0.5"}, want: "", identityOK: true},
		{name: "implicit identity does not outrank", header: []string{"gzip;q=0.5"}, want: "gzip", identityOK: true},
		{name: "identity tie goes to compression", header: []string{"identity, gzip"}, want: "gzip", identityOK: true},
		{name: "case and spaces", header: []string{"  GZip ; Q=0.8 ,\tBR;q=0.7  "}, want: "gzip", identityOK: true},
		{name: "x-gzip", header: []string{"x-gzip"}, want: "gzip", identityOK: true},
		{name: "duplicate keeps lowest", header: []string{"gzip, gzip;q=0"}, want: "", identityOK: true},
		{name: "several lines", header: []string{"gzip;q=0.5", "br"}, want: "br", identityOK: true},
		{name: "exclusion on another line", header: []string{"zstd, br", "zstd;q=0"}, want: "br", identityOK: true},
		{name: "unknown codings only", header: []string{"deflate, compress, lzma"}, want: "", identityOK: true},
		{name: "q above one ignored", header: []string{"gzip;q=1.5, br;q=0.1"}, want: "br", identityOK: true},
		{name: "four decimals ignored", header: []string{"gzip;q=0.1234"}, want: "", identityOK: true},
		{name: "quoted q ignored", header: []string{`gzip;q="0.5"`}, want: "", identityOK: true},
		{name: "q with spaces ignored", header: []string{"gzip;q = 0.5"}, want: "", identityOK: true},
		{name: "other parameters skipped", header: []string{`gzip;level=9;q=0.5;note="a;b"`}, want: "gzip", identityOK: true},
		{name: "empty elements", header: []string{",,, ,gzip,,"}, want: "gzip", identityOK: true},
		{name: "garbage", header: []string{"\x00\xff;;q=0=1,\"\"\","}, want: "", identityOK: true},
		{name: "empty parameter", header: []string{"gzip;;q=0.3; "}, want: "gzip", identityOK: true},
		{name: "unterminated quote", header: []string{`gzip;x="abc`}, want: "", identityOK: true},
		{name: "q=0 dot", header: []string{"gzip;q=0., br;q=1."}, want: "br", identityOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enabled := tc.enabled
			if enabled == nil {
				enabled = allEncodings
			}
			got, ok := compress.Negotiate(tc.header, enabled...)
			if got != tc.want || ok != tc.identityOK {
				t.Fatalf("Negotiate(%q, %q) = %q, %v; want %q, %v", tc.header, enabled, got, ok, tc.want, tc.identityOK)
			}
			if strings.Join(tc.header, "") != "" && !strings.Contains(strings.Join(tc.header, ""), `"`) {
				ref, refOK := refNegotiate(tc.header, enabled)
				if ref != got || refOK != ok {
					t.Fatalf("reference disagrees: %q, %v", ref, refOK)
				}
			}
		})
	}
}

// refNegotiate is an independent, slower statement of the rules in
// negotiate.go, for the fuzz target: split, trim, validate, then pick.
// It does not handle quoted parameter values; callers skip such input.
func refNegotiate(lines []string, enabled []string) (string, bool) {
	q := map[string]int{}
	for _, line := range lines {
		for _, elem := range strings.Split(line, ",") {
			parts := strings.Split(elem, ";")
			name := strings.ToLower(strings.Trim(parts[0], " \t"))
			if !tokenRE.MatchString(name) {
				continue
			}
			weight, ok := 1000, true
			for _, p := range parts[1:] {
				p = strings.Trim(p, " \t")
				if p == "" {
					continue
				}
				k, v, found := strings.Cut(p, "=")
				if !found || !tokenRE.MatchString(k) || !tokenRE.MatchString(v) {
					ok = false
					break
				}
				if k == "q" || k == "Q" {
					w, good := refQValue(v)
					if !good {
						ok = false
						break
					}
					weight = w
				}
			}
			if !ok {
				continue
			}
			if name == "x-gzip" {
				name = "gzip"
			}
			if old, seen := q[name]; !seen || weight < old {
				q[name] = weight
			}
		}
	}
	best, bestQ := "", 0
	for _, e := range enabled {
		w, ok := q[e]
		if !ok {
			w = q["*"] // 0 when absent
		}
		if w > bestQ {
			best, bestQ = e, w
		}
	}
	identity, ok := q["identity"]
	if !ok {
		identity, ok = q["*"]
	}
	if !ok {
		identity = -1
	}
	if best != "" && identity > bestQ {
		best = ""
	}
	return best, identity != 0
}

var (
	tokenRE  = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
	qvalueRE = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)
)

func refQValue(s string) (int, bool) {
	if !qvalueRE.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "."), 64)
	if err != nil {
		return 0, false
	}
	return int(f*1000 + 0.5), true
}

// FuzzNegotiate checks the Accept-Encoding parser against refNegotiate and
// its invariants on arbitrary input: no panic, an offered coding only when
// its weight is positive.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"gzip, deflate, br, zstd", "br;q=0, *", "identity;q=0", "*;q=0, identity;q=0.5",
		"gzip;q=0.5, br;q=1.0, zstd;q=0.999", "x-gzip;Q=1.", " , ;q=1,gzip;;q=0", `gzip;a="b,c";q=0`,
		"GZIP;q=0.001,\tzstd", "zstd;q=0.", "*",
	} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, header string, order int) {
		perms := [][]string{
			{"zstd", "br", "gzip"}, {"gzip", "br", "zstd"}, {"br"}, {"gzip", "zstd"},
		}
		enabled := perms[((order%len(perms))+len(perms))%len(perms)]
		got, ok := compress.Negotiate([]string{header}, enabled...)
		if got != "" {
			found := false
			for _, e := range enabled {
				found = found || e == got
			}
			if !found {
				t.Fatalf("chose %q, not among %q", got, enabled)
			}
		}
		if strings.Contains(header, `"`) {
			return
		}
		ref, refOK := refNegotiate([]string{header}, enabled)
		if got != ref || ok != refOK {
			t.Fatalf("Negotiate(%q, %q) = %q, %v; reference says %q, %v", header, enabled, got, ok, ref, refOK)
		}
	})
}
