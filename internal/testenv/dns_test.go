package testenv_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/wirespeed/wirespeed/internal/testenv"
)

// TestDNSServer checks the test DNS server against the standard library's
// own DNS client.
func TestDNSServer(t *testing.T) {
	s := testenv.StartDNS(t)
	s.Set("api.test", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::2")}, TTL: 60})
	s.Set("alias.test", testenv.DNSRecord{CNAME: "api.test", TTL: 30})
	s.Set("big.test", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.3")}, Truncate: true})
	s.Set("broken.test", testenv.DNSRecord{RCode: dnsmessage.RCodeServerFailure})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name, network string
		want          []string
	}{
		{"api.test", "ip4", []string{"127.0.0.2"}},
		{"api.test", "ip6", []string{"::2"}},
		{"alias.test", "ip4", []string{"127.0.0.2"}},
		{"big.test", "ip4", []string{"127.0.0.3"}},
	} {
		addrs, err := r.LookupNetIP(ctx, tc.network, tc.name)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.network, tc.name, err)
		}
		var got []string
		for _, a := range addrs {
			got = append(got, a.Unmap().String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s = %v, want %v", tc.network, tc.name, got, tc.want)
		}
	}
	if _, err := r.LookupNetIP(ctx, "ip4", "missing.test"); err == nil {
		t.Error("missing.test resolved")
	} else if de, ok := err.(*net.DNSError); !ok || !de.IsNotFound {
		t.Errorf("missing.test: %v, want a not-found DNSError", err)
	}
	if _, err := r.LookupNetIP(ctx, "ip4", "broken.test"); err == nil {
		t.Error("broken.test resolved")
	}
	if n := s.Queries("api.test"); n < 2 {
		t.Errorf("Queries(api.test) = %d", n)
	}
}
