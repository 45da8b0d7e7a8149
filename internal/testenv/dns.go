package testenv

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSRecord is what a [DNSServer] answers for one name.
type DNSRecord struct {
	// Addrs are the name's addresses: IPv4 ones answer A queries, IPv6
	// ones AAAA queries.
	Addrs []netip.Addr
	// TTL is the TTL of every answer record, in seconds.
	TTL uint32
	// CNAME, if set, makes the name an alias: the answer is a CNAME record
	// to this name followed by the target's records.
	CNAME string
	// RCode, if not success, is returned instead of records
	// (dnsmessage.RCodeServerFailure, RCodeRefused, …).
	RCode dnsmessage.RCode
	// Drop makes the server ignore queries for the name, so clients time
	// out.
	Drop bool
	// Truncate answers UDP queries with the TC bit and no records, so
	// clients retry over TCP, which gets the full answer.
	Truncate bool
	// Gate, if set, holds every answer for the name until it is closed
	// (or the server closes), so a test can make lookups overlap.
	Gate <-chan struct{}
}

// DNSServer is an authoritative-style DNS server on 127.0.0.1, UDP and TCP
// on the same port, answering A and AAAA queries from a table the test
// controls. Names without a record get NXDOMAIN with an SOA whose minimum
// TTL is NegativeTTL. It is safe for concurrent use; the test's cleanup
// closes it and waits for its goroutines.
type DNSServer struct {
	// Addr is "127.0.0.1:port", the same for UDP and TCP.
	Addr string

	udp  *net.UDPConn
	tcp  *net.TCPListener
	wg   sync.WaitGroup
	done chan struct{} // closed by Close

	closeOnce sync.Once

	mu          sync.Mutex // protects the fields below
	records     map[string]DNSRecord
	queries     map[string]int
	negativeTTL uint32
	tcpConns    map[net.Conn]struct{}
}

// StartDNS starts a DNSServer; the test's cleanup stops it.
func StartDNS(t testing.TB) *DNSServer {
	t.Helper()
	s, err := NewDNSServer()
	if err != nil {
		t.Fatalf("testenv: start DNS server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewDNSServer starts a DNSServer that the caller must Close; for
// benchmarks and programs without a testing.TB at hand.
func NewDNSServer() (*DNSServer, error) {
	for attempt := 0; ; attempt++ {
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		port := tcp.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			tcp.Close()
			if attempt < 10 {
				continue
			}
			return nil, err
		}
		s := &DNSServer{
			Addr:        tcp.Addr().String(),
			udp:         udp,
			tcp:         tcp,
			records:     map[string]DNSRecord{},
			queries:     map[string]int{},
			negativeTTL: 30,
			tcpConns:    map[net.Conn]struct{}{},
			done:        make(chan struct{}),
		}
		s.wg.Go(s.serveUDP)
		s.wg.Go(s.serveTCP)
		return s, nil
	}
}

func fqdn(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

// Set makes name answer with r (replacing what it answered before).
func (s *DNSServer) Set(name string, r DNSRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[fqdn(name)] = r
}

// Delete removes name, which then gets NXDOMAIN.
func (s *DNSServer) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, fqdn(name))
}

// SetNegativeTTL sets the SOA minimum TTL of NXDOMAIN answers (default
// 30s).
func (s *DNSServer) SetNegativeTTL(ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.negativeTTL = ttl
}

// Queries returns how many queries (of any type, over UDP or TCP) the
// server received for name.
func (s *DNSServer) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[fqdn(name)]
}

// Close stops the server and waits for its goroutines. It is idempotent.
func (s *DNSServer) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	s.udp.Close()
	s.tcp.Close()
	s.mu.Lock()
	for c := range s.tcpConns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *DNSServer) serveUDP() {
	buf := make([]byte, 65535)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		resp, gate := s.answer(buf[:n], true)
		if resp == nil {
			continue
		}
		if gate == nil {
			s.udp.WriteToUDPAddrPort(resp, from)
			continue
		}
		s.wg.Go(func() {
			select {
			case <-gate:
				s.udp.WriteToUDPAddrPort(resp, from)
			case <-s.done:
			}
		})
	}
}

func (s *DNSServer) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.tcpConns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.tcpConns, c)
				s.mu.Unlock()
				c.Close()
			}()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				resp, gate := s.answer(msg, false)
				if resp == nil {
					continue
				}
				if gate != nil {
					select {
					case <-gate:
					case <-s.done:
						return
					}
				}
				out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
				if _, err := c.Write(append(out, resp...)); err != nil {
					return
				}
			}
		})
	}
}

// answer builds the response to msg, or nil to stay silent, and the gate
// to wait for before sending it.
func (s *DNSServer) answer(msg []byte, udp bool) ([]byte, <-chan struct{}) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return nil, nil
	}
	q, err := p.Question()
	if err != nil {
		return nil, nil
	}
	name := strings.ToLower(q.Name.String())

	s.mu.Lock()
	s.queries[name]++
	rec, ok := s.records[name]
	negTTL := s.negativeTTL
	// Resolve one level of CNAME from the table.
	var target DNSRecord
	var targetName string
	if ok && rec.CNAME != "" {
		targetName = fqdn(rec.CNAME)
		target = s.records[targetName]
	}
	s.mu.Unlock()

	if ok && rec.Drop {
		return nil, nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	switch {
	case !ok:
		rh.RCode = dnsmessage.RCodeNameError
	case rec.RCode != dnsmessage.RCodeSuccess:
		rh.RCode = rec.RCode
	case rec.Truncate && udp:
		rh.Truncated = true
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	if ok && rh.RCode == dnsmessage.RCodeSuccess && !rh.Truncated {
		addrs, ttl, owner := rec.Addrs, rec.TTL, q.Name
		if rec.CNAME != "" {
			tn := dnsmessage.MustNewName(targetName)
			b.CNAMEResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: rec.TTL},
				dnsmessage.CNAMEResource{CNAME: tn})
			addrs, ttl, owner = target.Addrs, target.TTL, tn
		}
		for _, a := range addrs {
			hdr := dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: ttl}
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
		}
	}
	if rh.RCode == dnsmessage.RCodeNameError || ok && rh.RCode == dnsmessage.RCodeSuccess && !rh.Truncated && countFamily(rec, q.Type) == 0 && rec.CNAME == "" {
		b.StartAuthorities()
		zone := dnsmessage.MustNewName("test.")
		b.SOAResource(dnsmessage.ResourceHeader{Name: zone, Class: dnsmessage.ClassINET, TTL: negTTL},
			dnsmessage.SOAResource{NS: dnsmessage.MustNewName("ns.test."), MBox: dnsmessage.MustNewName("hostmaster.test."),
				Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: negTTL})
	}
	resp, err := b.Finish()
	if err != nil {
		return nil, nil
	}
	return resp, rec.Gate
}

func countFamily(r DNSRecord, t dnsmessage.Type) int {
	n := 0
	for _, a := range r.Addrs {
		if t == dnsmessage.TypeA && a.Is4() || t == dnsmessage.TypeAAAA && a.Is6() {
			n++
		}
	}
	return n
}
