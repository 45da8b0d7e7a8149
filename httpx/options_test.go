package httpx_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// Every numeric option without a meaning for negative values is rejected
// by its constructor with an error naming the field and the value.
func TestOptionsNegativeIsAnErrorNamingTheField(t *testing.T) {
	transport := func(o *httpx.Options) error {
		tr, err := httpx.NewTransport(o)
		if err == nil {
			tr.Close()
		}
		return err
	}
	h3 := func(o *httpx.HTTP3Options) error { return transport(&httpx.Options{HTTP3: o}) }
	server := func(o *httpx.ServerOptions) error {
		srv, err := httpx.NewServer(hello, o)
		if err == nil {
			srv.Close()
		}
		return err
	}
	resolver := func(o *httpx.ResolverOptions) error {
		o.Servers = []string{"127.0.0.1:1"}
		r, err := httpx.NewResolver(o)
		if err == nil {
			r.Close()
		}
		return err
	}
	for _, tc := range []struct {
		want string
		make func() error
	}{
		{"httpx: Options.DialTimeout is negative (-1ns); a dial needs a bound", func() error { return transport(&httpx.Options{DialTimeout: -1}) }},
		{"httpx: Options.MaxIdleConnsPerHost is negative (-1)", func() error { return transport(&httpx.Options{MaxIdleConnsPerHost: -1}) }},
		{"httpx: Options.MaxIdleConns is negative (-2)", func() error { return transport(&httpx.Options{MaxIdleConns: -2}) }},
		{"httpx: Options.MaxConnsPerHost is negative (-3)", func() error { return transport(&httpx.Options{MaxConnsPerHost: -3}) }},
		{"httpx: Options.IdleConnTimeout is negative (-1s)", func() error { return transport(&httpx.Options{IdleConnTimeout: -time.Second}) }},

		{"httpx: HTTP3Options.HandshakeTimeout is negative (-1s)", func() error { return h3(&httpx.HTTP3Options{HandshakeTimeout: -time.Second}) }},
		{"httpx: HTTP3Options.IdleTimeout is negative (-1s)", func() error { return h3(&httpx.HTTP3Options{IdleTimeout: -time.Second}) }},
		{"httpx: HTTP3Options.BrokenBackoff is negative (-1s)", func() error { return h3(&httpx.HTTP3Options{BrokenBackoff: -time.Second}) }},
		{"httpx: HTTP3Options.MaxBrokenBackoff is negative (-1s)", func() error { return h3(&httpx.HTTP3Options{MaxBrokenBackoff: -time.Second}) }},
		{"httpx: HTTP3Options.MaxOrigins is negative (-1)", func() error { return h3(&httpx.HTTP3Options{MaxOrigins: -1}) }},

		{"httpx: ServerOptions.AltSvcMaxAge is negative (-1s)", func() error { return server(&httpx.ServerOptions{AltSvcMaxAge: -time.Second}) }},
		{"httpx: ServerOptions.AltSvcPort is negative (-443)", func() error { return server(&httpx.ServerOptions{AltSvcPort: -443}) }},
		{"httpx: ServerOptions.ReadTimeout is negative (-1s)", func() error { return server(&httpx.ServerOptions{ReadTimeout: -time.Second}) }},
		{"httpx: ServerOptions.WriteTimeout is negative (-1s)", func() error { return server(&httpx.ServerOptions{WriteTimeout: -time.Second}) }},
		{"httpx: ServerOptions.IdleTimeout is negative (-1s)", func() error { return server(&httpx.ServerOptions{IdleTimeout: -time.Second}) }},
		{"httpx: ServerOptions.MaxHeaderBytes is negative (-1)", func() error { return server(&httpx.ServerOptions{MaxHeaderBytes: -1}) }},
		{"httpx: ServerOptions.MaxConnAge is negative (-1s)", func() error { return server(&httpx.ServerOptions{MaxConnAge: -time.Second}) }},
		{"httpx: ServerOptions.DrainDelay is negative (-1s)", func() error { return server(&httpx.ServerOptions{DrainDelay: -time.Second}) }},
		{"httpx: ServerOptions.DrainTimeout is negative (-1s)", func() error { return server(&httpx.ServerOptions{DrainTimeout: -time.Second}) }},

		{"httpx: ResolverOptions.Timeout is negative (-1s)", func() error { return resolver(&httpx.ResolverOptions{Timeout: -time.Second}) }},
		{"httpx: ResolverOptions.Attempts is negative (-1)", func() error { return resolver(&httpx.ResolverOptions{Attempts: -1}) }},
		{"httpx: ResolverOptions.MaxTTL is negative (-1s)", func() error { return resolver(&httpx.ResolverOptions{MaxTTL: -time.Second}) }},
		{"httpx: ResolverOptions.FallbackTTL is negative (-1s)", func() error { return resolver(&httpx.ResolverOptions{FallbackTTL: -time.Second}) }},
	} {
		t.Run(tc.want, func(t *testing.T) {
			err := tc.make()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

// The options whose comments give negative values a meaning switch the
// thing off: net/http's zero, no delay, no keep-alive probes.
func TestOptionsNegativeDisables(t *testing.T) {
	tr, err := httpx.NewTransport(&httpx.Options{
		KeepAlive:             -1,
		FallbackDelay:         -1,
		TLSHandshakeTimeout:   -1,
		ResponseHeaderTimeout: -1,
		ExpectContinueTimeout: -1,
		HTTP3:                 &httpx.HTTP3Options{RaceDelay: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ht := httpx.HTTPTransport(tr)
	if ht.TLSHandshakeTimeout != 0 || ht.ResponseHeaderTimeout != 0 || ht.ExpectContinueTimeout != 0 {
		t.Errorf("negative timeouts reached net/http as TLSHandshakeTimeout %v, ResponseHeaderTimeout %v, ExpectContinueTimeout %v; want 0 (none)",
			ht.TLSHandshakeTimeout, ht.ResponseHeaderTimeout, ht.ExpectContinueTimeout)
	}
	if _, ka, fb := httpx.DialerDelays(httpx.TransportDialer(tr)); ka >= 0 || fb != 0 {
		t.Errorf("Transport dialer keep-alive %v, fallback delay %v; want negative (no probes) and 0 (all at once)", ka, fb)
	}
	if rd := httpx.EffectiveOptions(tr).HTTP3.RaceDelay; rd != 0 {
		t.Errorf("HTTP3Options.RaceDelay -1 became %v, want 0 (TCP starts with QUIC)", rd)
	}

	for _, tc := range []struct {
		name                         string
		d                            httpx.Dialer
		timeout, keepAlive, fallback time.Duration
	}{
		{name: "zero: defaults", timeout: 30 * time.Second, keepAlive: 30 * time.Second, fallback: 250 * time.Millisecond},
		{name: "negative: off", d: httpx.Dialer{Timeout: -1, KeepAlive: -1, FallbackDelay: -1}, timeout: 0, keepAlive: -1, fallback: 0},
	} {
		timeout, ka, fb := httpx.DialerDelays(&tc.d)
		if timeout != tc.timeout || ka != tc.keepAlive || fb != tc.fallback {
			t.Errorf("Dialer %s: timeout %v, keep-alive %v, fallback %v; want %v, %v, %v", tc.name, timeout, ka, fb, tc.timeout, tc.keepAlive, tc.fallback)
		}
	}

	srv, err := httpx.NewServer(hello, &httpx.ServerOptions{ReadHeaderTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if rht := httpx.HTTPServer(srv).ReadHeaderTimeout; rht != 0 {
		t.Errorf("ServerOptions.ReadHeaderTimeout -1 became %v, want 0 (none)", rht)
	}
}

// The Resolver's negative TTL floor, negative caching, stale window and
// cache size switch each of them off.
func TestResolverOptionsNegativeDisables(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("zero.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 0})
	dns.Set("day.test", testenv.DNSRecord{Addrs: []netip.Addr{addr1}, TTL: 86400})
	dns.SetNegativeTTL(3600)

	t.Run("MinTTL and StaleFor", func(t *testing.T) {
		// No floor and no stale window: a TTL-0 answer is never reused.
		r := newResolver(t, dns, &httpx.ResolverOptions{MinTTL: -1, StaleFor: -1})
		for range 3 {
			lookup(t, r, "ip4", "zero.test")
		}
		if n := dns.Queries("zero.test"); n != 3 {
			t.Errorf("3 lookups of a TTL-0 name sent %d queries, want 3", n)
		}
		if st := r.Stats(); st.CacheHits != 0 || st.StaleHits != 0 {
			t.Errorf("stats %+v, want no cache or stale hits", st)
		}
	})
	t.Run("NegativeTTL", func(t *testing.T) {
		r := newResolver(t, dns, &httpx.ResolverOptions{NegativeTTL: -1})
		for range 3 {
			if _, err := r.LookupNetIP(testCtx(t), "ip4", "missing.test"); err == nil {
				t.Fatal("missing.test resolved")
			}
		}
		if n := dns.Queries("missing.test"); n != 3 {
			t.Errorf("3 lookups of a missing name sent %d queries, want 3 (failures not cached)", n)
		}
	})
	t.Run("MaxEntries", func(t *testing.T) {
		r := newResolver(t, dns, &httpx.ResolverOptions{MaxEntries: -1})
		for range 3 {
			lookup(t, r, "ip4", "day.test")
		}
		if st := r.Stats(); st.Entries != 0 || st.CacheHits != 0 {
			t.Errorf("stats %+v, want nothing cached", st)
		}
		if n := dns.Queries("day.test"); n != 3 {
			t.Errorf("3 lookups sent %d queries, want 3 (nothing cached)", n)
		}
	})
}
