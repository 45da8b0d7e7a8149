package httpx

import (
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// Counts are the counters of a Transport, for all hosts together or for one
// host. They are plain values: a snapshot taken by [Transport.Stats].
type Counts struct {
	// Requests is the number of round trips started.
	Requests int64
	// Failures is the number of round trips that returned an error.
	Failures int64
	// HTTP1, HTTP2 and HTTP3 count responses by the protocol that carried
	// them.
	HTTP1, HTTP2, HTTP3 int64

	// GotConns is the number of requests that obtained a connection, new
	// or reused: the denominator of ReuseRatio.
	GotConns int64
	// Reused is the number of requests sent on a connection that had
	// carried an earlier request (idle keep-alive connections and further
	// streams of an HTTP/2 or HTTP/3 connection).
	Reused int64
	// ReusedIdle is the total time the reused connections had been idle
	// before those requests took them.
	ReusedIdle time.Duration

	// Dials is the number of connections opened, TCP or QUIC, including
	// those opened for a race that the other protocol won.
	Dials int64
	// DialErrors is the number of connection attempts that failed.
	DialErrors int64
	// DialTime is the total time spent connecting: address lookup, TCP
	// connect (every Happy Eyeballs attempt) or QUIC handshake.
	DialTime time.Duration
	// TLSHandshakes is the number of TLS handshakes completed over TCP and
	// QUIC; TLSErrors the number that failed. TLSTime is their total
	// duration (for QUIC, counted in DialTime instead).
	TLSHandshakes, TLSErrors int64
	TLSTime                  time.Duration
	// Closed is the number of connections closed; Open = Dials -
	// DialErrors - Closed, the connections currently open.
	Closed, Open int64

	// DNSLookups is the number of address lookups done for dials, and
	// DNSCacheHits the number of them answered from the resolver's cache.
	DNSLookups, DNSCacheHits int64
}

// ReuseRatio is Reused/GotConns: the share of requests that did not wait for
// a new connection. GotConns-Reused is the number of new connections that
// carried a request, which equals TLSHandshakes over TLS when no dial was
// wasted (concurrent first requests to an HTTP/2 origin share one dial;
// Dials also counts connections opened for an HTTP/3 race that QUIC won).
// It is 0 before the first request.
func (c Counts) ReuseRatio() float64 {
	if c.GotConns == 0 {
		return 0
	}
	return float64(c.Reused) / float64(c.GotConns)
}

// HandshakesPerRequest is TLSHandshakes/Requests, the figure that a client
// created per request drives to 1. It is 0 before the first request.
func (c Counts) HandshakesPerRequest() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.TLSHandshakes) / float64(c.Requests)
}

// Stats is a snapshot of a Transport's statistics, cheap to take and safe to
// keep: nothing in it is shared with the Transport.
type Stats struct {
	// Counts are the totals over all hosts.
	Counts
	// Hosts holds the counts per "host:port", for at most MaxStatsHosts
	// hosts; further hosts are counted under OtherHosts.
	Hosts map[string]Counts
	// Resolver is the statistics of the Transport's resolver.
	Resolver ResolverStats
	// H3 is the state of HTTP/3 discovery and racing; zero when
	// Options.HTTP3 is nil. (Counts.HTTP3 is the number of responses.)
	H3 HTTP3Stats
}

// MaxStatsHosts is how many hosts a Transport keeps separate counts for;
// requests to further hosts are counted under the key OtherHosts, so a
// client that talks to unboundedly many hosts uses bounded memory.
const MaxStatsHosts = 1024

// OtherHosts is the Stats.Hosts key that collects the hosts beyond
// MaxStatsHosts.
const OtherHosts = "(other)"

// counters are the live, atomic form of Counts.
type counters struct {
	requests, failures, h1, h2, h3 atomic.Int64
	gotConns, reused, reusedIdle   atomic.Int64
	dials, dialErrors, dialTime    atomic.Int64
	tls, tlsErrors, tlsTime        atomic.Int64
	closed                         atomic.Int64
	dnsLookups, dnsHits            atomic.Int64
	tcpOpen                        atomic.Int64 // TCP connections open now (host only)
	alpn                           atomic.Int32 // protocol of the last TLS dial (host only): alpnH1, …
}

func (c *counters) snapshot() Counts {
	s := Counts{
		Requests:      c.requests.Load(),
		Failures:      c.failures.Load(),
		HTTP1:         c.h1.Load(),
		HTTP2:         c.h2.Load(),
		HTTP3:         c.h3.Load(),
		GotConns:      c.gotConns.Load(),
		Reused:        c.reused.Load(),
		ReusedIdle:    time.Duration(c.reusedIdle.Load()),
		Dials:         c.dials.Load(),
		DialErrors:    c.dialErrors.Load(),
		DialTime:      time.Duration(c.dialTime.Load()),
		TLSHandshakes: c.tls.Load(),
		TLSErrors:     c.tlsErrors.Load(),
		TLSTime:       time.Duration(c.tlsTime.Load()),
		Closed:        c.closed.Load(),
		DNSLookups:    c.dnsLookups.Load(),
		DNSCacheHits:  c.dnsHits.Load(),
	}
	s.Open = max(s.Dials-s.DialErrors-s.Closed, 0)
	return s
}

// hostStats is one host's counters and the totals: every event is counted
// in both.
type hostStats struct {
	host, total *counters
}

func (h hostStats) add(f func(*counters) *atomic.Int64, n int64) {
	f(h.host).Add(n)
	f(h.total).Add(n)
}

func cRequests(c *counters) *atomic.Int64   { return &c.requests }
func cFailures(c *counters) *atomic.Int64   { return &c.failures }
func cH1(c *counters) *atomic.Int64         { return &c.h1 }
func cH2(c *counters) *atomic.Int64         { return &c.h2 }
func cH3(c *counters) *atomic.Int64         { return &c.h3 }
func cGotConns(c *counters) *atomic.Int64   { return &c.gotConns }
func cReused(c *counters) *atomic.Int64     { return &c.reused }
func cReusedIdle(c *counters) *atomic.Int64 { return &c.reusedIdle }
func cDials(c *counters) *atomic.Int64      { return &c.dials }
func cDialErrors(c *counters) *atomic.Int64 { return &c.dialErrors }
func cDialTime(c *counters) *atomic.Int64   { return &c.dialTime }
func cTLS(c *counters) *atomic.Int64        { return &c.tls }
func cTLSErrors(c *counters) *atomic.Int64  { return &c.tlsErrors }
func cTLSTime(c *counters) *atomic.Int64    { return &c.tlsTime }
func cClosed(c *counters) *atomic.Int64     { return &c.closed }
func cDNSLookups(c *counters) *atomic.Int64 { return &c.dnsLookups }
func cDNSHits(c *counters) *atomic.Int64    { return &c.dnsHits }

// registry maps hosts to their counters.
type registry struct {
	total counters

	mu    sync.RWMutex // protects hosts
	hosts map[string]*counters
}

func (r *registry) get(host string) hostStats {
	r.mu.RLock()
	c := r.hosts[host]
	r.mu.RUnlock()
	if c != nil {
		return hostStats{c, &r.total}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hosts == nil {
		r.hosts = make(map[string]*counters)
	}
	if c = r.hosts[host]; c == nil {
		if len(r.hosts) >= MaxStatsHosts {
			host = OtherHosts
			c = r.hosts[host]
		}
		if c == nil {
			c = new(counters)
			r.hosts[host] = c
		}
	}
	return hostStats{c, &r.total}
}

// openTCP reports how many TCP connections to host are open now.
func (r *registry) openTCP(host string) int64 {
	r.mu.RLock()
	c := r.hosts[host]
	r.mu.RUnlock()
	if c == nil {
		return 0
	}
	return c.tcpOpen.Load()
}

func (r *registry) snapshot() (Counts, map[string]Counts) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	hosts := make(map[string]Counts, len(r.hosts))
	for h, c := range r.hosts {
		hosts[h] = c.snapshot()
	}
	return r.total.snapshot(), hosts
}

// requestTrace counts one request's connection events. It composes with a
// trace the caller put in the request's context.
type requestTrace struct {
	hs       hostStats
	countTLS bool // the transport's own TLS handshake (proxied requests)
	tlsStart time.Time
	trace    httptrace.ClientTrace

	// Connection attempts, for dials waiting on a gate (coalesce.go).
	mu                 sync.Mutex
	getConns, gotConns int
	getsAtGot          int // getConns at the last GotConn
	done               bool
	changed            chan struct{} // closed at the next event; nil if nobody waits

	// HTTP/3: quic-go reports a connection as new to every request that
	// asked for it before its handshake ended, so requests sharing a
	// connection in a burst all look new. A request is instead counted on
	// a new connection when the QUIC dial was made for it.
	inH3, dialedH3 bool
}

func newRequestTrace(hs hostStats, countTLS bool) *requestTrace {
	rt := &requestTrace{hs: hs, countTLS: countTLS}
	rt.trace.GetConn = rt.getConn
	rt.trace.GotConn = rt.gotConn
	if countTLS {
		rt.trace.TLSHandshakeStart = rt.tlsHandshakeStart
		rt.trace.TLSHandshakeDone = rt.tlsHandshakeDone
	}
	return rt
}

func (rt *requestTrace) gotConn(info httptrace.GotConnInfo) {
	rt.mu.Lock()
	rt.gotConns++
	rt.getsAtGot = rt.getConns
	rt.notifyLocked()
	if rt.inH3 {
		info.Reused = !rt.dialedH3
		rt.dialedH3 = false
	}
	rt.mu.Unlock()
	rt.hs.add(cGotConns, 1)
	if info.Reused {
		rt.hs.add(cReused, 1)
		rt.hs.add(cReusedIdle, int64(info.IdleTime))
	}
}

// setH3 marks the request as being sent over HTTP/3 (on) or not.
func (rt *requestTrace) setH3(on bool) {
	rt.mu.Lock()
	rt.inH3, rt.dialedH3 = on, false
	rt.mu.Unlock()
}

// dialingH3 records that a QUIC dial is made for the request.
func (rt *requestTrace) dialingH3() {
	rt.mu.Lock()
	rt.dialedH3 = true
	rt.mu.Unlock()
}

func (rt *requestTrace) tlsHandshakeStart() { rt.tlsStart = time.Now() }

func (rt *requestTrace) tlsHandshakeDone(_ tls.ConnectionState, err error) {
	rt.hs.recordTLS(time.Since(rt.tlsStart), err)
}

func (h hostStats) recordTLS(d time.Duration, err error) {
	if err != nil {
		h.add(cTLSErrors, 1)
		return
	}
	h.add(cTLS, 1)
	h.add(cTLSTime, int64(d))
}

func (h hostStats) recordDial(d time.Duration, err error) {
	h.add(cDials, 1)
	h.add(cDialTime, int64(d))
	if err != nil {
		h.add(cDialErrors, 1)
	}
}

func (h hostStats) recordLookup(hit bool) {
	h.add(cDNSLookups, 1)
	if hit {
		h.add(cDNSHits, 1)
	}
}
