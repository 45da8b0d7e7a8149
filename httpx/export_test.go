package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// SetDialAddr replaces the function that connects to one address, so tests
// can watch and steer the Happy Eyeballs race.
func SetDialAddr(d *Dialer, f func(ctx context.Context, network, addr string) (net.Conn, error)) {
	d.dialAddr = f
}

// Interleave exposes the RFC 8305 ordering.
func Interleave(addrs []netip.Addr) []netip.Addr { return interleave(addrs) }

// ParseDNSResponse exposes the parser of DNS answers for fuzzing: it parses
// msg as the answer to a query of type t for name with ID id.
func ParseDNSResponse(msg []byte, id uint16, name string, t uint16) (addrs []netip.Addr, ttl time.Duration, truncated bool, err error) {
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, 0, false, err
	}
	q := dnsmessage.Question{Name: n, Type: dnsmessage.Type(t), Class: dnsmessage.ClassINET}
	ans, truncated, err := parseDNSResponse(msg, id, q)
	return ans.addrs, ans.ttl, truncated, err
}

// ParseResolvConf exposes the resolv.conf reader.
func ParseResolvConf(s string) (servers []string, ndots int, search bool) {
	c := parseResolvConf(s)
	return c.servers, c.ndots, c.search
}

// EffectiveOptions returns t's options with the defaults filled in.
func EffectiveOptions(t *Transport) Options { return t.opts }

// HTTPTransport returns the net/http transport t sends direct requests
// through.
func HTTPTransport(t *Transport) *http.Transport { return t.direct }

// DialerDelays returns what d uses for its timeout, keep-alive period and
// Happy Eyeballs delay, after defaults.
func DialerDelays(d *Dialer) (timeout, keepAlive, fallback time.Duration) {
	return d.timeout(), d.netDialer().KeepAlive, d.fallbackDelay()
}

// TransportDialer returns the Dialer t dials with.
func TransportDialer(t *Transport) *Dialer { return t.dialer }

// HTTPServer returns the net/http server s serves HTTP/1.1 and HTTP/2 with.
func HTTPServer(s *Server) *http.Server { return s.h12 }
