package compress

// Negotiate exposes the Accept-Encoding negotiation to the black-box tests:
// the coding chosen among enabled (in preference order) for the given field
// lines, "" for identity, and whether identity is acceptable.
func Negotiate(lines []string, enabled ...string) (coding string, identityOK bool) {
	a := parseAcceptEncoding(lines)
	idx := make([]int, len(enabled))
	for i, e := range enabled {
		idx[i] = codingIndex(e)
	}
	if pos := a.choose(idx, nil); pos >= 0 {
		coding = enabled[pos]
	}
	return coding, a.identityAcceptable()
}

// IfNoneMatchWeak exposes the If-None-Match scan.
func IfNoneMatchWeak(lines []string, strong string) bool { return ifNoneMatchWeak(lines, strong) }
