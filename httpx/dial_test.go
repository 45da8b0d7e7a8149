package httpx_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

func TestInterleave(t *testing.T) {
	p := netip.MustParseAddr
	for _, tc := range []struct {
		name     string
		in, want []netip.Addr
	}{
		{"empty", nil, nil},
		{"one", []netip.Addr{p("::1")}, []netip.Addr{p("::1")}},
		{"IPv6 first", []netip.Addr{p("::1"), p("::2"), p("10.0.0.1"), p("10.0.0.2"), p("10.0.0.3")},
			[]netip.Addr{p("::1"), p("10.0.0.1"), p("::2"), p("10.0.0.2"), p("10.0.0.3")}},
		{"IPv4 first", []netip.Addr{p("10.0.0.1"), p("::1"), p("::2")},
			[]netip.Addr{p("10.0.0.1"), p("::1"), p("::2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpx.Interleave(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("Interleave(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// echoListener accepts on 127.0.0.1 and closes each connection; the
// test's cleanup stops it.
func echoListener(t *testing.T) (port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().(*net.TCPAddr).Port
}

// TestDialerFallsBackToIPv4 resolves a name to ::1 and 127.0.0.1 while
// only 127.0.0.1 listens: the IPv6 attempt is refused and IPv4 connects.
func TestDialerFallsBackToIPv4(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("dual.test", testenv.DNSRecord{Addrs: []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}, TTL: 60})
	port := echoListener(t)
	d := &httpx.Dialer{Resolver: newResolver(t, dns, nil)}
	c, err := d.DialContext(testCtx(t), "tcp", net.JoinHostPort("dual.test", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.1" {
		t.Errorf("connected to %s, want 127.0.0.1", got)
	}
	if _, err := d.DialContext(testCtx(t), "tcp", net.JoinHostPort("missing.test", "1")); err == nil {
		t.Error("dial to a missing name succeeded")
	}
}

// attemptLog records the addresses a Dialer tries, in order.
type attemptLog struct {
	mu    sync.Mutex
	addrs []string
}

func (l *attemptLog) add(a string) {
	l.mu.Lock()
	l.addrs = append(l.addrs, a)
	l.mu.Unlock()
}

func (l *attemptLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.addrs)
}

func TestDialerOrderAndFailure(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("many.test", testenv.DNSRecord{TTL: 60, Addrs: []netip.Addr{
		netip.MustParseAddr("::a"), netip.MustParseAddr("::b"),
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
	}})
	d := &httpx.Dialer{Resolver: newResolver(t, dns, nil)}
	var log attemptLog
	refused := errors.New("refused")
	httpx.SetDialAddr(d, func(ctx context.Context, network, addr string) (net.Conn, error) {
		log.add(addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: refused}
	})
	_, err := d.DialContext(testCtx(t), "tcp", "many.test:80")
	if !errors.Is(err, refused) {
		t.Errorf("error %v, want the attempts' error", err)
	}
	// Every failure starts the next attempt at once, alternating families.
	want := []string{"[::a]:80", "10.0.0.1:80", "[::b]:80", "10.0.0.2:80"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("attempts %v, want %v", got, want)
	}
}

// TestDialerStaggers makes the first address hang: after FallbackDelay the
// second is tried, wins, and the hanging attempt is cancelled and joined.
func TestDialerStaggers(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("hang.test", testenv.DNSRecord{TTL: 60, Addrs: []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}})
	port := echoListener(t)
	d := &httpx.Dialer{Resolver: newResolver(t, dns, nil), FallbackDelay: 20 * time.Millisecond}
	hung := make(chan error, 1)
	var log attemptLog
	httpx.SetDialAddr(d, func(ctx context.Context, network, addr string) (net.Conn, error) {
		log.add(addr)
		if addr[0] == '[' { // the IPv6 attempt never connects
			<-ctx.Done()
			hung <- ctx.Err()
			return nil, ctx.Err()
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	})
	c, err := d.DialContext(testCtx(t), "tcp", net.JoinHostPort("hang.test", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// DialContext returned only after the losing attempt ended.
	select {
	case err := <-hung:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("hanging attempt ended with %v, want context.Canceled", err)
		}
	default:
		t.Error("DialContext returned before the hanging attempt was joined")
	}
	if got := log.get(); len(got) != 2 || got[0] != "[::1]:"+strconv.Itoa(port) {
		t.Errorf("attempts %v, want IPv6 then IPv4", got)
	}

	// With every attempt hanging, the Dialer's Timeout ends the dial.
	d2 := &httpx.Dialer{Resolver: d.Resolver, FallbackDelay: time.Millisecond, Timeout: 100 * time.Millisecond}
	httpx.SetDialAddr(d2, func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if _, err := d2.DialContext(testCtx(t), "tcp", "hang.test:1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("all attempts hanging: %v, want context.DeadlineExceeded", err)
	}
}
