package httpx_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

var (
	addr1 = netip.MustParseAddr("127.0.0.11")
	addr2 = netip.MustParseAddr("127.0.0.12")
	addr6 = netip.MustParseAddr("::1")
)

// newResolver returns a Resolver that queries dns, closed by the test's
// cleanup. Short timeouts keep failure tests quick; they are bounds, not
// assertions.
func newResolver(t testing.TB, dns *testenv.DNSServer, opts *httpx.ResolverOptions) *httpx.Resolver {
	t.Helper()
	var o httpx.ResolverOptions
	if opts != nil {
		o = *opts
	}
	if o.Servers == nil {
		o.Servers = []string{dns.Addr}
	}
	if o.Timeout == 0 {
		o.Timeout = 500 * time.Millisecond
	}
	r, err := httpx.NewResolver(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func lookup(t testing.TB, r *httpx.Resolver, network, host string) []netip.Addr {
	t.Helper()
	addrs, err := r.LookupNetIP(testCtx(t), network, host)
	if err != nil {
		t.Fatalf("LookupNetIP(%s, %s): %v", network, host, err)
	}
	return addrs
}

func TestResolverAnswers(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("both.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1, addr6}, TTL: 60})
	dns.Set("v4.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1, addr2}, TTL: 60})
	dns.Set("alias.test", testenv.DNSRecord{CNAME: "v4.test", TTL: 60})
	dns.Set("big.test", testenv.DNSRecord{Addrs: []netip.Addr{addr2}, TTL: 60, Truncate: true})
	r := newResolver(t, dns, nil)

	for _, tc := range []struct {
		name, network, host string
		want                []netip.Addr
	}{
		{"both families, IPv6 first", "ip", "both.test", []netip.Addr{addr6, addr1}},
		{"only A", "ip4", "both.test", []netip.Addr{addr1}},
		{"only AAAA", "ip6", "both.test", []netip.Addr{addr6}},
		{"two A records", "ip", "v4.test", []netip.Addr{addr1, addr2}},
		{"CNAME followed", "ip4", "alias.test", []netip.Addr{addr1, addr2}},
		{"truncated UDP answer retried over TCP", "ip4", "big.test", []netip.Addr{addr2}},
		{"case-insensitive, trailing dot", "ip4", "V4.Test.", []netip.Addr{addr1, addr2}},
		{"IP literal", "ip", "192.0.2.1", []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		{"bracketed IPv6 literal", "ip", "[::1]", []netip.Addr{addr6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lookup(t, r, tc.network, tc.host); !slices.Equal(got, tc.want) {
				t.Errorf("LookupNetIP(%s, %s) = %v, want %v", tc.network, tc.host, got, tc.want)
			}
		})
	}
	if _, err := r.LookupNetIP(testCtx(t), "tcp", "v4.test"); err == nil {
		t.Error("network tcp accepted")
	}
}

func TestResolverCachesForTTL(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("a.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 60})
	dns.Set("short.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 1})
	dns.Set("long.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 86400})
	r := newResolver(t, dns, &httpx.ResolverOptions{MinTTL: -1, MaxTTL: time.Second, StaleFor: -1})

	// Within the TTL: one query per record type, then cache hits.
	for range 5 {
		lookup(t, r, "ip4", "a.test")
	}
	if n := dns.Queries("a.test"); n != 1 {
		t.Errorf("5 lookups within the TTL sent %d queries, want 1", n)
	}
	st := r.Stats()
	if st.Lookups != 5 || st.CacheHits != 4 || st.HitRatio() != 0.8 {
		t.Errorf("stats %+v, want 5 lookups and 4 hits", st)
	}

	// A 1s TTL expires: lookups keep hitting the cache until it does, then
	// one query refreshes it.
	lookup(t, r, "ip4", "short.test")
	testenv.WaitFor(t, 10*time.Second, "the 1s TTL to expire", func() bool {
		lookup(t, r, "ip4", "short.test")
		return dns.Queries("short.test") == 2
	})
	// MaxTTL (1s) caps a TTL of a day the same way.
	lookup(t, r, "ip4", "long.test")
	testenv.WaitFor(t, 10*time.Second, "MaxTTL to cap a day-long TTL", func() bool {
		lookup(t, r, "ip4", "long.test")
		return dns.Queries("long.test") == 2
	})
}

func TestResolverServesStaleWhileRevalidating(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("moving.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 1})
	r := newResolver(t, dns, &httpx.ResolverOptions{MinTTL: -1, StaleFor: time.Minute})

	lookup(t, r, "ip4", "moving.test")
	dns.Set("moving.test", testenv.DNSRecord{Addrs: []netip.Addr{addr2}, TTL: 60})
	// After the TTL, the first lookup gets the old address at once and
	// starts one refresh; a later lookup sees the new address.
	testenv.WaitFor(t, 10*time.Second, "the refreshed address", func() bool {
		got := lookup(t, r, "ip4", "moving.test")
		return got[0] == addr2
	})
	st := r.Stats()
	if st.StaleHits < 1 || st.Refreshes < 1 {
		t.Errorf("stats %+v: want a stale hit and a refresh", st)
	}
	if n := dns.Queries("moving.test"); n != 2 {
		t.Errorf("%d queries, want 2 (the first and one refresh)", n)
	}
}

func TestResolverKeepsStaleAnswerWhenRefreshFails(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("flaky.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 1})
	r := newResolver(t, dns, &httpx.ResolverOptions{MinTTL: -1, StaleFor: 2 * time.Second, Timeout: 100 * time.Millisecond, Attempts: 1})

	lookup(t, r, "ip4", "flaky.test")
	dns.Set("flaky.test", testenv.DNSRecord{Drop: true}) // the server stops answering
	// The stale answer is served while refreshes time out...
	testenv.WaitFor(t, 10*time.Second, "a refresh to time out", func() bool {
		got := lookup(t, r, "ip4", "flaky.test")
		if got[0] != addr1 {
			t.Fatalf("got %v, want the stale %v", got, addr1)
		}
		return r.Stats().Timeouts > 0
	})
	// ...but only for StaleFor: then the failure shows.
	testenv.WaitFor(t, 20*time.Second, "the stale window to end", func() bool {
		_, err := r.LookupNetIP(testCtx(t), "ip4", "flaky.test")
		return err != nil
	})
	_, err := r.LookupNetIP(testCtx(t), "ip4", "flaky.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout {
		t.Errorf("after the stale window: %v, want a timeout DNSError", err)
	}
}

func TestResolverCoalesces(t *testing.T) {
	dns := testenv.StartDNS(t)
	gate := make(chan struct{})
	dns.Set("slow.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 60, Gate: gate})
	r := newResolver(t, dns, &httpx.ResolverOptions{MaxEntries: -1, Timeout: 20 * time.Second})

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			addrs, err := r.LookupNetIP(testCtx(t), "ip4", "slow.test")
			if err == nil && (len(addrs) != 1 || addrs[0] != addr1) {
				err = errors.New("wrong answer " + addrs[0].String())
			}
			errs <- err
		})
	}
	testenv.WaitFor(t, 10*time.Second, "the lookups to join one query", func() bool {
		return r.Stats().Coalesced == n-1
	})

	// A waiter can leave: its lookup returns at once, the query goes on.
	ctx, cancel := context.WithCancel(testCtx(t))
	left := make(chan error, 1)
	go func() {
		_, err := r.LookupNetIP(ctx, "ip4", "slow.test")
		left <- err
	}()
	testenv.WaitFor(t, 10*time.Second, "the leaving lookup to join", func() bool {
		return r.Stats().Coalesced == n
	})
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup: %v, want context.Canceled", err)
	}

	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if q := dns.Queries("slow.test"); q != 1 {
		t.Errorf("%d lookups sent %d queries, want 1", n+1, q)
	}
}

func TestResolverFailures(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.SetNegativeTTL(1)
	dns.Set("servfail.test", testenv.DNSRecord{RCode: dnsmessage.RCodeServerFailure})
	dns.Set("silent.test", testenv.DNSRecord{Drop: true})
	dns.Set("nodata.test", testenv.DNSRecord{Addrs: []netip.Addr{addr6}, TTL: 60})
	r := newResolver(t, dns, &httpx.ResolverOptions{
		MinTTL: -1, NegativeTTL: time.Minute, Timeout: 100 * time.Millisecond, Attempts: 2,
	})
	ctx := testCtx(t)

	// NXDOMAIN: not found, cached, for the SOA minimum (1s) rather than
	// NegativeTTL (1m).
	for range 3 {
		_, err := r.LookupNetIP(ctx, "ip4", "missing.test")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Fatalf("missing.test: %v, want a not-found DNSError", err)
		}
	}
	if q := dns.Queries("missing.test"); q != 1 {
		t.Errorf("3 lookups of a missing name sent %d queries, want 1", q)
	}
	if st := r.Stats(); st.NegativeHits != 2 {
		t.Errorf("NegativeHits = %d, want 2", st.NegativeHits)
	}
	testenv.WaitFor(t, 10*time.Second, "the SOA minimum TTL to expire", func() bool {
		r.LookupNetIP(ctx, "ip4", "missing.test")
		return dns.Queries("missing.test") == 2
	})

	// A name with AAAA only: an ip4 lookup finds no address.
	if _, err := r.LookupNetIP(ctx, "ip4", "nodata.test"); err == nil {
		t.Error("ip4 lookup of an IPv6-only name succeeded")
	}

	// SERVFAIL: an error that is not "not found", after every attempt.
	_, err := r.LookupNetIP(ctx, "ip4", "servfail.test")
	var de *net.DNSError
	if !errors.As(err, &de) || de.IsNotFound {
		t.Errorf("servfail.test: %v, want a DNSError that is not IsNotFound", err)
	}
	if q := dns.Queries("servfail.test"); q != 2 {
		t.Errorf("SERVFAIL: %d queries, want 2 (Attempts)", q)
	}

	// No answer: a timeout error after Attempts×Timeout, not a hang.
	_, err = r.LookupNetIP(ctx, "ip4", "silent.test")
	if !errors.As(err, &de) || !de.IsTimeout {
		t.Errorf("silent.test: %v, want a timeout DNSError", err)
	}
	if st := r.Stats(); st.Timeouts != 2 {
		t.Errorf("Timeouts = %d, want 2", st.Timeouts)
	}
}

func TestResolverTriesNextServer(t *testing.T) {
	dead := testenv.StartDNS(t)
	deadAddr := dead.Addr
	dead.Close() // its port now refuses
	live := testenv.StartDNS(t)
	live.Set("a.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 60})
	r := newResolver(t, live, &httpx.ResolverOptions{Servers: []string{deadAddr, live.Addr}, Attempts: 1})
	if got := lookup(t, r, "ip4", "a.test"); !slices.Equal(got, []netip.Addr{addr1}) {
		t.Errorf("got %v", got)
	}
	if st := r.Stats(); st.QueryErrors != 1 || st.Queries != 2 {
		t.Errorf("stats %+v, want one failed query to the dead server and one answered", st)
	}
}

func TestResolverEviction(t *testing.T) {
	dns := testenv.StartDNS(t)
	for _, n := range []string{"a.test", "b.test", "c.test"} {
		dns.Set(n, testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 60})
	}
	r := newResolver(t, dns, &httpx.ResolverOptions{MaxEntries: 2})
	for _, n := range []string{"a.test", "b.test", "c.test"} {
		lookup(t, r, "ip4", n)
	}
	if st := r.Stats(); st.Entries != 2 || st.Evictions != 1 {
		t.Errorf("stats %+v, want 2 entries after 1 eviction", st)
	}
	r.Flush()
	if st := r.Stats(); st.Entries != 0 {
		t.Errorf("%d entries after Flush", st.Entries)
	}
}

func TestResolverSystemConfiguration(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(conf, []byte("# no nameserver\nsearch example.internal\n"), 0o644)
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"), 0o644)
	r, err := httpx.NewResolver(&httpx.ResolverOptions{ResolvConf: conf, HostsFile: hosts})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// With no nameserver every name goes to the system resolver.
	addrs, err := r.LookupNetIP(testCtx(t), "ip4", "localhost")
	if err != nil || len(addrs) == 0 || !addrs[0].IsLoopback() {
		t.Fatalf("localhost: %v, %v", addrs, err)
	}
	if st := r.Stats(); st.Fallbacks != 1 {
		t.Errorf("Fallbacks = %d, want 1", st.Fallbacks)
	}

	servers, ndots, search := httpx.ParseResolvConf("nameserver 10.0.0.1\nnameserver ::1\nnameserver bogus\n" +
		"; comment\nsearch svc.cluster.local cluster.local\noptions ndots:5 timeout:1\n")
	if !slices.Equal(servers, []string{"10.0.0.1:53", "[::1]:53"}) || ndots != 5 || !search {
		t.Errorf("ParseResolvConf = %v, %d, %v", servers, ndots, search)
	}
}

func TestResolverOptionsAndClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts httpx.ResolverOptions
	}{
		{"bad server", httpx.ResolverOptions{Servers: []string{"dns.example"}}},
		{"server port 0", httpx.ResolverOptions{Servers: []string{"127.0.0.1:0"}}},
		{"negative timeout", httpx.ResolverOptions{Servers: []string{"127.0.0.1"}, Timeout: -1}},
		{"MaxTTL below MinTTL", httpx.ResolverOptions{Servers: []string{"127.0.0.1"}, MinTTL: time.Minute, MaxTTL: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := httpx.NewResolver(&tc.opts); err == nil {
				r.Close()
				t.Fatalf("NewResolver(%+v) accepted", tc.opts)
			}
		})
	}

	r, err := httpx.NewResolver(&httpx.ResolverOptions{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close() // idempotent
	if _, err := r.LookupNetIP(testCtx(t), "ip", "a.test"); !errors.Is(err, httpx.ErrResolverClosed) {
		t.Errorf("lookup after Close: %v, want ErrResolverClosed", err)
	}
}
