package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrResolverClosed is returned by [Resolver.LookupNetIP] after
// [Resolver.Close].
var ErrResolverClosed = errors.New("httpx: resolver closed")

// ResolverOptions configures [NewResolver]. The zero value, and nil, are
// valid: every field has a default, stated in its comment.
type ResolverOptions struct {
	// Servers are the DNS servers to query, as "ip" or "ip:port" (port 53
	// by default), tried in order. Empty means the nameservers of
	// ResolvConf; when that lists none, every lookup goes to Fallback.
	Servers []string
	// ResolvConf is the resolver configuration read when Servers is empty.
	// Defaults to /etc/resolv.conf.
	ResolvConf string
	// HostsFile lists names that Fallback answers (the system's hosts
	// file) when Servers is empty. Defaults to /etc/hosts.
	HostsFile string
	// Fallback answers the names that DNS queries would answer
	// differently from the system: names in HostsFile, single-label names
	// and names subject to the resolv.conf search list, .local and
	// .localhost names. Its answers carry no TTL and are cached for
	// FallbackTTL. Defaults to net.DefaultResolver.
	Fallback *net.Resolver

	// Timeout bounds each query to one server; a server that answers at
	// all answers well within it. Defaults to 2s; negative is an error.
	Timeout time.Duration
	// Attempts is how many times each server is tried before a lookup
	// fails. Defaults to 2; negative is an error.
	Attempts int

	// MinTTL is the shortest time an answer is cached, even if its TTL is
	// shorter, so a burst of dials to a TTL-0 name costs one query per
	// MinTTL. Defaults to 1s; negative disables the floor, so an answer is
	// cached for its own TTL alone.
	MinTTL time.Duration
	// MaxTTL is the longest time an answer is cached, even if its TTL is
	// longer, so a moved service is found within MaxTTL. Defaults to 5m;
	// negative, or less than MinTTL, is an error.
	MaxTTL time.Duration
	// FallbackTTL is how long an answer from Fallback, which has no TTL,
	// is cached, within MinTTL and MaxTTL. Defaults to 30s; negative is an
	// error.
	FallbackTTL time.Duration
	// NegativeTTL is the longest time a failed lookup (no such host,
	// timeout, server failure) is cached, so a broken name does not cost a
	// query per dial. NXDOMAIN answers use the zone's SOA minimum when
	// shorter. Defaults to 5s; negative disables caching failures.
	NegativeTTL time.Duration
	// StaleFor is how long after its TTL an answer is still returned while
	// one background query refreshes it (stale-while-revalidate); if the
	// refresh fails, the stale answer is kept until StaleFor runs out.
	// Defaults to 30s; negative disables serving stale answers.
	StaleFor time.Duration
	// MaxEntries bounds the cache. When it is full, an expired entry is
	// evicted, or else an arbitrary one. Defaults to 4096; negative
	// disables caching (concurrent lookups are still coalesced).
	MaxEntries int
}

// Resolver is a caching DNS resolver. It queries DNS servers itself (with
// golang.org/x/net/dns/dnsmessage) so that it knows each answer's TTL,
// caches answers for their TTL within [ResolverOptions.MinTTL] and MaxTTL,
// coalesces concurrent lookups of the same name into one query, serves an
// expired answer for a bounded time while refreshing it in the background,
// and caches failures briefly.
//
// A Resolver is safe for concurrent use. Its background queries are owned
// by it and joined by Close.
type Resolver struct {
	opts     ResolverOptions
	servers  []string
	ndots    int
	search   bool            // resolv.conf has a search list
	hosts    map[string]bool // names in the hosts file
	fallback *net.Resolver

	life   context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // joins flights

	mu      sync.Mutex // protects cache, flights, closed
	cache   map[lookupKey]*dnsEntry
	flights map[lookupKey]*flight
	closed  bool

	lookups, hits, staleHits, negHits, coalesced atomic.Int64
	queries, queryErrors, timeouts, fallbacks    atomic.Int64
	refreshes, evictions                         atomic.Int64
}

// ResolverStats is a snapshot of a Resolver's counters.
type ResolverStats struct {
	// Lookups is the number of lookups of names (IP literals are not
	// counted).
	Lookups int64
	// CacheHits is the number of lookups answered from the cache,
	// including StaleHits and NegativeHits.
	CacheHits int64
	// StaleHits is the number of lookups answered with an expired entry
	// while a refresh ran.
	StaleHits int64
	// NegativeHits is the number of lookups answered with a cached
	// failure.
	NegativeHits int64
	// Coalesced is the number of lookups that waited for a query another
	// lookup had started.
	Coalesced int64
	// Queries is the number of DNS queries sent (one per record type,
	// server and attempt); QueryErrors the number that got no usable
	// answer, of which Timeouts timed out.
	Queries, QueryErrors, Timeouts int64
	// Fallbacks is the number of names resolved by the fallback
	// net.Resolver.
	Fallbacks int64
	// Refreshes is the number of background refreshes of stale entries.
	Refreshes int64
	// Entries is the number of cached entries now; Evictions the number
	// removed to make room.
	Entries   int
	Evictions int64
}

// HitRatio is CacheHits/Lookups, 0 before the first lookup.
func (s ResolverStats) HitRatio() float64 {
	if s.Lookups == 0 {
		return 0
	}
	return float64(s.CacheHits) / float64(s.Lookups)
}

type lookupKey struct{ network, host string }

type dnsEntry struct {
	addrs   []netip.Addr
	err     error
	expires time.Time
	staleTo time.Time // positive entries only
}

type flight struct {
	done  chan struct{}
	addrs []netip.Addr
	err   error
}

// NewResolver returns a Resolver configured by opts, which it copies; nil
// means all defaults. With no Servers it reads ResolvConf and HostsFile
// once, now. It returns an error for invalid options or an unreadable file
// other than a missing one.
func NewResolver(opts *ResolverOptions) (*Resolver, error) {
	var o ResolverOptions
	if opts != nil {
		o = *opts
		o.Servers = slices.Clone(opts.Servers)
	}
	if err := o.fill(); err != nil {
		return nil, err
	}
	r := &Resolver{opts: o, fallback: o.Fallback, ndots: 1}
	for _, s := range o.Servers {
		addr, err := normalizeServer(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, addr)
	}
	if len(o.Servers) == 0 {
		conf, err := readResolvConf(o.ResolvConf)
		if err != nil {
			return nil, err
		}
		r.servers, r.ndots, r.search = conf.servers, conf.ndots, conf.search
		if r.hosts, err = readHostsNames(o.HostsFile); err != nil {
			return nil, err
		}
	}
	r.life, r.cancel = context.WithCancel(context.Background())
	r.cache = make(map[lookupKey]*dnsEntry)
	r.flights = make(map[lookupKey]*flight)
	return r, nil
}

func (o *ResolverOptions) fill() error {
	if o.ResolvConf == "" {
		o.ResolvConf = "/etc/resolv.conf"
	}
	if o.HostsFile == "" {
		o.HostsFile = "/etc/hosts"
	}
	if o.Fallback == nil {
		o.Fallback = net.DefaultResolver
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Attempts == 0 {
		o.Attempts = 2
	}
	if o.MinTTL == 0 {
		o.MinTTL = time.Second
	}
	o.MinTTL = max(o.MinTTL, 0) // negative: no floor
	if o.MaxTTL == 0 {
		o.MaxTTL = 5 * time.Minute
	}
	if o.FallbackTTL == 0 {
		o.FallbackTTL = 30 * time.Second
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 5 * time.Second
	}
	if o.StaleFor == 0 {
		o.StaleFor = 30 * time.Second
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 4096
	}
	switch {
	case o.Timeout < 0:
		return negativeError("ResolverOptions.Timeout", o.Timeout, "")
	case o.Attempts < 0:
		return negativeError("ResolverOptions.Attempts", o.Attempts, "")
	case o.MaxTTL < 0:
		return negativeError("ResolverOptions.MaxTTL", o.MaxTTL, "")
	case o.MaxTTL < o.MinTTL:
		return fmt.Errorf("httpx: ResolverOptions.MaxTTL %v is below MinTTL %v", o.MaxTTL, o.MinTTL)
	case o.FallbackTTL < 0:
		return negativeError("ResolverOptions.FallbackTTL", o.FallbackTTL, "")
	}
	return nil
}

func normalizeServer(s string) (string, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return "", fmt.Errorf("httpx: DNS server %q: want an IP address with an optional port", s)
	}
	return ap.String(), nil
}

// LookupNetIP looks up host's addresses: network "ip" for both families
// (IPv6 first), "ip4" or "ip6" for one. It has net.Resolver.LookupNetIP's
// signature and errors: a failure is a *net.DNSError, with IsNotFound for a
// name that does not exist. An IP literal is returned as is.
//
// Cancelling ctx returns ctx's error at once; a query already sent keeps
// running in the background, bounded by Timeout and Attempts, and its
// answer fills the cache for the next lookup.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	addrs, _, err := r.lookup(ctx, network, host)
	return slices.Clone(addrs), err
}

// lookup is LookupNetIP without the copy; hit reports a cache hit.
func (r *Resolver) lookup(ctx context.Context, network, host string) (addrs []netip.Addr, hit bool, err error) {
	switch network {
	case "ip", "ip4", "ip6":
	default:
		return nil, false, &net.DNSError{Err: "unsupported network " + strconv.Quote(network), Name: host}
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		if network == "ip4" && !ip.Unmap().Is4() || network == "ip6" && !ip.Is6() {
			return nil, false, &net.DNSError{Err: "no suitable address", Name: host, IsNotFound: true}
		}
		return []netip.Addr{ip}, true, nil
	}
	r.lookups.Add(1)
	k := lookupKey{network, strings.ToLower(host)}
	now := time.Now()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, false, ErrResolverClosed
	}
	if e := r.cache[k]; e != nil {
		switch {
		case now.Before(e.expires):
			r.mu.Unlock()
			r.hits.Add(1)
			if e.err != nil {
				r.negHits.Add(1)
			}
			return e.addrs, true, e.err
		case e.err == nil && now.Before(e.staleTo):
			if r.flights[k] == nil {
				r.refreshes.Add(1)
				r.startFlightLocked(k)
			}
			r.mu.Unlock()
			r.hits.Add(1)
			r.staleHits.Add(1)
			return e.addrs, true, nil
		}
	}
	f := r.flights[k]
	if f == nil {
		f = r.startFlightLocked(k)
	} else {
		r.coalesced.Add(1)
	}
	r.mu.Unlock()

	select {
	case <-f.done:
		return f.addrs, false, f.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// startFlightLocked starts the one query for k. r.mu must be held.
func (r *Resolver) startFlightLocked(k lookupKey) *flight {
	f := &flight{done: make(chan struct{})}
	r.flights[k] = f
	r.wg.Go(func() { r.fly(k, f) })
	return f
}

// fly resolves k, stores the result and wakes the waiters.
func (r *Resolver) fly(k lookupKey, f *flight) {
	addrs, ttl, err := r.resolve(r.life, k.network, k.host)
	now := time.Now()

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.flights, k)
	f.addrs, f.err = addrs, err
	old := r.cache[k]
	switch {
	case r.opts.MaxEntries < 0 || r.closed:
	case err == nil:
		ttl = min(max(ttl, r.opts.MinTTL), r.opts.MaxTTL)
		e := &dnsEntry{addrs: addrs, expires: now.Add(ttl)}
		if r.opts.StaleFor > 0 {
			e.staleTo = e.expires.Add(r.opts.StaleFor)
		}
		r.storeLocked(k, e, now)
	case old != nil && old.err == nil && now.Before(old.staleTo):
		// The refresh failed: keep serving the stale answer while it may
		// be served, and answer the waiters with it.
		f.addrs, f.err = old.addrs, nil
	case r.opts.NegativeTTL > 0:
		neg := r.opts.NegativeTTL
		if ttl > 0 {
			neg = min(neg, ttl)
		}
		r.storeLocked(k, &dnsEntry{err: err, expires: now.Add(neg)}, now)
	}
	close(f.done)
}

func (r *Resolver) storeLocked(k lookupKey, e *dnsEntry, now time.Time) {
	if _, ok := r.cache[k]; !ok && len(r.cache) >= r.opts.MaxEntries {
		victim, found := lookupKey{}, false
		for ck, ce := range r.cache {
			if !found {
				victim, found = ck, true
			}
			if now.After(ce.expires) && now.After(ce.staleTo) {
				victim = ck
				break
			}
		}
		delete(r.cache, victim)
		r.evictions.Add(1)
	}
	r.cache[k] = e
}

// Stats returns a snapshot of the resolver's counters. It is safe to call
// concurrently with lookups.
func (r *Resolver) Stats() ResolverStats {
	r.mu.Lock()
	n := len(r.cache)
	r.mu.Unlock()
	return ResolverStats{
		Lookups:      r.lookups.Load(),
		CacheHits:    r.hits.Load(),
		StaleHits:    r.staleHits.Load(),
		NegativeHits: r.negHits.Load(),
		Coalesced:    r.coalesced.Load(),
		Queries:      r.queries.Load(),
		QueryErrors:  r.queryErrors.Load(),
		Timeouts:     r.timeouts.Load(),
		Fallbacks:    r.fallbacks.Load(),
		Refreshes:    r.refreshes.Load(),
		Entries:      n,
		Evictions:    r.evictions.Load(),
	}
}

// Flush empties the cache; lookups in flight are not affected.
func (r *Resolver) Flush() {
	r.mu.Lock()
	clear(r.cache)
	r.mu.Unlock()
}

// Close cancels the queries in flight, waits for them, and makes later
// lookups fail with ErrResolverClosed. It is idempotent and safe to call
// concurrently with lookups.
func (r *Resolver) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}
