package bench

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// BenchmarkWanDNS resolves one name against a DNS server across the link
// at RTT 50 ms: httpx's Resolver with its cache (TTL 3600) against the
// same Resolver with caching off and net's pure-Go resolver, which both
// send a query per lookup. "RTTs" is the time per lookup in round trips.
func BenchmarkWanDNS(b *testing.B) {
	l := wanLink(b)
	const rtt = 50 * time.Millisecond
	wanShape(b, l, wanem.Symmetric(rtt, 0))
	server := wanDNSServer(b, l)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		lookup func(b *testing.B) func() ([]netip.Addr, error)
	}{
		{"cached", func(b *testing.B) func() ([]netip.Addr, error) {
			r := wanResolver(b, server, nil)
			r.LookupNetIP(ctx, "ip4", "api.internal") // fills the cache
			return func() ([]netip.Addr, error) { return r.LookupNetIP(ctx, "ip4", "api.internal") }
		}},
		{"uncached", func(b *testing.B) func() ([]netip.Addr, error) {
			r := wanResolver(b, server, &httpx.ResolverOptions{MaxEntries: -1})
			return func() ([]netip.Addr, error) { return r.LookupNetIP(ctx, "ip4", "api.internal") }
		}},
		{"net-resolver-go", func(b *testing.B) func() ([]netip.Addr, error) {
			r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "udp", server)
			}}
			return func() ([]netip.Addr, error) { return r.LookupNetIP(ctx, "ip4", "api.internal.") }
		}},
	} {
		b.Run("rtt=50ms/"+tc.name, func(b *testing.B) {
			f := tc.lookup(b)
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				addrs, err := f()
				if err != nil || len(addrs) != 1 {
					b.Fatal(addrs, err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(rtts(total/time.Duration(b.N), rtt), "RTTs")
		})
	}
}

func wanResolver(b *testing.B, server string, o *httpx.ResolverOptions) *httpx.Resolver {
	var opts httpx.ResolverOptions
	if o != nil {
		opts = *o
	}
	opts.Servers = []string{server}
	r, err := httpx.NewResolver(&opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// wanDNSServer starts testenv's DNS server inside side B (it listens on
// B's loopback) with a UDP relay on B's link address, and returns the
// relay's address. The relay matches answers to clients by message ID,
// enough for one lookup at a time per ID.
func wanDNSServer(tb testing.TB, l *wanem.Link) string {
	tb.Helper()
	var (
		dns       *testenv.DNSServer
		front, up net.PacketConn
	)
	if err := l.B.Do(func() (err error) {
		if dns, err = testenv.NewDNSServer(); err != nil {
			return err
		}
		if front, err = net.ListenPacket("udp", wanAddr(l)); err != nil {
			return err
		}
		up, err = net.ListenPacket("udp", "127.0.0.1:0")
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	dns.Set("api.internal", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.7")}, TTL: 3600})
	upstream, err := net.ResolveUDPAddr("udp", dns.Addr)
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu      sync.Mutex
		clients = map[uint16]net.Addr{}
		wg      sync.WaitGroup
	)
	buf := func() []byte { return make([]byte, 1500) }
	wg.Go(func() {
		b := buf()
		for {
			n, from, err := front.ReadFrom(b)
			if err != nil {
				return
			}
			if n < 2 {
				continue
			}
			mu.Lock()
			clients[binary.BigEndian.Uint16(b)] = from
			mu.Unlock()
			up.WriteTo(b[:n], upstream)
		}
	})
	wg.Go(func() {
		b := buf()
		for {
			n, _, err := up.ReadFrom(b)
			if err != nil {
				return
			}
			if n < 2 {
				continue
			}
			mu.Lock()
			to := clients[binary.BigEndian.Uint16(b)]
			mu.Unlock()
			if to != nil {
				front.WriteTo(b[:n], to)
			}
		}
	})
	tb.Cleanup(func() {
		front.Close()
		up.Close()
		wg.Wait()
		dns.Close()
	})
	return front.LocalAddr().String()
}
