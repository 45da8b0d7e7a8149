// DNS messages: building a query and reading an untrusted answer.

package httpx

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

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
