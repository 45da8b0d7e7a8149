package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// HTTP3Options turns on HTTP/3 in a Transport (Options.HTTP3) and tunes it.
// The zero value is valid: every field has a default, stated in its comment.
//
// The Transport learns from each HTTPS response's Alt-Svc header that an
// origin speaks HTTP/3 ("h3", for "ma" seconds) and forgets it on "Alt-Svc:
// clear". For such an origin it uses a live QUIC connection if it has one;
// otherwise it starts a QUIC handshake and gives it RaceDelay before
// starting TCP as well; the request goes over whichever connection is ready
// first, and the other attempt is abandoned (a QUIC connection that
// finishes later is kept for the next requests, unless
// [Transport.CloseIdleConnections] was called since the last request
// waited for it: then it is closed, being idle). A failed QUIC handshake or
// a QUIC connection lost to a timeout marks the origin's HTTP/3 broken for
// BrokenBackoff, doubling on each further failure, during which requests
// use TCP without delay. A request that failed over HTTP/3 is retried over
// TCP only if its body can be rewound (no body, or Request.GetBody set) and
// it is idempotent or was never sent; others return the error.
type HTTP3Options struct {
	// RaceDelay is how long a QUIC handshake runs alone before TCP starts
	// too. Defaults to 300ms, as Chromium; negative disables the head
	// start, so TCP starts together with QUIC.
	RaceDelay time.Duration
	// HandshakeTimeout bounds the QUIC handshake. A blocked UDP path
	// shows up as this timeout, after which the origin is marked broken;
	// requests do not wait for it (they go over TCP after RaceDelay).
	// Defaults to 5s; negative is an error.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a QUIC connection after this long without
	// network activity. No keep-alive PINGs are sent, so an unused
	// connection ends after it, as an idle TCP connection does after
	// Options.IdleConnTimeout; the next request races again. (This also
	// ends the connections that quic-go's http3.Transport stops tracking
	// after a failed request.) Defaults to 30s; negative is an error.
	IdleTimeout time.Duration
	// BrokenBackoff is how long HTTP/3 stays off for an origin after its
	// first failure; it doubles with each further failure and resets
	// after a success. Defaults to 5m, as Chromium; negative is an error.
	BrokenBackoff time.Duration
	// MaxBrokenBackoff caps the doubling. Defaults to 48h; negative, or
	// less than BrokenBackoff, is an error.
	MaxBrokenBackoff time.Duration
	// MaxOrigins bounds how many origins' HTTP/3 state is kept; when
	// full, the least recently used is forgotten. Defaults to 1024;
	// negative is an error.
	MaxOrigins int
}

func (o *HTTP3Options) fill() error {
	if o.RaceDelay == 0 {
		o.RaceDelay = 300 * time.Millisecond
	}
	o.RaceDelay = max(o.RaceDelay, 0) // negative: no head start
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.BrokenBackoff == 0 {
		o.BrokenBackoff = 5 * time.Minute
	}
	if o.MaxBrokenBackoff == 0 {
		o.MaxBrokenBackoff = 48 * time.Hour
	}
	if o.MaxOrigins == 0 {
		o.MaxOrigins = 1024
	}
	switch {
	case o.HandshakeTimeout < 0:
		return negativeError("HTTP3Options.HandshakeTimeout", o.HandshakeTimeout, "")
	case o.IdleTimeout < 0:
		return negativeError("HTTP3Options.IdleTimeout", o.IdleTimeout, "")
	case o.BrokenBackoff < 0:
		return negativeError("HTTP3Options.BrokenBackoff", o.BrokenBackoff, "")
	case o.MaxBrokenBackoff < 0:
		return negativeError("HTTP3Options.MaxBrokenBackoff", o.MaxBrokenBackoff, "")
	case o.MaxBrokenBackoff < o.BrokenBackoff:
		return fmt.Errorf("httpx: HTTP3Options.MaxBrokenBackoff %v is below BrokenBackoff %v", o.MaxBrokenBackoff, o.BrokenBackoff)
	case o.MaxOrigins < 0:
		return negativeError("HTTP3Options.MaxOrigins", o.MaxOrigins, "")
	}
	return nil
}

// HTTP3Stats is the HTTP/3 part of [Stats].
type HTTP3Stats struct {
	// Origins is the HTTP/3 state of each origin ("host:port") that
	// advertised it or was marked broken.
	Origins map[string]H3Origin
	// Races is the number of requests that waited for a QUIC handshake;
	// QUICWon and TCPWon say which connection they used.
	Races, QUICWon, TCPWon int64
	// QUICDials is the number of QUIC handshakes started; QUICDialErrors
	// the number that failed.
	QUICDials, QUICDialErrors int64
	// BrokenMarks is the number of times an origin's HTTP/3 was marked
	// broken.
	BrokenMarks int64
	// Retries is the number of requests that failed over HTTP/3 and were
	// sent again over TCP; NotRetried the number that failed over HTTP/3
	// and could not be (body not rewindable, or not idempotent and
	// possibly processed).
	Retries, NotRetried int64
	// AltSvcErrors is the number of malformed Alt-Svc headers ignored.
	AltSvcErrors int64
}

// H3Origin is what a Transport knows about one origin's HTTP/3.
type H3Origin struct {
	// Authority is where HTTP/3 is served ("host:port"), from Alt-Svc;
	// empty if none is known or it expired.
	Authority string
	// Expires is when the Alt-Svc entry goes stale.
	Expires time.Time
	// Connected reports a live QUIC connection.
	Connected bool
	// BrokenUntil is when HTTP/3 may be tried again after a failure;
	// zero if it is not broken.
	BrokenUntil time.Time
	// Failures counts the failures since the last success; the backoff
	// doubles with each.
	Failures int
}

// racer is the HTTP/3 half of a Transport.
type racer struct {
	t    *Transport
	opts HTTP3Options
	h3   *http3.Transport
	qcfg *quic.Config
	wg   sync.WaitGroup // joins QUIC dials, races' TCP legs and conn watchers

	mu      sync.Mutex // protects origins, udp, qtr, closing
	origins map[string]*origin
	udp     *net.UDPConn
	qtr     *quic.Transport
	closing bool // no goroutine may start: close is joining them

	races, quicWon, tcpWon    atomic.Int64
	quicDials, quicDialErrors atomic.Int64
	brokenMarks               atomic.Int64
	retries, notRetried       atomic.Int64
	altSvcErrors              atomic.Int64
}

// origin is the HTTP/3 state of one origin. Its fields are protected by
// racer.mu.
type origin struct {
	authority   string // where h3 is served; "" if unknown
	expires     time.Time
	brokenUntil time.Time
	failures    int
	conn        *quic.Conn // the newest QUIC connection
	stashed     bool       // conn not yet handed to the http3.Transport
	dial        *quicDial  // handshake in progress
	lastUsed    time.Time
}

type quicDial struct {
	done chan struct{}
	conn *quic.Conn
	err  error

	// waiters is the number of requests waiting for the handshake in
	// choose; idleClosed reports that CloseIdleConnections ran since the
	// last of them started waiting. A connection that no request waits for
	// and that finishes after CloseIdleConnections is idle from birth and
	// is closed, as net/http closes connections that become idle after it.
	// Both are protected by racer.mu.
	waiters    int
	idleClosed bool
}

func newRacer(t *Transport, o HTTP3Options) *racer {
	r := &racer{t: t, opts: o, origins: map[string]*origin{}}
	r.qcfg = &quic.Config{
		Versions:             []quic.Version{quic.Version1},
		MaxIncomingStreams:   -1, // servers do not open request streams
		HandshakeIdleTimeout: o.HandshakeTimeout,
		MaxIdleTimeout:       o.IdleTimeout,
	}
	tlsConf := t.tlsConf.Clone()
	tlsConf.NextProtos = []string{http3.NextProtoH3}
	// QUIC sessions are kept apart from TLS-over-TCP ones: the tickets are
	// not interchangeable.
	tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	if t.opts.TLSConfig != nil && t.opts.TLSConfig.ClientSessionCache != nil {
		tlsConf.ClientSessionCache = t.opts.TLSConfig.ClientSessionCache
	}
	r.h3 = &http3.Transport{
		TLSClientConfig: tlsConf,
		QUICConfig:      r.qcfg,
		Dial:            r.dialForH3,
	}
	return r
}

// roundTrip sends an https request that no proxy handles.
func (r *racer) roundTrip(req *http.Request, key string) (*http.Response, error) {
	useH3, raced, err := r.choose(req.Context(), key)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	var resp *http.Response
	if useH3 {
		resp, err = r.h3RoundTrip(req, key)
	} else {
		resp, err = r.t.direct.RoundTrip(req)
		// The connection the race made was for this request; if the
		// request found another one, close it rather than leave it to go
		// stale.
		if raced != nil && r.t.unstash(key, raced) {
			raced.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	r.learn(key, req.URL.Hostname(), resp)
	return resp, nil
}

// choose decides the protocol of one request, racing if needed. raced is
// the TCP connection a race won with, left in the Transport's stash for the
// request's dial.
func (r *racer) choose(ctx context.Context, key string) (useH3 bool, raced net.Conn, err error) {
	now := time.Now()
	r.mu.Lock()
	o := r.origins[key]
	if o == nil || o.authority == "" || now.After(o.expires) || now.Before(o.brokenUntil) {
		r.mu.Unlock()
		return false, nil, nil
	}
	o.lastUsed = now
	if o.conn != nil && o.conn.Context().Err() == nil {
		r.mu.Unlock()
		return true, nil, nil
	}
	d := o.dial
	if d == nil {
		d = r.startDialLocked(key, o)
	}
	d.waiters++
	d.idleClosed = false
	r.mu.Unlock()
	defer func() { r.stopWaiting(o, d, useH3) }()

	r.races.Add(1)
	// QUIC alone for RaceDelay.
	timer := time.NewTimer(r.opts.RaceDelay)
	defer timer.Stop()
	select {
	case <-d.done:
		if d.err == nil {
			r.quicWon.Add(1)
			return true, nil, nil
		}
		r.tcpWon.Add(1)
		return false, nil, nil
	case <-timer.C:
	case <-ctx.Done():
		return false, nil, ctx.Err()
	}

	// TCP joins. A connection to the origin that is already open (the one
	// that brought the Alt-Svc, typically) is ready now.
	if r.t.reg.openTCP(key) > 0 {
		r.tcpWon.Add(1)
		return false, nil, nil
	}
	lctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.t.life, cancel)
	defer stop()
	defer cancel()
	tcp := make(chan attemptResult, 1)
	if !r.spawn(func() {
		c, err := r.t.dialTLSConn(lctx, "tcp", key)
		if err != nil {
			tcp <- attemptResult{nil, err}
			return
		}
		tcp <- attemptResult{c, nil}
	}) {
		return false, nil, ErrTransportClosed
	}
	quicDone, tcpDone := d.done, tcp
	for {
		select {
		case <-quicDone:
			if d.err != nil {
				if tcpDone == nil { // both failed: net/http dials again and reports
					r.tcpWon.Add(1)
					return false, nil, nil
				}
				quicDone = nil // keep waiting for TCP
				continue
			}
			cancel()
			if tcpDone != nil {
				if res := <-tcp; res.conn != nil {
					res.conn.Close()
				}
			}
			r.quicWon.Add(1)
			return true, nil, nil
		case res := <-tcpDone:
			if res.err != nil {
				if quicDone == nil {
					r.tcpWon.Add(1)
					return false, nil, nil
				}
				tcpDone = nil // keep waiting for QUIC
				continue
			}
			r.tcpWon.Add(1)
			// Leave the connection for the dial the request is about to
			// make.
			r.t.stashConn(key, res.conn)
			return false, res.conn, nil
		case <-ctx.Done():
			cancel()
			if tcpDone != nil {
				if res := <-tcp; res.conn != nil {
					res.conn.Close()
				}
			}
			return false, nil, ctx.Err()
		}
	}
}

// stopWaiting ends a request's wait for d. If CloseIdleConnections ran
// during the wait, the handshake has finished, no other request waits and
// this one is not about to use the connection, nobody will: it is closed
// rather than kept.
func (r *racer) stopWaiting(o *origin, d *quicDial, usingQUIC bool) {
	r.mu.Lock()
	d.waiters--
	var unused *quic.Conn
	if d.waiters == 0 && d.idleClosed && !usingQUIC && d.conn != nil && o.conn == d.conn && o.stashed {
		unused = o.conn
		o.conn, o.stashed = nil, false
	}
	r.mu.Unlock()
	if unused != nil {
		unused.CloseWithError(0, "")
	}
}

// spawn runs f on a goroutine joined by close, unless close has begun.
func (r *racer) spawn(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.wg.Go(f)
	return true
}

// startDialLocked starts the QUIC handshake for o. r.mu must be held.
func (r *racer) startDialLocked(key string, o *origin) *quicDial {
	d := &quicDial{done: make(chan struct{})}
	if r.closing {
		d.err = ErrTransportClosed
		close(d.done)
		return d
	}
	o.dial = d
	authority, sni := o.authority, hostOf(key)
	r.quicDials.Add(1)
	r.wg.Go(func() {
		ctx, cancel := context.WithTimeout(r.t.life, 2*r.opts.HandshakeTimeout)
		defer cancel()
		conn, err := r.dialQUIC(ctx, key, authority, sni, r.h3.TLSClientConfig, r.qcfg)
		r.mu.Lock()
		if o.dial == d {
			o.dial = nil
		}
		var unused *quic.Conn
		if err == nil {
			switch {
			case r.t.closed.Load():
				unused = conn
			case d.waiters == 0 && (d.idleClosed || r.origins[key] != o):
				// It lost its race before CloseIdleConnections, which
				// could not close it yet (or its origin was evicted);
				// parked, it would stay open, idle, until IdleTimeout.
				unused, conn = conn, nil
			default:
				o.conn, o.stashed = conn, true
			}
		} else if r.t.life.Err() == nil {
			r.markBrokenLocked(o)
		}
		d.conn, d.err = conn, err
		r.mu.Unlock()
		if unused != nil {
			unused.CloseWithError(0, "")
		}
		close(d.done)
	})
	return d
}

// dialQUIC completes a QUIC handshake with authority, counting it for the
// origin key, and watches the connection to count its close.
func (r *racer) dialQUIC(ctx context.Context, key, authority, sni string, tlsConf *tls.Config, qcfg *quic.Config) (*quic.Conn, error) {
	hs := r.t.reg.get(key)
	start := time.Now()
	conn, err := r.doDialQUIC(ctx, authority, sni, tlsConf, qcfg, hs)
	hs.recordDial(time.Since(start), err)
	if err != nil {
		r.quicDialErrors.Add(1)
		hs.add(cTLSErrors, 1)
		return nil, &quicDialError{authority: authority, err: err}
	}
	hs.add(cTLS, 1)
	// Count the close when it happens; close ends every connection, so
	// the callback runs and is joined there.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		conn.CloseWithError(0, "")
		hs.add(cClosed, 1)
		return nil, &quicDialError{authority: authority, err: ErrTransportClosed}
	}
	r.wg.Add(1)
	context.AfterFunc(conn.Context(), func() {
		defer r.wg.Done()
		hs.add(cClosed, 1)
	})
	return conn, nil
}

func (r *racer) doDialQUIC(ctx context.Context, authority, sni string, tlsConf *tls.Config, qcfg *quic.Config, hs hostStats) (*quic.Conn, error) {
	host, port, err := net.SplitHostPort(authority)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, perr := netip.ParseAddr(strings.Trim(host, "[]")); perr == nil {
		addrs = []netip.Addr{ip}
	} else {
		var hit bool
		addrs, hit, err = r.t.resolver.lookup(ctx, "ip", host)
		hs.recordLookup(hit)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	pn, err := net.LookupPort("udp", port)
	if err != nil {
		return nil, err
	}
	tr, err := r.quicTransport()
	if err != nil {
		return nil, err
	}
	// QUIC has no cheap failure signal to race addresses on, so one
	// address is tried: the first, as the resolver orders them.
	ua := net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrs[0], uint16(pn)))
	cfg := tlsConf.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = sni
	}
	return tr.Dial(ctx, ua, cfg, qcfg)
}

// quicTransport returns the UDP socket all QUIC connections share,
// opening it on first use.
func (r *racer) quicTransport() (*quic.Transport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.qtr != nil {
		return r.qtr, nil
	}
	if r.t.closed.Load() {
		return nil, ErrTransportClosed
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("httpx: open UDP socket for QUIC: %w", err)
	}
	r.udp, r.qtr = udp, &quic.Transport{Conn: udp}
	return r.qtr, nil
}

// quicDialError marks an error from establishing a QUIC connection: the
// request was not sent.
type quicDialError struct {
	authority string
	err       error
}

func (e *quicDialError) Error() string {
	return fmt.Sprintf("httpx: QUIC handshake with %s: %v", e.authority, e.err)
}
func (e *quicDialError) Unwrap() error { return e.err }

// dialForH3 is the http3.Transport's Dial: it hands over the connection a
// race made, or dials one.
func (r *racer) dialForH3(ctx context.Context, addr string, tlsConf *tls.Config, qcfg *quic.Config) (*quic.Conn, error) {
	// quic-go dials with the values of the request that asked first.
	if rt, ok := ctx.Value(requestTraceKey{}).(*requestTrace); ok {
		rt.dialingH3()
	}
	r.mu.Lock()
	o := r.origins[addr]
	if o != nil && o.stashed && o.conn != nil {
		c := o.conn
		o.stashed = false
		r.mu.Unlock()
		if c.Context().Err() == nil {
			return c, nil
		}
		r.mu.Lock()
	}
	authority := addr
	if o != nil && o.authority != "" {
		authority = o.authority
	}
	r.mu.Unlock()
	r.quicDials.Add(1)
	conn, err := r.dialQUIC(ctx, addr, authority, hostOf(addr), tlsConf, qcfg)
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.origins[addr]; o != nil {
		if err != nil {
			if r.t.life.Err() == nil {
				r.markBrokenLocked(o)
			}
		} else {
			o.conn, o.stashed = conn, false
		}
	}
	return conn, err
}

// h3RoundTrip sends req over HTTP/3, falling back to TCP where that is
// safe.
func (r *racer) h3RoundTrip(req *http.Request, key string) (*http.Response, error) {
	rt, _ := req.Context().Value(requestTraceKey{}).(*requestTrace)
	if rt != nil {
		rt.setH3(true)
	}
	resp, err := r.h3.RoundTrip(req)
	if rt != nil {
		rt.setH3(false)
	}
	if err == nil {
		r.mu.Lock()
		if o := r.origins[key]; o != nil {
			o.failures = 0
		}
		r.mu.Unlock()
		return resp, nil
	}
	if req.Context().Err() != nil {
		return nil, err
	}
	if connectionBroken(err) {
		r.mu.Lock()
		if o := r.origins[key]; o != nil {
			r.markBrokenLocked(o)
		}
		r.mu.Unlock()
	}
	_, notSent := errors.AsType[*quicDialError](err)
	switch {
	case !rewindable(req):
		r.notRetried.Add(1)
		return nil, fmt.Errorf("httpx: HTTP/3 request failed and was not retried over TCP because its body cannot be rewound (set Request.GetBody to allow it): %w", err)
	case !notSent && !idempotent(req):
		r.notRetried.Add(1)
		return nil, fmt.Errorf("httpx: HTTP/3 request failed and was not retried over TCP because it is not idempotent and may have been processed (an Idempotency-Key header allows it): %w", err)
	}
	retry := req
	if req.Body != nil && req.Body != http.NoBody {
		body, gerr := req.GetBody()
		if gerr != nil {
			r.notRetried.Add(1)
			return nil, fmt.Errorf("httpx: HTTP/3 request failed (%v); rewinding its body for TCP: %w", err, gerr)
		}
		retry = req.Clone(req.Context())
		retry.Body = body
	}
	r.retries.Add(1)
	return r.t.direct.RoundTrip(retry)
}

// connectionBroken reports errors that say QUIC does not work on the path
// (as opposed to the server refusing a request).
func connectionBroken(err error) bool {
	if _, ok := errors.AsType[*quicDialError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*quic.IdleTimeoutError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*quic.HandshakeTimeoutError](err); ok {
		return true
	}
	_, ok := errors.AsType[*quic.StatelessResetError](err)
	return ok
}

func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// idempotent reports whether req may be sent twice (RFC 9110 section
// 9.2.2), as net/http decides for its own retries.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// markBrokenLocked turns HTTP/3 off for o with exponential backoff.
func (r *racer) markBrokenLocked(o *origin) {
	backoff := r.opts.BrokenBackoff
	for i := 0; i < o.failures && backoff < r.opts.MaxBrokenBackoff; i++ {
		backoff *= 2
	}
	backoff = min(backoff, r.opts.MaxBrokenBackoff)
	o.failures++
	o.brokenUntil = time.Now().Add(backoff)
	r.brokenMarks.Add(1)
}

// learn records what resp's Alt-Svc says about the origin key.
func (r *racer) learn(key, host string, resp *http.Response) {
	vals := resp.Header.Values("Alt-Svc")
	if len(vals) == 0 {
		return
	}
	alts, clear, err := ParseAltSvc(strings.Join(vals, ","))
	if err != nil {
		r.altSvcErrors.Add(1)
		return
	}
	var h3 *AltService
	for i := range alts {
		if alts[i].Protocol == http3.NextProtoH3 {
			h3 = &alts[i]
			break
		}
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.origins[key]
	switch {
	case clear || h3 == nil:
		if o != nil {
			o.authority, o.expires = "", time.Time{}
		}
		return
	case o == nil:
		if len(r.origins) >= r.opts.MaxOrigins {
			r.evictLocked()
		}
		o = &origin{lastUsed: now}
		r.origins[key] = o
	}
	o.authority = h3.Authority(host)
	o.expires = now.Add(h3.MaxAge)
}

// evictLocked forgets the least recently used origin.
func (r *racer) evictLocked() {
	var (
		oldest string
		when   time.Time
	)
	for k, o := range r.origins {
		if oldest == "" || o.lastUsed.Before(when) {
			oldest, when = k, o.lastUsed
		}
	}
	if o := r.origins[oldest]; o != nil && o.conn != nil && o.stashed {
		o.conn.CloseWithError(0, "")
	}
	delete(r.origins, oldest)
}

func (r *racer) stats() HTTP3Stats {
	s := HTTP3Stats{
		Origins:        map[string]H3Origin{},
		Races:          r.races.Load(),
		QUICWon:        r.quicWon.Load(),
		TCPWon:         r.tcpWon.Load(),
		QUICDials:      r.quicDials.Load(),
		QUICDialErrors: r.quicDialErrors.Load(),
		BrokenMarks:    r.brokenMarks.Load(),
		Retries:        r.retries.Load(),
		NotRetried:     r.notRetried.Load(),
		AltSvcErrors:   r.altSvcErrors.Load(),
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, o := range r.origins {
		h := H3Origin{Failures: o.failures}
		if o.authority != "" && now.Before(o.expires) {
			h.Authority, h.Expires = o.authority, o.expires
		}
		h.Connected = o.conn != nil && o.conn.Context().Err() == nil
		if now.Before(o.brokenUntil) {
			h.BrokenUntil = o.brokenUntil
		}
		s.Origins[k] = h
	}
	return s
}

// closeIdle closes the idle QUIC connections: the http3.Transport's, and
// those a race made that no request took. A handshake still running is
// marked, so that its connection is closed when it finishes unless a
// request waits for it (see quicDial).
func (r *racer) closeIdle() {
	r.h3.CloseIdleConnections()
	var unused []*quic.Conn
	r.mu.Lock()
	for _, o := range r.origins {
		if o.conn != nil && o.stashed {
			unused = append(unused, o.conn)
			o.conn, o.stashed = nil, false
		}
		if o.dial != nil {
			o.dial.idleClosed = true
		}
	}
	r.mu.Unlock()
	for _, c := range unused {
		c.CloseWithError(0, "")
	}
}

// close ends every QUIC connection and joins the racer's goroutines. The
// Transport's life context is already cancelled.
func (r *racer) close() {
	r.h3.Close()
	r.mu.Lock()
	r.closing = true
	for _, o := range r.origins {
		if o.conn != nil {
			o.conn.CloseWithError(0, "")
		}
	}
	qtr, udp := r.qtr, r.udp
	r.mu.Unlock()
	// Closing the QUIC transport ends every connection on it, including
	// any the http3.Transport dropped without closing; their watchers
	// then return.
	if qtr != nil {
		qtr.Close()
	}
	r.wg.Wait()
	if udp != nil {
		udp.Close()
	}
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}
