package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"time"
)

// Dialer connects to "host:port" addresses through a Resolver, racing the
// host's addresses as RFC 8305 (Happy Eyeballs v2) describes: IPv6 and IPv4
// addresses interleaved, the first tried at once, each next one when the
// previous attempt fails or after FallbackDelay, the first to connect
// winning and the rest cancelled.
//
// The zero Dialer is valid. A Dialer is safe for concurrent use if its
// fields are not changed after first use. DialContext waits for every
// attempt it started, so it leaves no goroutine behind.
type Dialer struct {
	// Resolver looks up host names. Nil means net.DefaultResolver, which
	// does not cache.
	Resolver *Resolver
	// Timeout bounds a whole dial: lookup and every attempt. Defaults to
	// 30s; negative means no timeout (the context still applies).
	Timeout time.Duration
	// KeepAlive is the TCP keep-alive period of the connections. Defaults
	// to 30s, so a peer that vanished is noticed within minutes; negative
	// disables keep-alive probes.
	KeepAlive time.Duration
	// FallbackDelay is how long an attempt runs before the next address
	// is tried in parallel. Defaults to 250ms, RFC 8305's recommended
	// Connection Attempt Delay; negative disables the stagger, so every
	// address is tried at once.
	FallbackDelay time.Duration

	// dialAddr connects to one address; nil means a net.Dialer. Tests
	// replace it.
	dialAddr func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DialContext connects to address ("host:port") on network "tcp", "tcp4"
// or "tcp6". Other networks are passed to a net.Dialer unchanged.
//
// Cancelling ctx aborts the lookup and every attempt and returns ctx's
// error. On failure the error is the first attempt's.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.dial(ctx, network, address, nil)
}

// dialObserver is told what a dial did, for statistics.
type dialObserver interface {
	lookedUp(hit bool)
}

func (d *Dialer) timeout() time.Duration {
	switch {
	case d.Timeout == 0:
		return 30 * time.Second
	case d.Timeout < 0:
		return 0
	}
	return d.Timeout
}

func (d *Dialer) fallbackDelay() time.Duration {
	switch {
	case d.FallbackDelay == 0:
		return 250 * time.Millisecond
	case d.FallbackDelay < 0:
		return 0
	}
	return d.FallbackDelay
}

func (d *Dialer) netDialer() *net.Dialer {
	ka := d.KeepAlive
	if ka == 0 {
		ka = 30 * time.Second
	}
	return &net.Dialer{KeepAlive: ka}
}

func (d *Dialer) dial(ctx context.Context, network, address string, obs dialObserver) (net.Conn, error) {
	var family string
	switch network {
	case "tcp":
		family = "ip"
	case "tcp4":
		family = "ip4"
	case "tcp6":
		family = "ip6"
	default:
		return d.netDialer().DialContext(ctx, network, address)
	}
	if t := d.timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	portNum, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		if p, lerr := net.DefaultResolver.LookupPort(ctx, network, port); lerr == nil {
			portNum = uint64(p)
		} else {
			return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("bad port %q", port)}
		}
	}

	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		trace := httptrace.ContextClientTrace(ctx)
		if trace != nil && trace.DNSStart != nil {
			trace.DNSStart(httptrace.DNSStartInfo{Host: host})
		}
		var hit bool
		if d.Resolver != nil {
			addrs, hit, err = d.Resolver.lookup(ctx, family, host)
		} else {
			addrs, err = net.DefaultResolver.LookupNetIP(ctx, family, host)
		}
		if trace != nil && trace.DNSDone != nil {
			info := httptrace.DNSDoneInfo{Err: err}
			for _, a := range addrs {
				info.Addrs = append(info.Addrs, net.IPAddr{IP: a.AsSlice(), Zone: a.Zone()})
			}
			trace.DNSDone(info)
		}
		if obs != nil {
			obs.lookedUp(hit)
		}
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	}
	targets := interleave(addrs)
	if len(targets) == 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}}
	}
	return d.race(ctx, network, targets, uint16(portNum))
}

// interleave orders addresses as RFC 8305 section 4 asks: alternate the
// families, starting with the family of the first address, keeping each
// family's order.
func interleave(addrs []netip.Addr) []netip.Addr {
	if len(addrs) < 2 {
		return addrs
	}
	firstIs6 := addrs[0].Unmap().Is6()
	var same, other []netip.Addr
	for _, a := range addrs {
		if a.Unmap().Is6() == firstIs6 {
			same = append(same, a)
		} else {
			other = append(other, a)
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for i := 0; i < len(same) || i < len(other); i++ {
		if i < len(same) {
			out = append(out, same[i])
		}
		if i < len(other) {
			out = append(out, other[i])
		}
	}
	return out
}

type attemptResult struct {
	conn net.Conn
	err  error
}

// race runs the staggered attempts and returns the first connection.
func (d *Dialer) race(ctx context.Context, network string, targets []netip.Addr, port uint16) (net.Conn, error) {
	dialAddr := d.dialAddr
	if dialAddr == nil {
		dialAddr = d.netDialer().DialContext
	}
	if len(targets) == 1 {
		return dialAddr(ctx, network, netip.AddrPortFrom(targets[0], port).String())
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan attemptResult, len(targets))
	started, finished := 0, 0
	start := func() {
		addr := netip.AddrPortFrom(targets[started], port).String()
		started++
		go func() {
			c, err := dialAddr(actx, network, addr)
			results <- attemptResult{c, err}
		}()
	}
	// drain waits for the attempts still running, closing any connection
	// that lost the race.
	drain := func() {
		cancel()
		for finished < started {
			if r := <-results; r.conn != nil {
				r.conn.Close()
			}
			finished++
		}
	}

	delay := d.fallbackDelay()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	start()
	var firstErr error
	for {
		select {
		case r := <-results:
			finished++
			if r.err == nil {
				drain()
				return r.conn, nil
			}
			if firstErr == nil {
				firstErr = r.err
			}
			if started < len(targets) {
				start()
				timer.Reset(delay)
			} else if finished == started {
				return nil, firstErr
			}
		case <-timer.C:
			if started < len(targets) {
				start()
				timer.Reset(delay)
			}
		case <-ctx.Done():
			drain()
			if firstErr == nil || errors.Is(ctx.Err(), context.Canceled) {
				return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
			}
			return nil, firstErr
		}
	}
}
