// The DNS client of Resolver: which names go to DNS, and one query to
// the configured servers over UDP, then TCP when the answer is truncated.

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
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

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
