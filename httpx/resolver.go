package httpx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
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

	// Timeout bounds each query to one server. Defaults to 2s; a server
	// that answers at all answers well within it.
	Timeout time.Duration
	// Attempts is how many times each server is tried before a lookup
	// fails. Defaults to 2.
	Attempts int

	// MinTTL is the shortest time an answer is cached, even if its TTL is
	// shorter, so a burst of dials to a TTL-0 name costs one query per
	// MinTTL. Defaults to 1s; negative means 0.
	MinTTL time.Duration
	// MaxTTL is the longest time an answer is cached, even if its TTL is
	// longer, so a moved service is found within MaxTTL. Defaults to 5m.
	MaxTTL time.Duration
	// FallbackTTL is how long an answer from Fallback, which has no TTL,
	// is cached, within MinTTL and MaxTTL. Defaults to 30s.
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
	o.MinTTL = max(o.MinTTL, 0)
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
		return fmt.Errorf("httpx: ResolverOptions.Timeout %v is negative", o.Timeout)
	case o.Attempts < 0:
		return fmt.Errorf("httpx: ResolverOptions.Attempts %d is negative", o.Attempts)
	case o.MaxTTL < o.MinTTL:
		return fmt.Errorf("httpx: ResolverOptions.MaxTTL %v is below MinTTL %v", o.MaxTTL, o.MinTTL)
	case o.FallbackTTL < 0:
		return fmt.Errorf("httpx: ResolverOptions.FallbackTTL %v is negative", o.FallbackTTL)
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

// resolve answers a lookup from DNS or the fallback. ttl is how long the
// answer may be cached; for a failure, a positive ttl is the SOA minimum.
func (r *Resolver) resolve(ctx context.Context, network, host string) ([]netip.Addr, time.Duration, error) {
	if r.useFallback(host) {
		r.fallbacks.Add(1)
		addrs, err := r.fallback.LookupNetIP(ctx, network, host)
		return addrs, r.opts.FallbackTTL, err
	}
	name, err := dnsmessage.NewName(strings.TrimSuffix(host, ".") + ".")
	if err != nil || len(host) > 253 {
		return nil, 0, &net.DNSError{Err: "invalid host name", Name: host, IsNotFound: true}
	}
	var types []dnsmessage.Type
	switch network {
	case "ip":
		types = []dnsmessage.Type{dnsmessage.TypeAAAA, dnsmessage.TypeA}
	case "ip4":
		types = []dnsmessage.Type{dnsmessage.TypeA}
	default:
		types = []dnsmessage.Type{dnsmessage.TypeAAAA}
	}
	results := make([]dnsResult, len(types))
	var wg sync.WaitGroup
	for i, t := range types[1:] {
		wg.Go(func() { results[i+1] = r.query(ctx, name, t) })
	}
	results[0] = r.query(ctx, name, types[0])
	wg.Wait()

	var (
		addrs []netip.Addr
		ttl   = time.Duration(-1)
		first error
	)
	for _, res := range results {
		if res.err != nil {
			if first == nil {
				first = res.err
			}
			continue
		}
		addrs = append(addrs, res.addrs...)
		if res.hasTTL && (ttl < 0 || res.ttl < ttl) {
			ttl = res.ttl
		}
	}
	if len(addrs) > 0 {
		return addrs, max(ttl, 0), nil
	}
	var negTTL time.Duration
	for _, res := range results {
		negTTL = max(negTTL, res.negTTL)
	}
	if first != nil {
		return nil, negTTL, first
	}
	// Every type answered, with no address: the name exists without one.
	return nil, negTTL, &net.DNSError{Err: "no such host", Name: host, Server: results[0].server, IsNotFound: true}
}

// useFallback reports whether host is one that the system resolves
// differently from a plain DNS query.
func (r *Resolver) useFallback(host string) bool {
	if len(r.servers) == 0 || r.hosts[host] {
		return true
	}
	if strings.HasSuffix(host, ".") {
		return false // absolute: no search list applies
	}
	dots := strings.Count(host, ".")
	return dots == 0 || r.search && dots < r.ndots ||
		host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local")
}

// dnsResult is one record type's outcome.
type dnsResult struct {
	addrs  []netip.Addr
	ttl    time.Duration
	hasTTL bool
	negTTL time.Duration
	server string
	err    error
}

// query asks each server in turn, Attempts rounds, until one answers.
func (r *Resolver) query(ctx context.Context, name dnsmessage.Name, t dnsmessage.Type) dnsResult {
	var last dnsResult
	for range r.opts.Attempts {
		for _, server := range r.servers {
			if err := ctx.Err(); err != nil {
				return dnsResult{err: &net.DNSError{Err: err.Error(), Name: name.String(), Server: server, UnwrapErr: err}}
			}
			r.queries.Add(1)
			ans, err := r.exchange(ctx, server, name, t)
			res := dnsResult{server: server}
			switch {
			case err != nil:
				r.queryErrors.Add(1)
				de := &net.DNSError{Err: err.Error(), Name: strings.TrimSuffix(name.String(), "."), Server: server, UnwrapErr: err}
				if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
					r.timeouts.Add(1)
					de.IsTimeout, de.IsTemporary = true, true
				}
				res.err = de
				last = res
				continue
			case ans.rcode == dnsmessage.RCodeNameError:
				res.err = &net.DNSError{Err: "no such host", Name: strings.TrimSuffix(name.String(), "."), Server: server, IsNotFound: true}
				res.negTTL = ans.negTTL
				return res
			case ans.rcode != dnsmessage.RCodeSuccess:
				r.queryErrors.Add(1)
				res.err = &net.DNSError{Err: "server answered " + ans.rcode.String(), Name: strings.TrimSuffix(name.String(), "."), Server: server, IsTemporary: true}
				last = res
				continue
			}
			res.addrs, res.ttl, res.hasTTL, res.negTTL = ans.addrs, ans.ttl, ans.hasTTL, ans.negTTL
			return res
		}
	}
	if last.err == nil {
		last.err = &net.DNSError{Err: "no DNS servers", Name: strings.TrimSuffix(name.String(), ".")}
	}
	return last
}

// dnsAnswer is what a response says about one question.
type dnsAnswer struct {
	rcode  dnsmessage.RCode
	addrs  []netip.Addr
	ttl    time.Duration // minimum over the records used
	hasTTL bool
	negTTL time.Duration // from the SOA of a negative answer
}

// maxDNSMessage is the largest DNS message read over UDP or TCP: the EDNS0
// buffer size advertised for UDP; TCP answers are capped to 64 KiB by the
// protocol.
const maxDNSMessage = 1232

// exchange sends one query to server over UDP, retrying over TCP when the
// answer is truncated.
func (r *Resolver) exchange(ctx context.Context, server string, name dnsmessage.Name, t dnsmessage.Type) (dnsAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	id := uint16(rand.Uint32())
	q := dnsmessage.Question{Name: name, Type: t, Class: dnsmessage.ClassINET}
	msg, err := buildQuery(id, q)
	if err != nil {
		return dnsAnswer{}, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return dnsAnswer{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(msg); err != nil {
		return dnsAnswer{}, err
	}
	buf := make([]byte, maxDNSMessage)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return dnsAnswer{}, timeoutError{fmt.Sprintf("no answer from %s within %v", server, r.opts.Timeout)}
			}
			if ctx.Err() != nil {
				return dnsAnswer{}, ctx.Err()
			}
			return dnsAnswer{}, err
		}
		ans, truncated, err := parseDNSResponse(buf[:n], id, q)
		if errors.Is(err, errNotOurAnswer) {
			continue // a stray or spoofed datagram: keep waiting for ours
		}
		if err != nil {
			return dnsAnswer{}, err
		}
		if truncated {
			return r.exchangeTCP(ctx, server, id, q, msg)
		}
		return ans, nil
	}
}

func (r *Resolver) exchangeTCP(ctx context.Context, server string, id uint16, q dnsmessage.Question, msg []byte) (dnsAnswer, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", server)
	if err != nil {
		return dnsAnswer{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	framed := append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
	if _, err := conn.Write(framed); err != nil {
		return dnsAnswer{}, err
	}
	rd := bufio.NewReader(conn)
	var hdr [2]byte
	if _, err := io.ReadFull(rd, hdr[:]); err != nil {
		return dnsAnswer{}, err
	}
	buf := make([]byte, int(hdr[0])<<8|int(hdr[1]))
	if _, err := io.ReadFull(rd, buf); err != nil {
		return dnsAnswer{}, err
	}
	ans, _, err := parseDNSResponse(buf, id, q)
	return ans, err
}

type timeoutError struct{ msg string }

func (e timeoutError) Error() string   { return e.msg }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

func buildQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 64), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var rh dnsmessage.ResourceHeader
	if err := rh.SetEDNS0(maxDNSMessage, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	return b.Finish()
}

// errNotOurAnswer marks a datagram that does not answer the query sent.
var errNotOurAnswer = errors.New("httpx: DNS message does not answer the query")

// maxCNAMEChain bounds how many CNAME records are followed.
const maxCNAMEChain = 8

// parseDNSResponse reads the answer to question q with ID id from msg, an
// untrusted message. It follows the CNAME chain from q's name and keeps the
// records of q's type at its end; the TTL is the smallest along the chain.
func parseDNSResponse(msg []byte, id uint16, q dnsmessage.Question) (ans dnsAnswer, truncated bool, err error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return ans, false, fmt.Errorf("httpx: malformed DNS answer: %w", err)
	}
	if !h.Response || h.ID != id {
		return ans, false, errNotOurAnswer
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return ans, false, fmt.Errorf("httpx: malformed DNS answer: %w", err)
	}
	if len(qs) != 1 || qs[0].Type != q.Type || qs[0].Class != q.Class || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return ans, false, errNotOurAnswer
	}
	ans.rcode = h.RCode
	if h.Truncated {
		return ans, true, nil
	}

	type rec struct {
		ttl   time.Duration
		cname string
		addr  netip.Addr
	}
	byName := map[string][]rec{}
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return ans, false, fmt.Errorf("httpx: malformed DNS answer: %w", err)
		}
		n := strings.ToLower(rh.Name.String())
		ttl := time.Duration(rh.TTL) * time.Second
		switch {
		case rh.Class != dnsmessage.ClassINET:
			err = p.SkipAnswer()
		case rh.Type == dnsmessage.TypeCNAME:
			var c dnsmessage.CNAMEResource
			if c, err = p.CNAMEResource(); err == nil {
				byName[n] = append(byName[n], rec{ttl: ttl, cname: strings.ToLower(c.CNAME.String())})
			}
		case rh.Type == q.Type && q.Type == dnsmessage.TypeA:
			var a dnsmessage.AResource
			if a, err = p.AResource(); err == nil {
				byName[n] = append(byName[n], rec{ttl: ttl, addr: netip.AddrFrom4(a.A)})
			}
		case rh.Type == q.Type && q.Type == dnsmessage.TypeAAAA:
			var a dnsmessage.AAAAResource
			if a, err = p.AAAAResource(); err == nil {
				byName[n] = append(byName[n], rec{ttl: ttl, addr: netip.AddrFrom16(a.AAAA)})
			}
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return ans, false, fmt.Errorf("httpx: malformed DNS answer: %w", err)
		}
	}

	cur := strings.ToLower(q.Name.String())
	minTTL := time.Duration(-1)
	for hop := 0; ; hop++ {
		next := ""
		for _, r := range byName[cur] {
			if minTTL < 0 || r.ttl < minTTL {
				minTTL = r.ttl
			}
			if r.cname != "" {
				next = r.cname
			} else {
				ans.addrs = append(ans.addrs, r.addr)
			}
		}
		if len(ans.addrs) > 0 || next == "" || hop >= maxCNAMEChain {
			break
		}
		cur = next
	}
	if len(ans.addrs) > 0 {
		ans.ttl, ans.hasTTL = minTTL, true
		return ans, false, nil
	}

	// A negative answer: the SOA in the authority section bounds how long
	// it may be cached (RFC 2308 section 5).
	for {
		rh, err := p.AuthorityHeader()
		if err != nil {
			break // done, or malformed: either way no SOA to use
		}
		if rh.Type != dnsmessage.TypeSOA {
			if p.SkipAuthority() != nil {
				break
			}
			continue
		}
		soa, err := p.SOAResource()
		if err != nil {
			break
		}
		ans.negTTL = time.Duration(min(rh.TTL, soa.MinTTL)) * time.Second
		break
	}
	if ans.rcode == dnsmessage.RCodeSuccess {
		// NODATA: the name exists without records of this type. It is not
		// an error on its own; the caller combines the record types.
		ans.hasTTL = false
	}
	return ans, false, nil
}

// resolvConf is what NewResolver uses from resolv.conf.
type resolvConf struct {
	servers []string
	ndots   int
	search  bool
}

func readResolvConf(path string) (resolvConf, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return resolvConf{ndots: 1}, nil
	}
	if err != nil {
		return resolvConf{}, fmt.Errorf("httpx: read resolver configuration: %w", err)
	}
	return parseResolvConf(string(data)), nil
}

// parseResolvConf reads nameserver, search, domain and options ndots:n.
func parseResolvConf(s string) resolvConf {
	c := resolvConf{ndots: 1}
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if ip, err := netip.ParseAddr(f[1]); err == nil {
					c.servers = append(c.servers, netip.AddrPortFrom(ip, 53).String())
				}
			}
		case "search", "domain":
			c.search = len(f) > 1
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil && n >= 0 {
						c.ndots = min(n, 15)
					}
				}
			}
		}
	}
	return c
}

// readHostsNames returns the lower-cased names a hosts file maps.
func readHostsNames(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("httpx: read hosts file: %w", err)
	}
	names := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, n := range f[1:] {
			names[strings.ToLower(strings.TrimSuffix(n, "."))] = true
		}
	}
	return names, nil
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
