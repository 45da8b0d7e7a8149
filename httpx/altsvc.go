package httpx

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrAltSvc is wrapped by the errors of [ParseAltSvc] for a malformed
// Alt-Svc field value. A client that gets it ignores the whole field, as
// RFC 7838 section 3 asks.
var ErrAltSvc = errors.New("httpx: malformed Alt-Svc header")

// Limits on what [ParseAltSvc] accepts: the field comes from any server, so
// its size and the work it causes are bounded.
const (
	// MaxAltSvcLen is the longest Alt-Svc field value ParseAltSvc parses.
	MaxAltSvcLen = 8 << 10
	// MaxAltSvcAlternatives is the most alternatives ParseAltSvc returns;
	// further ones are dropped without error.
	MaxAltSvcAlternatives = 16
	// DefaultAltSvcMaxAge is the freshness of an alternative without an
	// "ma" parameter (RFC 7838 section 3.1).
	DefaultAltSvcMaxAge = 24 * time.Hour
	// maxAltSvcMaxAge caps "ma": far-future values are clamped, not errors.
	maxAltSvcMaxAge = 365 * 24 * time.Hour
)

// AltService is one alternative service from an Alt-Svc header field
// (RFC 7838): "this origin is also reachable with Protocol at Host:Port for
// MaxAge". It is a plain value, safe to copy and share.
type AltService struct {
	// Protocol is the ALPN protocol ID, percent-decoded: "h3" for HTTP/3.
	Protocol string
	// Host is the alternative host. Empty means the origin's own host,
	// the common form (h3=":443").
	Host string
	// Port is the alternative port, from 1 to 65535.
	Port int
	// MaxAge is how long the alternative stays fresh, from the "ma"
	// parameter; DefaultAltSvcMaxAge (24h) when the parameter is absent,
	// clamped to one year.
	MaxAge time.Duration
	// Persist is the "persist=1" parameter: keep the entry across network
	// changes.
	Persist bool
}

// Authority returns where to connect for the alternative, "host:port",
// with the origin's host filled in when the alternative names none.
func (a AltService) Authority(originHost string) string {
	h := a.Host
	if h == "" {
		h = originHost
	}
	return net.JoinHostPort(h, strconv.Itoa(a.Port))
}

// String formats the alternative as an Alt-Svc list member, for example
// `h3=":443"; ma=86400`. ParseAltSvc of the result yields a again (with
// MaxAge truncated to whole seconds).
func (a AltService) String() string {
	var b strings.Builder
	for i := 0; i < len(a.Protocol); i++ {
		c := a.Protocol[i]
		if isTchar(c) && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString(`="`)
	host := a.Host
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	for _, s := range []string{host, ":", strconv.Itoa(a.Port)} {
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
	}
	b.WriteByte('"')
	if a.MaxAge != DefaultAltSvcMaxAge {
		fmt.Fprintf(&b, "; ma=%d", int64(a.MaxAge/time.Second))
	}
	if a.Persist {
		b.WriteString("; persist=1")
	}
	return b.String()
}

// ParseAltSvc parses an Alt-Svc field value (RFC 7838 section 3). Several
// field lines may be joined with commas, as http.Header.Values then
// strings.Join(…, ",") gives. It reports clear for the value "clear", which
// invalidates every alternative the client knows for the origin.
//
// Unknown parameters are ignored; alternatives beyond MaxAltSvcAlternatives
// are dropped. A malformed value returns an error wrapping ErrAltSvc and no
// alternatives. ParseAltSvc never panics and does work linear in the input,
// which is capped at MaxAltSvcLen bytes; it is safe on untrusted input and
// for concurrent use.
func ParseAltSvc(value string) (alts []AltService, clear bool, err error) {
	if len(value) > MaxAltSvcLen {
		return nil, false, fmt.Errorf("%w: %d bytes, more than %d", ErrAltSvc, len(value), MaxAltSvcLen)
	}
	p := altSvcParser{s: value}
	p.ows()
	if strings.TrimRight(p.rest(), " \t") == "clear" {
		return nil, true, nil
	}
	for {
		p.ows()
		if p.done() {
			break
		}
		if p.peek() == ',' { // empty list element, allowed by the # rule
			p.i++
			continue
		}
		a, err := p.alternative()
		if err != nil {
			return nil, false, fmt.Errorf("%w: %v at byte %d", ErrAltSvc, err, p.i)
		}
		if len(alts) < MaxAltSvcAlternatives {
			alts = append(alts, a)
		}
		p.ows()
		if p.done() {
			break
		}
		if p.peek() != ',' {
			return nil, false, fmt.Errorf("%w: want ',' between alternatives at byte %d", ErrAltSvc, p.i)
		}
		p.i++
	}
	return alts, false, nil
}

type altSvcParser struct {
	s string
	i int
}

func (p *altSvcParser) done() bool   { return p.i >= len(p.s) }
func (p *altSvcParser) peek() byte   { return p.s[p.i] }
func (p *altSvcParser) rest() string { return p.s[p.i:] }

func (p *altSvcParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *altSvcParser) token() (string, error) {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", errors.New("want a token")
	}
	return p.s[start:p.i], nil
}

func (p *altSvcParser) quoted() (string, error) {
	if p.done() || p.peek() != '"' {
		return "", errors.New("want a quoted string")
	}
	p.i++
	var b []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return string(b), nil
		case c == '\\':
			if p.i >= len(p.s) {
				return "", errors.New("unterminated escape")
			}
			c = p.s[p.i]
			p.i++
			if !isQdtext(c) && c != '"' && c != '\\' {
				return "", errors.New("bad escaped character")
			}
		case !isQdtext(c):
			return "", errors.New("bad character in quoted string")
		}
		b = append(b, c)
	}
	return "", errors.New("unterminated quoted string")
}

func (p *altSvcParser) alternative() (AltService, error) {
	a := AltService{MaxAge: DefaultAltSvcMaxAge}
	raw, err := p.token()
	if err != nil {
		return a, fmt.Errorf("protocol-id: %w", err)
	}
	if a.Protocol, err = percentDecode(raw); err != nil {
		return a, fmt.Errorf("protocol-id: %w", err)
	}
	if p.done() || p.peek() != '=' {
		return a, errors.New("want '=' after protocol-id")
	}
	p.i++
	auth, err := p.quoted()
	if err != nil {
		return a, fmt.Errorf("alt-authority: %w", err)
	}
	if a.Host, a.Port, err = splitAltAuthority(auth); err != nil {
		return a, fmt.Errorf("alt-authority %q: %w", auth, err)
	}
	for {
		save := p.i
		p.ows()
		if p.done() || p.peek() != ';' {
			p.i = save
			return a, nil
		}
		p.i++
		p.ows()
		name, err := p.token()
		if err != nil {
			return a, fmt.Errorf("parameter: %w", err)
		}
		if p.done() || p.peek() != '=' {
			return a, fmt.Errorf("parameter %q: want '='", name)
		}
		p.i++
		var val string
		if !p.done() && p.peek() == '"' {
			val, err = p.quoted()
		} else {
			val, err = p.token()
		}
		if err != nil {
			return a, fmt.Errorf("parameter %q: %w", name, err)
		}
		switch strings.ToLower(name) {
		case "ma":
			if a.MaxAge, err = parseDeltaSeconds(val); err != nil {
				return a, fmt.Errorf("ma: %w", err)
			}
		case "persist":
			a.Persist = val == "1"
		}
	}
}

// splitAltAuthority splits `[ uri-host ] ":" port`.
func splitAltAuthority(s string) (host string, port int, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	host, ps := s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") || len(host) < 3 {
			return "", 0, errors.New("bad IPv6 literal")
		}
		host = host[1 : len(host)-1]
		if net.ParseIP(host) == nil {
			return "", 0, errors.New("bad IPv6 literal")
		}
	} else if strings.ContainsAny(host, ":[]") {
		return "", 0, errors.New("bad host")
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '"' || c == '\\' {
			return "", 0, errors.New("bad character in host")
		}
	}
	if len(ps) == 0 || len(ps) > 5 {
		return "", 0, errors.New("bad port")
	}
	for i := 0; i < len(ps); i++ {
		if ps[i] < '0' || ps[i] > '9' {
			return "", 0, errors.New("bad port")
		}
	}
	port, _ = strconv.Atoi(ps)
	if port < 1 || port > 65535 {
		return "", 0, errors.New("port out of range")
	}
	return host, port, nil
}

func parseDeltaSeconds(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("not a number of seconds")
		}
		if n < int64(maxAltSvcMaxAge/time.Second) {
			n = n*10 + int64(c-'0')
		}
	}
	return min(time.Duration(n)*time.Second, maxAltSvcMaxAge), nil
}

func percentDecode(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return "", errors.New("bad percent-encoding")
		}
		b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isQdtext reports whether c may appear unescaped in a quoted string.
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x5b) || (0x5d <= c && c <= 0x7e) || c >= 0x80
}
