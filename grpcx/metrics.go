package grpcx

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// DefaultLatencyBuckets are the upper bounds of the latency histograms when
// Options leave LatencyBuckets empty.
var DefaultLatencyBuckets = []time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second,
}

// Histogram is a snapshot of a latency histogram.
type Histogram struct {
	// Bounds are the buckets' inclusive upper bounds, ascending.
	Bounds []time.Duration
	// Counts has len(Bounds)+1 entries: Counts[i] RPCs took at most
	// Bounds[i] (and more than Bounds[i-1]); the last counts the rest.
	Counts []uint64
	// Count is the number of RPCs, Sum their total latency.
	Count uint64
	Sum   time.Duration
}

// Quantile returns the upper bound of the bucket holding the q-th quantile
// (0 < q ≤ 1), or the largest bound when it falls past the last; 0 when the
// histogram is empty.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 || len(h.Bounds) == 0 {
		return 0
	}
	rank := uint64(q * float64(h.Count))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i < len(h.Bounds) {
				return h.Bounds[i]
			}
			break
		}
	}
	return h.Bounds[len(h.Bounds)-1]
}

// MethodStats describes the finished RPCs of one method.
type MethodStats struct {
	// Method is the full method name, "/package.Service/Method".
	Method string
	// RPCs counts finished RPCs; Errors those whose code was not OK.
	RPCs, Errors uint64
	// Latency is the histogram of their durations.
	Latency Histogram
	// Streams counts streaming RPCs. MessagesSent and MessagesReceived
	// count their messages, so MessagesSent/Streams is the mean per stream.
	Streams                        uint64
	MessagesSent, MessagesReceived uint64
}

// RPCCount is the number of finished RPCs for one method, status code and
// peer.
type RPCCount struct {
	Method string
	Code   codes.Code
	// Peer is the client's IP address on a server ("other" once
	// ServerOptions.MaxPeers addresses have been seen, "local" for
	// non-IP transports); empty on a client.
	Peer  string
	Count uint64
}

// OtherPeer labels the RPCs of peers past ServerOptions.MaxPeers.
const OtherPeer = "other"

type rpcKey struct {
	method string
	code   codes.Code
	peer   netip.Addr
}

type methodMetrics struct {
	rpcs, errs, streams, sent, recv atomic.Uint64
	sum                             atomic.Int64
	buckets                         []atomic.Uint64
}

// registry holds the counters behind Stats. The hot path is a sync.Map
// load and a few atomic adds; nothing allocates once a key has been seen.
type registry struct {
	bounds   []time.Duration
	methods  sync.Map // string → *methodMetrics
	rpcs     sync.Map // rpcKey → *atomic.Uint64
	peers    sync.Map // netip.Addr → struct{}
	npeers   atomic.Int64
	maxPeers int64
}

func newRegistry(bounds []time.Duration, maxPeers int) *registry {
	if len(bounds) == 0 {
		bounds = DefaultLatencyBuckets
	}
	return &registry{bounds: slices.Clone(bounds), maxPeers: int64(maxPeers)}
}

var (
	otherAddr = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	localAddr = netip.IPv6Unspecified()
)

// peerKey maps a peer address to its label key, bounded by maxPeers.
func (r *registry) peerKey(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
	default:
		return localAddr
	}
	if !ip.IsValid() {
		return localAddr
	}
	if _, ok := r.peers.Load(ip); ok {
		return ip
	}
	if r.npeers.Add(1) > r.maxPeers {
		r.npeers.Add(-1)
		return otherAddr
	}
	if _, loaded := r.peers.LoadOrStore(ip, struct{}{}); loaded {
		r.npeers.Add(-1)
	}
	return ip
}

func (r *registry) method(name string) *methodMetrics {
	if m, ok := r.methods.Load(name); ok {
		return m.(*methodMetrics)
	}
	m, _ := r.methods.LoadOrStore(name, &methodMetrics{buckets: make([]atomic.Uint64, len(r.bounds)+1)})
	return m.(*methodMetrics)
}

// observe records one finished RPC.
func (r *registry) observe(mm *methodMetrics, key rpcKey, d time.Duration, stream bool, sent, recv uint64) {
	mm.rpcs.Add(1)
	if key.code != codes.OK {
		mm.errs.Add(1)
	}
	mm.sum.Add(int64(d))
	i := 0
	for i < len(r.bounds) && d > r.bounds[i] {
		i++
	}
	mm.buckets[i].Add(1)
	if stream {
		mm.streams.Add(1)
		mm.sent.Add(sent)
		mm.recv.Add(recv)
	}
	c, ok := r.rpcs.Load(key)
	if !ok {
		c, _ = r.rpcs.LoadOrStore(key, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

func (r *registry) snapshot() ([]MethodStats, []RPCCount) {
	var ms []MethodStats
	r.methods.Range(func(k, v any) bool {
		m := v.(*methodMetrics)
		h := Histogram{Bounds: slices.Clone(r.bounds), Counts: make([]uint64, len(m.buckets)), Sum: time.Duration(m.sum.Load())}
		for i := range m.buckets {
			h.Counts[i] = m.buckets[i].Load()
			h.Count += h.Counts[i]
		}
		ms = append(ms, MethodStats{
			Method: k.(string), RPCs: m.rpcs.Load(), Errors: m.errs.Load(), Latency: h,
			Streams: m.streams.Load(), MessagesSent: m.sent.Load(), MessagesReceived: m.recv.Load(),
		})
		return true
	})
	slices.SortFunc(ms, func(a, b MethodStats) int { return cmp.Compare(a.Method, b.Method) })
	var rc []RPCCount
	r.rpcs.Range(func(k, v any) bool {
		key := k.(rpcKey)
		var p string
		switch key.peer {
		case netip.Addr{}:
		case otherAddr:
			p = OtherPeer
		case localAddr:
			p = "local"
		default:
			p = key.peer.String()
		}
		rc = append(rc, RPCCount{Method: key.method, Code: key.code, Peer: p, Count: v.(*atomic.Uint64).Load()})
		return true
	})
	slices.SortFunc(rc, func(a, b RPCCount) int {
		return cmp.Or(cmp.Compare(a.Method, b.Method), cmp.Compare(a.Code, b.Code), cmp.Compare(a.Peer, b.Peer))
	})
	return ms, rc
}
