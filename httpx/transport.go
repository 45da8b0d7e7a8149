package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrTransportClosed is returned by [Transport.RoundTrip] after
// [Transport.Close].
var ErrTransportClosed = errors.New("httpx: transport closed; create a new one (or share one that lives as long as the program)")

// Options configures [NewTransport] and [NewClient]. The zero value, and
// nil, are valid: every field has a default, stated in its comment with the
// reason for it. NewTransport copies the options; changing them afterwards
// has no effect.
type Options struct {
	// TLSConfig is the client TLS configuration, cloned. Nil means the
	// system roots. A ClientSessionCache is added when it has none, so
	// new connections to a known server resume the TLS session.
	TLSConfig *tls.Config

	// DialTimeout bounds connecting, lookup included. Defaults to 5s: a
	// reachable host answers a SYN within a round trip, and 5s still
	// covers two SYN retransmissions, where http.DefaultTransport's 30s
	// lets a black-holed host hold a request for half a minute. Negative
	// is an error: a dial needs a bound.
	DialTimeout time.Duration
	// KeepAlive is the TCP keep-alive period. Defaults to 30s (as
	// http.DefaultTransport); negative disables keep-alive probes.
	KeepAlive time.Duration
	// FallbackDelay is the Happy Eyeballs delay between connection
	// attempts to a host's addresses. Defaults to 250ms (RFC 8305);
	// negative disables the stagger, so every address is tried at once.
	FallbackDelay time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake. Defaults to 10s (as
	// http.DefaultTransport); negative disables it.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after
	// the request is written. Defaults to 30s, so a server that accepted a
	// request and went silent cannot hold the caller forever (net/http
	// has no such bound by default); long polls should raise it, negative
	// disables it.
	ResponseHeaderTimeout time.Duration
	// ExpectContinueTimeout is how long a request with "Expect:
	// 100-continue" waits before sending its body anyway. Defaults to 1s
	// (as http.DefaultTransport); negative sends the body at once.
	ExpectContinueTimeout time.Duration

	// MaxIdleConnsPerHost is how many idle keep-alive connections are kept
	// per host. Defaults to 64: net/http's default of 2 means that any
	// burst of more than 2 concurrent HTTP/1.1 requests to one host closes
	// the surplus connections after use and dials them again on the next
	// burst, a TCP and TLS handshake per request. Negative is an error.
	MaxIdleConnsPerHost int
	// MaxIdleConns caps idle connections over all hosts. Defaults to 512
	// (http.DefaultTransport: 100), enough for 8 busy hosts at
	// MaxIdleConnsPerHost. Negative, or less than MaxIdleConnsPerHost, is
	// an error.
	MaxIdleConns int
	// MaxConnsPerHost caps connections per host, dialing or in use;
	// requests beyond it wait. Defaults to 0, no limit; negative is an
	// error.
	MaxConnsPerHost int
	// IdleConnTimeout is how long an idle connection is kept. Defaults to
	// 55s: shorter than the 60s idle timeout of common load balancers (AWS
	// ALB, many proxies; nginx uses 75s), so the client closes an idle
	// connection before the server does and no request is sent on a
	// connection the server is closing. Negative is an error.
	IdleConnTimeout time.Duration

	// DisableHTTP2 turns HTTP/2 off, leaving HTTP/1.1 over TCP. By
	// default HTTP/2 is negotiated with every TLS server that offers it,
	// and its connections are health-checked with a PING after 30s without
	// frames (15s for the answer), which net/http leaves off.
	DisableHTTP2 bool
	// Proxy chooses a proxy per request. Nil means
	// http.ProxyFromEnvironment; return a nil URL for no proxy. Requests
	// that go through a proxy never use HTTP/3.
	Proxy func(*http.Request) (*url.URL, error)
	// Resolver resolves host names for dials. Nil means a Resolver with
	// default options, owned by the Transport and closed with it; a
	// Resolver given here is shared and not closed.
	Resolver *Resolver

	// HTTP3 enables HTTP/3 with Alt-Svc discovery and racing against
	// TCP. Nil (the default) means HTTP/1.1 and HTTP/2 only.
	HTTP3 *HTTP3Options
}

// Defaults used where an Options field is zero.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultMaxIdleConnsPerHost   = 64
	DefaultMaxIdleConns          = 512
	DefaultIdleConnTimeout       = 55 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
)

func (o *Options) fill() error {
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.TLSHandshakeTimeout == 0 {
		o.TLSHandshakeTimeout = 10 * time.Second
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if o.ExpectContinueTimeout == 0 {
		o.ExpectContinueTimeout = time.Second
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = DefaultMaxIdleConns
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if o.Proxy == nil {
		o.Proxy = http.ProxyFromEnvironment
	}
	switch {
	case o.DialTimeout < 0:
		return negativeError("Options.DialTimeout", o.DialTimeout, "a dial needs a bound; use 0 for the default")
	case o.MaxIdleConnsPerHost < 0:
		return negativeError("Options.MaxIdleConnsPerHost", o.MaxIdleConnsPerHost, "")
	case o.MaxIdleConns < 0:
		return negativeError("Options.MaxIdleConns", o.MaxIdleConns, "")
	case o.MaxConnsPerHost < 0:
		return negativeError("Options.MaxConnsPerHost", o.MaxConnsPerHost, "use 0 for no limit")
	case o.IdleConnTimeout < 0:
		return negativeError("Options.IdleConnTimeout", o.IdleConnTimeout, "")
	case o.MaxIdleConns < o.MaxIdleConnsPerHost:
		return fmt.Errorf("httpx: Options.MaxIdleConns %d is below MaxIdleConnsPerHost %d", o.MaxIdleConns, o.MaxIdleConnsPerHost)
	}
	return nil
}

// nonNeg maps the "negative disables" convention onto net/http's "zero
// disables".
func nonNeg(d time.Duration) time.Duration { return max(d, 0) }

// negativeError reports an option that rejects negative values, in the
// wording every wirespeed package uses: "httpx: <Type>.<Field> is
// negative (<value>)", then what to do when hint is not empty.
func negativeError[T int | time.Duration](field string, v T, hint string) error {
	if hint != "" {
		hint = "; " + hint
	}
	return fmt.Errorf("httpx: %s is negative (%v)%s", field, v, hint)
}

// Transport is an http.RoundTripper tuned for reuse: it keeps enough idle
// connections per host for real concurrency, bounds every phase of a
// request, resolves names through a caching Resolver, dials Happy Eyeballs
// style and counts what it does (see [Transport.Stats]). With
// Options.HTTP3 it also learns Alt-Svc and races HTTP/3 against TCP.
//
// Create one Transport per program (or per set of hosts with the same
// needs) and share it: it is safe for concurrent use, and its value is the
// connections it keeps. Close releases them.
type Transport struct {
	opts     Options
	tlsConf  *tls.Config     // base client config, with a session cache
	direct   *http.Transport // requests without a proxy; our TLS dial
	proxied  *http.Transport // requests through a proxy
	dialer   *Dialer
	resolver *Resolver
	ownRes   bool
	reg      registry
	h3       *racer // nil without Options.HTTP3

	life   context.Context // cancelled by Close
	cancel context.CancelFunc
	closed atomic.Bool

	mu    sync.Mutex // protects stash
	stash map[string][]net.Conn

	gmu   sync.Mutex // protects gates and the gates' fields
	gates map[string]*dialGate
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport configured by opts (nil means all
// defaults). It returns an error for invalid options.
func NewTransport(opts *Options) (*Transport, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.fill(); err != nil {
		return nil, err
	}
	var h3o HTTP3Options
	if o.HTTP3 != nil {
		h3o = *o.HTTP3
		if err := h3o.fill(); err != nil {
			return nil, err
		}
		o.HTTP3 = &h3o
	}
	t := &Transport{opts: o, resolver: o.Resolver, stash: map[string][]net.Conn{}, gates: map[string]*dialGate{}}
	if t.resolver == nil {
		r, err := NewResolver(nil)
		if err != nil {
			return nil, err
		}
		t.resolver, t.ownRes = r, true
	}
	t.life, t.cancel = context.WithCancel(context.Background())
	t.dialer = &Dialer{Resolver: t.resolver, Timeout: o.DialTimeout, KeepAlive: o.KeepAlive, FallbackDelay: o.FallbackDelay}

	if o.TLSConfig != nil {
		t.tlsConf = o.TLSConfig.Clone()
	} else {
		t.tlsConf = &tls.Config{}
	}
	if t.tlsConf.ClientSessionCache == nil {
		t.tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	if o.DisableHTTP2 {
		t.tlsConf.NextProtos = []string{"http/1.1"}
	} else {
		t.tlsConf.NextProtos = []string{"h2", "http/1.1"}
	}

	base := func() *http.Transport {
		ht := &http.Transport{
			DialContext: t.dialTCP,
			// Each its own copy: net/http writes NextProtos into it on
			// first use, which would race with dials cloning t.tlsConf.
			TLSClientConfig:       t.tlsConf.Clone(),
			TLSHandshakeTimeout:   nonNeg(o.TLSHandshakeTimeout),
			ResponseHeaderTimeout: nonNeg(o.ResponseHeaderTimeout),
			ExpectContinueTimeout: nonNeg(o.ExpectContinueTimeout),
			MaxIdleConns:          o.MaxIdleConns,
			MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
			MaxConnsPerHost:       o.MaxConnsPerHost,
			IdleConnTimeout:       o.IdleConnTimeout,
			ForceAttemptHTTP2:     !o.DisableHTTP2,
			HTTP2: &http.HTTP2Config{
				SendPingTimeout: 30 * time.Second,
				PingTimeout:     15 * time.Second,
			},
		}
		if o.DisableHTTP2 {
			ht.Protocols = new(http.Protocols)
			ht.Protocols.SetHTTP1(true)
		}
		return ht
	}
	t.direct = base()
	t.direct.DialTLSContext = t.dialTLS
	t.proxied = base()
	t.proxied.Proxy = o.Proxy

	if o.HTTP3 != nil {
		t.h3 = newRacer(t, h3o)
	}
	return t, nil
}

// RoundTrip sends one request, over HTTP/1.1, HTTP/2 or (with
// Options.HTTP3) HTTP/3; resp.Proto says which. It counts the request in
// Stats. Like every RoundTripper it does not follow redirects and closes
// the request body, even on errors.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.closed.Load() {
		closeBody(req)
		return nil, ErrTransportClosed
	}
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("httpx: request has no URL")
	}
	key := originKey(req.URL)
	hs := t.reg.get(key)
	hs.add(cRequests, 1)

	proxyURL, err := t.proxyFor(req)
	if err != nil {
		closeBody(req)
		hs.add(cFailures, 1)
		return nil, fmt.Errorf("httpx: choosing a proxy: %w", err)
	}
	rt := newRequestTrace(hs, proxyURL != nil && req.URL.Scheme == "https")
	defer rt.finish()
	ctx := context.WithValue(req.Context(), requestTraceKey{}, rt)
	req = req.WithContext(httptrace.WithClientTrace(ctx, &rt.trace))

	var resp *http.Response
	switch {
	case proxyURL != nil:
		resp, err = t.proxied.RoundTrip(req)
	case t.h3 != nil && req.URL.Scheme == "https":
		resp, err = t.h3.roundTrip(req, key)
	default:
		resp, err = t.direct.RoundTrip(req)
	}
	if err != nil {
		hs.add(cFailures, 1)
		return nil, err
	}
	switch resp.ProtoMajor {
	case 1:
		hs.add(cH1, 1)
	case 2:
		hs.add(cH2, 1)
	case 3:
		hs.add(cH3, 1)
	}
	return resp, nil
}

func (t *Transport) proxyFor(req *http.Request) (*url.URL, error) {
	u, err := t.opts.Proxy(req)
	if err != nil || u == nil {
		return nil, err
	}
	return u, nil
}

func closeBody(req *http.Request) {
	if req != nil && req.Body != nil {
		req.Body.Close()
	}
}

// originKey is the "host:port" of u, with the scheme's default port: the
// key of Stats.Hosts and the address net/http dials.
func originKey(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(host, port)
}

// hostObserver attributes lookups to a host.
type hostObserver hostStats

func (o hostObserver) lookedUp(hit bool) { hostStats(o).recordLookup(hit) }

// dialTCP opens a counted TCP connection: the DialContext of both
// http.Transports.
func (t *Transport) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	hs := t.reg.get(addr)
	start := time.Now()
	c, err := t.dialer.dial(ctx, network, addr, hostObserver(hs))
	hs.recordDial(time.Since(start), err)
	if err != nil {
		return nil, err
	}
	hs.host.tcpOpen.Add(1)
	return &countedConn{Conn: c, hs: hs}, nil
}

// dialTLS is the direct transport's DialTLSContext: a connection a race
// left for addr, or a new one, sharing a concurrent HTTP/2 dial to addr
// (coalesce.go).
func (t *Transport) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	if c := t.takeStashed(addr); c != nil {
		return c, nil
	}
	if t.opts.DisableHTTP2 {
		return t.dialTLSConn(ctx, network, addr)
	}
	return t.dialTLSGated(ctx, network, addr)
}

// dialTLSConn dials and completes a TLS handshake, offering h2 (unless
// disabled) and http/1.1.
func (t *Transport) dialTLSConn(ctx context.Context, network, addr string) (*tls.Conn, error) {
	raw, err := t.dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	cfg := t.tlsConf.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	hctx := ctx
	if d := t.opts.TLSHandshakeTimeout; d > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	start := time.Now()
	err = tc.HandshakeContext(hctx)
	hs := t.reg.get(addr)
	hs.recordTLS(time.Since(start), err)
	if err == nil {
		alpn := int32(alpnH1)
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			alpn = alpnH2
		}
		hs.host.alpn.Store(alpn)
	}
	if err != nil {
		raw.Close()
		if errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("httpx: TLS handshake with %s: timed out after %v: %w", addr, t.opts.TLSHandshakeTimeout, err)
		}
		return nil, fmt.Errorf("httpx: TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// stashConn leaves a connected TLS conn for the next dial to addr.
func (t *Transport) stashConn(addr string, c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		c.Close()
		return
	}
	t.stash[addr] = append(t.stash[addr], c)
}

func (t *Transport) takeStashed(addr string) net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stash[addr]
	if len(s) == 0 {
		return nil
	}
	c := s[len(s)-1]
	if len(s) == 1 {
		delete(t.stash, addr)
	} else {
		t.stash[addr] = s[:len(s)-1]
	}
	return c
}

// unstash removes c if no dial took it, and reports whether it did.
func (t *Transport) unstash(addr string, c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stash[addr]
	for i, sc := range s {
		if sc == c {
			s = append(s[:i], s[i+1:]...)
			if len(s) == 0 {
				delete(t.stash, addr)
			} else {
				t.stash[addr] = s
			}
			return true
		}
	}
	return false
}

// Stats returns a snapshot of the Transport's counters. It is cheap and
// safe to call concurrently with requests.
func (t *Transport) Stats() Stats {
	var s Stats
	s.Counts, s.Hosts = t.reg.snapshot()
	s.Resolver = t.resolver.Stats()
	if t.h3 != nil {
		s.H3 = t.h3.stats()
	}
	return s
}

// CloseIdleConnections closes the idle connections of every protocol;
// connections carrying requests are not interrupted. Idle includes QUIC
// connections that lost a race and no request took; one still
// handshaking is closed when it finishes, unless a request waits for it.
func (t *Transport) CloseIdleConnections() {
	t.direct.CloseIdleConnections()
	t.proxied.CloseIdleConnections()
	if t.h3 != nil {
		t.h3.closeIdle()
	}
}

// Close stops the Transport: later requests fail with ErrTransportClosed,
// idle connections are closed, connections of requests in flight are
// closed when those requests finish, and the goroutines the Transport
// started (races, QUIC dials, the owned resolver's queries) are joined.
// It is idempotent and returns nil.
func (t *Transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.cancel()
	if t.h3 != nil {
		t.h3.close()
	}
	t.mu.Lock()
	for _, s := range t.stash {
		for _, c := range s {
			c.Close()
		}
	}
	clear(t.stash)
	t.mu.Unlock()
	t.direct.CloseIdleConnections()
	t.proxied.CloseIdleConnections()
	if t.ownRes {
		t.resolver.Close()
	}
	return nil
}

// countedConn counts its Close in the host's statistics.
type countedConn struct {
	net.Conn
	hs     hostStats
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if !c.closed.Swap(true) {
		c.hs.add(cClosed, 1)
		c.hs.host.tcpOpen.Add(-1)
	}
	return c.Conn.Close()
}
