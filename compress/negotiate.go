package compress

import "strings"

// Codings the negotiation knows, as indexes into acceptance.q.
const (
	codingGzip = iota
	codingBrotli
	codingZstd
	numCodings
)

// codingNames maps the indexes above to their Content-Encoding names.
var codingNames = [numCodings]string{codingGzip: Gzip, codingBrotli: Brotli, codingZstd: Zstd}

func codingIndex(name string) int {
	for i, n := range codingNames {
		if n == name {
			return i
		}
	}
	return -1
}

// qUnset marks a coding the header does not name.
const qUnset = -1

// acceptance is a parsed Accept-Encoding field: the weight the client gave
// each coding, in thousandths (RFC 9110 qvalues have three decimals), or
// qUnset.
type acceptance struct {
	q        [numCodings]int16
	identity int16
	star     int16
}

// parseAcceptEncoding parses every Accept-Encoding field line of a request
// (RFC 9110 section 12.5.3) without allocating. Parsing is lenient about
// what it cannot use and strict about what it acts on: an element with a
// malformed coding or weight is ignored, neither accepted nor excluded;
// unknown codings and parameters are skipped. A coding named more than once
// keeps its lowest weight, so an explicit exclusion is never overridden.
// "x-gzip" counts as gzip (RFC 9110 section 8.4.1.3).
func parseAcceptEncoding(lines []string) acceptance {
	a := acceptance{q: [numCodings]int16{qUnset, qUnset, qUnset}, identity: qUnset, star: qUnset}
	for _, line := range lines {
		for line != "" {
			var elem string
			if i := strings.IndexByte(line, ','); i >= 0 {
				elem, line = line[:i], line[i+1:]
			} else {
				elem, line = line, ""
			}
			name, q, ok := parseElement(elem)
			if !ok {
				continue
			}
			var slot *int16
			switch len(name) {
			case 1:
				if name == "*" {
					slot = &a.star
				}
			case 2:
				if equalLower(name, "br") {
					slot = &a.q[codingBrotli]
				}
			case 4:
				if equalLower(name, "gzip") {
					slot = &a.q[codingGzip]
				} else if equalLower(name, "zstd") {
					slot = &a.q[codingZstd]
				}
			case 6:
				if equalLower(name, "x-gzip") {
					slot = &a.q[codingGzip]
				}
			case 8:
				if equalLower(name, "identity") {
					slot = &a.identity
				}
			}
			if slot == nil {
				continue
			}
			if *slot == qUnset || q < *slot {
				*slot = q
			}
		}
	}
	return a
}

// equalLower reports whether s equals lower, a lower-case ASCII word of the
// same length, ignoring the case of s.
func equalLower(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		if s[i]|0x20 != lower[i] && s[i] != lower[i] {
			return false
		}
	}
	return true
}

// parseElement parses one list element: coding *( OWS ";" OWS param ).
// It returns the coding and its weight (1000 when absent).
func parseElement(s string) (name string, q int16, ok bool) {
	s = trimOWS(s)
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	if i == 0 {
		return "", 0, false
	}
	name, s = s[:i], s[i:]
	q = 1000
	for {
		s = trimLeftOWS(s)
		if s == "" {
			return name, q, true
		}
		if s[0] != ';' {
			return "", 0, false
		}
		s = trimLeftOWS(s[1:])
		if s == "" || s[0] == ';' {
			continue // empty parameter
		}
		j := 0
		for j < len(s) && isTchar(s[j]) {
			j++
		}
		if j == 0 || j == len(s) || s[j] != '=' {
			return "", 0, false
		}
		pname := s[:j]
		s = s[j+1:]
		var value string
		if s != "" && s[0] == '"' {
			if pname == "q" || pname == "Q" {
				return "", 0, false // a weight is never quoted
			}
			end := quotedEnd(s)
			if end < 0 {
				return "", 0, false
			}
			s = s[end:]
			continue
		}
		j = 0
		for j < len(s) && isTchar(s[j]) {
			j++
		}
		value, s = s[:j], s[j:]
		if pname == "q" || pname == "Q" {
			v, ok := parseQValue(value)
			if !ok {
				return "", 0, false
			}
			q = v
		} else if value == "" {
			return "", 0, false
		}
	}
}

// parseQValue parses an RFC 9110 qvalue: "0" [ "." 0*3DIGIT ] or
// "1" [ "." 0*3("0") ], in thousandths.
func parseQValue(s string) (int16, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	v := int16(s[0]-'0') * 1000
	if len(s) == 1 {
		return v, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := int16(100)
	for _, c := range []byte(s[2:]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v += int16(c-'0') * scale
		scale /= 10
	}
	if v > 1000 {
		return 0, false
	}
	return v, true
}

// quotedEnd returns the index just past the quoted-string at the start of
// s, or -1 when it does not end.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func trimLeftOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

func trimOWS(s string) string {
	s = trimLeftOWS(s)
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// weight returns the client's weight for coding: its own entry, else the
// "*" entry, else 0 (not acceptable).
func (a *acceptance) weight(coding int) int16 {
	if q := a.q[coding]; q != qUnset {
		return q
	}
	if a.star != qUnset {
		return a.star
	}
	return 0
}

// identityWeight returns the weight the client gave identity explicitly
// (its own entry, else "*"), or qUnset when it gave none; an unnamed
// identity is acceptable but does not outrank a named coding.
func (a *acceptance) identityWeight() int16 {
	if a.identity != qUnset {
		return a.identity
	}
	return a.star
}

// identityAcceptable reports whether an uncompressed response is
// acceptable: unless the client excluded it with "identity;q=0", or with
// "*;q=0" and no identity entry.
func (a *acceptance) identityAcceptable() bool {
	return a.identityWeight() != 0
}

// choose picks the coding to send among enabled (coding indexes in server
// preference order) for which available returns true (nil means all): the
// highest weight wins, ties go to the earlier in enabled. It returns the
// position in enabled, or -1 for identity: when nothing is acceptable, or
// when the client weighted identity strictly above every offered coding.
func (a *acceptance) choose(enabled []int, available func(pos int) bool) int {
	best, bestQ := -1, int16(0)
	for pos, coding := range enabled {
		if q := a.weight(coding); q > bestQ && (available == nil || available(pos)) {
			best, bestQ = pos, q
		}
	}
	if best >= 0 && a.identityWeight() > bestQ {
		return -1
	}
	return best
}
