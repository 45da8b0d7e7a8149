package wanem

import (
	"container/heap"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Counters are one direction's packet counts since the link started.
type Counters struct {
	// Packets and Bytes are what entered the direction.
	Packets, Bytes int64
	// Forwarded and ForwardedBytes are what left it.
	Forwarded, ForwardedBytes int64
	// Lost were dropped by Shape.Loss, BurstLost by Shape.Burst,
	// QueueDrops by the bandwidth cap's full queue, Filtered by
	// Shape.BlockUDP, WriteErrors could not be written to the far side.
	Lost, BurstLost, QueueDrops, Filtered, WriteErrors int64
}

// Dropped is the total of every drop reason.
func (c Counters) Dropped() int64 {
	return c.Lost + c.BurstLost + c.QueueDrops + c.Filtered + c.WriteErrors
}

type counters struct {
	packets, bytes, forwarded, fwdBytes         atomic.Int64
	lost, burstLost, queueDrops, filtered, wErr atomic.Int64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(),
		Forwarded: c.forwarded.Load(), ForwardedBytes: c.fwdBytes.Load(),
		Lost: c.lost.Load(), BurstLost: c.burstLost.Load(), QueueDrops: c.queueDrops.Load(),
		Filtered: c.filtered.Load(), WriteErrors: c.wErr.Load(),
	}
}

type packet struct {
	at  time.Time
	seq uint64
	buf []byte
}

type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// pipe moves packets from src to dst, shaped. A reader goroutine applies
// the drop rules and stamps each packet with its departure time; a writer
// goroutine writes packets when they are due. Both end when src returns an
// error (its file is closed) and stop is closed.
type pipe struct {
	src io.Reader
	dst io.Writer
	mtu int

	shape atomic.Pointer[Shape]
	c     counters
	// comp is subtracted from every non-zero Delay: the emulator's own
	// forwarding latency, measured by calibrate, so that the round trip
	// an application measures matches the setting.
	comp atomic.Int64

	// Reader goroutine only.
	rng         *rand.Rand
	bad         bool         // Gilbert–Elliott state
	txFree      time.Time    // when the bandwidth cap has sent everything queued
	lastDeliver [2]time.Time // per class: [1] for UDP, [0] for the rest
	seq         uint64

	mu   sync.Mutex
	q    packetHeap
	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
	pool sync.Pool
}

func newPipe(src io.Reader, dst io.Writer, mtu int, seed uint64, s Shape) *pipe {
	p := &pipe{
		src: src, dst: dst, mtu: mtu,
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}
	p.pool.New = func() any { b := make([]byte, mtu+64); return &b }
	p.shape.Store(&s)
	return p
}

func (p *pipe) start() {
	p.wg.Add(2)
	go p.readLoop()
	go p.writeLoop()
}

// close stops the writer; the reader stops when src fails (the caller
// closes it). It waits for both.
func (p *pipe) close() {
	close(p.stop)
	p.wg.Wait()
}

func (p *pipe) readLoop() {
	defer p.wg.Done()
	for {
		bp := p.pool.Get().(*[]byte)
		n, err := p.src.Read(*bp)
		if err != nil {
			p.pool.Put(bp)
			return
		}
		p.admit(time.Now(), (*bp)[:n], bp)
	}
}

// isUDP reports whether an IPv4 or IPv6 packet carries UDP (extension
// headers are not followed; the emulator never sees any from Go's stack).
func isUDP(b []byte) bool {
	if len(b) < 20 {
		return false
	}
	switch b[0] >> 4 {
	case 4:
		return b[9] == 17
	case 6:
		return len(b) >= 40 && b[6] == 17
	}
	return false
}

// admit applies the rules to one packet arriving at now and queues it.
func (p *pipe) admit(now time.Time, b []byte, bp *[]byte) {
	s := p.shape.Load()
	p.c.packets.Add(1)
	p.c.bytes.Add(int64(len(b)))
	drop := func(c *atomic.Int64) {
		c.Add(1)
		if bp != nil {
			p.pool.Put(bp)
		}
	}
	udp := isUDP(b)
	if s.BlockUDP && udp {
		drop(&p.c.filtered)
		return
	}
	if s.Loss > 0 && p.rng.Float64() < s.Loss {
		drop(&p.c.lost)
		return
	}
	if g := s.Burst; g != nil {
		loss := g.LossGood
		if p.bad {
			loss = g.LossBad
		}
		lost := loss > 0 && p.rng.Float64() < loss
		if p.bad {
			p.bad = p.rng.Float64() >= g.R
		} else {
			p.bad = p.rng.Float64() < g.P
		}
		if lost {
			drop(&p.c.burstLost)
			return
		}
	}
	at := now
	if s.Rate > 0 {
		start := p.txFree
		if start.Before(now) {
			start = now
		}
		queued := int64(start.Sub(now)) * s.Rate / 8 / int64(time.Second)
		if queued+int64(len(b)) > int64(s.QueueLimit) {
			drop(&p.c.queueDrops)
			return
		}
		p.txFree = start.Add(time.Duration(int64(len(b)) * 8 * int64(time.Second) / s.Rate))
		at = p.txFree
	}
	d := s.Delay
	if d > 0 {
		d = max(d-time.Duration(p.comp.Load()), 0)
	}
	if s.Jitter > 0 {
		d += time.Duration((p.rng.Float64()*2 - 1) * float64(s.Jitter))
		d = max(d, 0)
	}
	if udp {
		d += s.UDPDelay
	}
	at = at.Add(d)
	// Order is kept within a class (UDP, the rest) only: with UDPDelay,
	// UDP takes a slower path that must not hold TCP back.
	class := 0
	if udp {
		class = 1
	}
	if !s.Reorder && at.Before(p.lastDeliver[class]) {
		at = p.lastDeliver[class]
	}
	p.lastDeliver[class] = at
	p.seq++
	pk := &packet{at: at, seq: p.seq, buf: b}
	if bp == nil {
		pk.buf = append([]byte(nil), b...)
	} else {
		pk.buf = b
	}
	p.mu.Lock()
	heap.Push(&p.q, pk)
	first := p.q[0] == pk
	p.mu.Unlock()
	if first {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// The writer sleeps on a timer until shortly before a packet is due and
// yields the processor for the rest: Go timers fire late by a few hundred
// microseconds (more on a loaded machine), which at a 20 ms RTT would be
// several percent. It wakes early by the lateness it has seen (a moving
// average) plus minSpin, so it spins for about minSpin per wake-up.
const minSpin = 150 * time.Microsecond

func (p *pipe) writeLoop() {
	defer p.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	late := 300 * time.Microsecond // moving average of timer lateness
	for {
		p.mu.Lock()
		if len(p.q) == 0 {
			p.mu.Unlock()
			select {
			case <-p.wake:
				continue
			case <-p.stop:
				return
			}
		}
		head := p.q[0]
		wait := time.Until(head.at)
		if early := late + minSpin; wait > early {
			p.mu.Unlock()
			target := time.Now().Add(wait - early)
			t.Reset(wait - early)
			select {
			case <-t.C:
				l := max(time.Since(target), 0)
				late += (l - late) / 8
			case <-p.wake:
			case <-p.stop:
				return
			}
			continue
		}
		if wait > 0 {
			p.mu.Unlock()
			spinUntil(head.at)
			continue
		}
		heap.Pop(&p.q)
		p.mu.Unlock()
		if _, err := p.dst.Write(head.buf); err != nil {
			p.c.wErr.Add(1)
		} else {
			p.c.forwarded.Add(1)
			p.c.fwdBytes.Add(int64(len(head.buf)))
		}
		if cap(head.buf) >= p.mtu+64 {
			b := head.buf[:cap(head.buf)]
			p.pool.Put(&b)
		}
	}
}

// spinUntil yields the processor until t: about minSpin of busy waiting
// per due packet, only while the direction has nothing else to send.
func spinUntil(t time.Time) {
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}
