package httpx_test

import (
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/wirespeed/wirespeed/httpx"
)

// dnsReply builds a response to a query for name with the given answers.
func dnsReply(t testing.TB, id uint16, name string, qtype dnsmessage.Type, rcode dnsmessage.RCode, build func(b *dnsmessage.Builder)) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RCode: rcode})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET})
	b.StartAnswers()
	if build != nil {
		build(&b)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func hdr(name string, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Class: dnsmessage.ClassINET, TTL: ttl}
}

func TestParseDNSResponse(t *testing.T) {
	a := func(b *dnsmessage.Builder) {
		b.CNAMEResource(hdr("www.test.", 300), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("edge.test.")})
		b.AResource(hdr("EDGE.test.", 60), dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}})
		b.AResource(hdr("other.test.", 1), dnsmessage.AResource{A: [4]byte{10, 0, 0, 9}}) // not on the chain
	}
	addrs, ttl, _, err := httpx.ParseDNSResponse(dnsReply(t, 7, "www.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, a), 7, "www.test.", uint16(dnsmessage.TypeA))
	if err != nil || len(addrs) != 1 || addrs[0].String() != "10.0.0.1" || ttl != 60*time.Second {
		t.Errorf("CNAME chain: %v, %v, %v; want [10.0.0.1], 60s", addrs, ttl, err)
	}
	// Wrong ID or question: not our answer.
	if _, _, _, err := httpx.ParseDNSResponse(dnsReply(t, 8, "www.test.", dnsmessage.TypeA, 0, a), 7, "www.test.", uint16(dnsmessage.TypeA)); err == nil {
		t.Error("accepted an answer with another ID")
	}
	if _, _, _, err := httpx.ParseDNSResponse(dnsReply(t, 7, "evil.test.", dnsmessage.TypeA, 0, a), 7, "www.test.", uint16(dnsmessage.TypeA)); err == nil {
		t.Error("accepted an answer to another question")
	}
	// A CNAME loop ends.
	loop := func(b *dnsmessage.Builder) {
		b.CNAMEResource(hdr("a.test.", 60), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("b.test.")})
		b.CNAMEResource(hdr("b.test.", 60), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("a.test.")})
	}
	if addrs, _, _, err := httpx.ParseDNSResponse(dnsReply(t, 1, "a.test.", dnsmessage.TypeA, 0, loop), 1, "a.test.", uint16(dnsmessage.TypeA)); err != nil || len(addrs) != 0 {
		t.Errorf("CNAME loop: %v, %v", addrs, err)
	}
	if _, _, _, err := httpx.ParseDNSResponse([]byte{1, 2, 3}, 1, "a.test.", 1); err == nil {
		t.Error("accepted 3 bytes")
	}
}

// FuzzDNSResponse feeds arbitrary messages to the parser of DNS answers,
// which reads what any host on the path can send.
func FuzzDNSResponse(f *testing.F) {
	f.Add(dnsReply(f, 1, "a.test.", dnsmessage.TypeA, 0, func(b *dnsmessage.Builder) {
		b.AResource(hdr("a.test.", 60), dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
	}), uint16(1))
	f.Add(dnsReply(f, 1, "a.test.", dnsmessage.TypeAAAA, 0, func(b *dnsmessage.Builder) {
		b.CNAMEResource(hdr("a.test.", 60), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("b.test.")})
		b.AAAAResource(hdr("b.test.", 5), dnsmessage.AAAAResource{AAAA: [16]byte{15: 1}})
	}), uint16(28))
	f.Add(dnsReply(f, 1, "a.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, func(b *dnsmessage.Builder) {
		b.StartAuthorities()
		b.SOAResource(hdr("test.", 30), dnsmessage.SOAResource{NS: dnsmessage.MustNewName("ns.test."), MBox: dnsmessage.MustNewName("h.test."), MinTTL: 10})
	}), uint16(1))
	f.Fuzz(func(t *testing.T, msg []byte, qtype uint16) {
		t.Parallel()
		for _, qt := range []uint16{1, 28, qtype} {
			addrs, ttl, _, err := httpx.ParseDNSResponse(msg, 1, "a.test.", qt)
			if err != nil {
				continue
			}
			if ttl < 0 || ttl > time.Duration(1<<32)*time.Second {
				t.Fatalf("TTL %v", ttl)
			}
			for _, a := range addrs {
				if qt == 1 && !a.Is4() || qt == 28 && !a.Is6() || qt != 1 && qt != 28 {
					t.Fatalf("query type %d returned %v", qt, a)
				}
			}
		}
	})
}
