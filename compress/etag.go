package compress

import "strings"

// A compressed response carries different bytes than the identity response
// it came from, so it must not share a strong validator with it (RFC 9110
// section 8.8.1). The middleware marks the handler's strong ETag weak (W/),
// as nginx does: the two representations are semantically equivalent, and a
// weak tag is what If-None-Match compares by anyway (section 13.1.2), so
// revalidation keeps working for handlers that compare correctly. For
// handlers that compare byte for byte, see ifNoneMatchWeak.

// isStrongETag reports whether tag is a well-formed strong entity-tag:
// DQUOTE *etagc DQUOTE.
func isStrongETag(tag string) bool {
	if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return false
	}
	for i := 1; i < len(tag)-1; i++ {
		if !isETagChar(tag[i]) {
			return false
		}
	}
	return true
}

// isWeakETag reports whether tag is a well-formed weak entity-tag.
func isWeakETag(tag string) bool {
	return strings.HasPrefix(tag, "W/") && isStrongETag(tag[2:])
}

// etagc = %x21 / %x23-7E / obs-text
func isETagChar(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c != 0x7f)
}

// ifNoneMatchWeak reports whether the If-None-Match field values list the
// weak form of strong, the tag the middleware hands out for a compressed
// response whose handler set strong. Parsing stops, with false, at the
// first malformed element: the answer is only used to turn the handler's
// 200 into a 304, which must never happen on a guess.
func ifNoneMatchWeak(lines []string, strong string) bool {
	opaque := strong // includes the quotes
	for _, s := range lines {
		for {
			s = trimLeftOWS(s)
			for s != "" && s[0] == ',' {
				s = trimLeftOWS(s[1:])
			}
			if s == "" {
				break
			}
			weak := strings.HasPrefix(s, "W/")
			if weak {
				s = s[2:]
			}
			if s == "" || s[0] != '"' {
				return false // includes "*", which the handler must answer
			}
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return false
			}
			tag := s[:end+2]
			for i := 1; i < len(tag)-1; i++ {
				if !isETagChar(tag[i]) {
					return false
				}
			}
			s = trimLeftOWS(s[end+2:])
			if s != "" && s[0] != ',' {
				return false
			}
			if weak && tag == opaque {
				return true
			}
		}
	}
	return false
}
