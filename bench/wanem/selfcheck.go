package wanem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// CheckOptions configures [Link.SelfCheck]. Nil is valid.
type CheckOptions struct {
	// RTTs are the round-trip times checked. Defaults to 20, 50 and 200
	// ms (empty); a negative RTT is an error.
	RTTs []time.Duration
	// Probes is the number of echo probes per RTT; the median is compared.
	// Defaults to 20 (zero); negative is an error.
	Probes int
	// Loss is the random loss rate checked, in (0, 1]. Defaults to 0.05
	// (zero); negative is an error.
	Loss float64
	// LossPackets is how many packets the loss check sends. Defaults to
	// 10,000 (zero); negative is an error.
	LossPackets int
	// Rates are the bandwidth caps checked, in bits per second. Defaults
	// to 10 Mbit/s (empty); a rate of zero or below is an error.
	Rates []int64
	// RateBytes is how many bytes each bandwidth check sends over TCP.
	// Defaults to 2 s worth of the rate, at most 32 MiB (zero); negative
	// is an error.
	RateBytes int
}

// Check is one self-check result.
type Check struct {
	Name     string // "RTT", "loss", "bandwidth"
	Setting  string // what the link was set to
	Measured string // what was measured
	Bound    string // the tolerance
	OK       bool
}

// CheckReport is the result of [Link.SelfCheck].
type CheckReport struct {
	Checks []Check
}

// OK reports whether every check passed.
func (r *CheckReport) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Markdown formats the report as a Markdown table.
func (r *CheckReport) Markdown() string {
	var b strings.Builder
	b.WriteString("| check | setting | measured | tolerance | result |\n|---|---|---|---|---|\n")
	for _, c := range r.Checks {
		res := "pass"
		if !c.OK {
			res = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.Name, c.Setting, c.Measured, c.Bound, res)
	}
	return b.String()
}

// SelfCheck verifies the emulator against its settings: the median of
// UDP echo round trips within 5% of each RTT, the loss rate over
// LossPackets UDP packets within ±1 point, and the bandwidth cap's wire
// rate during a TCP transfer within 10%. It changes the link's shapes
// while it runs and restores them after; run it on an otherwise idle link.
func (l *Link) SelfCheck(ctx context.Context, opts *CheckOptions) (*CheckReport, error) {
	var o CheckOptions
	if opts != nil {
		o = *opts
	}
	if len(o.RTTs) == 0 {
		o.RTTs = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond}
	}
	switch {
	case o.Probes < 0:
		return nil, negative("CheckOptions.Probes", o.Probes)
	case o.Loss < 0 || o.Loss > 1:
		return nil, fmt.Errorf("wanem: CheckOptions.Loss is not a probability (%v); use a value in (0, 1]", o.Loss)
	case o.LossPackets < 0:
		return nil, negative("CheckOptions.LossPackets", o.LossPackets)
	case o.RateBytes < 0:
		return nil, negative("CheckOptions.RateBytes", o.RateBytes)
	}
	for _, r := range o.RTTs {
		if r < 0 {
			return nil, negative("CheckOptions.RTTs", r)
		}
	}
	for _, r := range o.Rates {
		if r <= 0 {
			return nil, fmt.Errorf("wanem: CheckOptions.Rates has %d; a bandwidth check needs a positive rate", r)
		}
	}
	if o.Probes == 0 {
		o.Probes = 20
	}
	if o.Loss == 0 {
		o.Loss = 0.05
	}
	if o.LossPackets == 0 {
		o.LossPackets = 10000
	}
	if len(o.Rates) == 0 {
		o.Rates = []int64{10_000_000}
	}
	if l.closed.Load() {
		return nil, ErrClosed
	}
	saveAB, saveBA := l.Shape(AtoB), l.Shape(BtoA)
	defer func() {
		l.SetShape(AtoB, saveAB)
		l.SetShape(BtoA, saveBA)
	}()
	rep := &CheckReport{}
	for _, rtt := range o.RTTs {
		c, err := l.checkRTT(ctx, rtt, o.Probes)
		if err != nil {
			return rep, err
		}
		rep.Checks = append(rep.Checks, c)
	}
	c, err := l.checkLoss(ctx, o.Loss, o.LossPackets)
	if err != nil {
		return rep, err
	}
	rep.Checks = append(rep.Checks, c)
	for _, rate := range o.Rates {
		size := o.RateBytes
		if size <= 0 {
			size = int(min(rate/8*2, 32<<20))
		}
		c, err = l.checkRate(ctx, rate, size)
		if err != nil {
			return rep, err
		}
		rep.Checks = append(rep.Checks, c)
	}
	return rep, nil
}

// udpPair opens a UDP socket on each side, connected to each other.
func (l *Link) udpPair() (a, b net.PacketConn, bAddr net.Addr, err error) {
	b, err = l.B.ListenPacket("udp6", netip.AddrPortFrom(l.B.Addr6, 0).String())
	if err != nil {
		return nil, nil, nil, err
	}
	a, err = l.A.ListenPacket("udp6", netip.AddrPortFrom(l.A.Addr6, 0).String())
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	return a, b, b.LocalAddr(), nil
}

func (l *Link) checkRTT(ctx context.Context, rtt time.Duration, probes int) (Check, error) {
	c := Check{Name: "RTT", Setting: rtt.String(), Bound: "±5%"}
	if err := l.SetShape(Both, Shape{Delay: rtt / 2}); err != nil {
		return c, err
	}
	a, b, bAddr, err := l.udpPair()
	if err != nil {
		return c, err
	}
	defer a.Close()
	samples, err := echo(ctx, a, b, bAddr, probes, rtt*3+time.Second)
	if err != nil {
		return c, err
	}
	slices.Sort(samples)
	med := samples[len(samples)/2]
	dev := float64(med-rtt) / float64(rtt)
	c.Measured = fmt.Sprintf("%v median (%+.1f%%), min %v, max %v", med.Round(10*time.Microsecond), dev*100,
		samples[0].Round(10*time.Microsecond), samples[len(samples)-1].Round(10*time.Microsecond))
	c.OK = dev >= -0.05 && dev <= 0.05
	return c, nil
}

// echo sends probes+1 sequential UDP probes from a to b, which echoes
// them (and is closed on return), and returns the round trips of all but
// the first.
func echo(ctx context.Context, a, b net.PacketConn, bAddr net.Addr, probes int, timeout time.Duration) ([]time.Duration, error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, from, err := b.ReadFrom(buf)
			if err != nil {
				return
			}
			b.WriteTo(buf[:n], from)
		}
	}()
	defer func() { b.Close(); <-done }()
	var samples []time.Duration
	buf := make([]byte, 64)
	for i := range probes + 1 {
		// A probe that gets no answer within timeout is sent again, up to
		// three times (a busy machine can stall a first packet).
		var took time.Duration
		for attempt := 0; ; attempt++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var msg [8]byte
			binary.BigEndian.PutUint64(msg[:], uint64(i))
			start := time.Now()
			if _, err := a.WriteTo(msg[:], bAddr); err != nil {
				return nil, err
			}
			a.SetReadDeadline(start.Add(timeout))
			var err error
			for {
				var n int
				n, _, err = a.ReadFrom(buf)
				if err != nil || n == 8 && binary.BigEndian.Uint64(buf) == uint64(i) {
					break
				}
			}
			if err == nil {
				took = time.Since(start)
				break
			}
			if attempt == 2 {
				return nil, fmt.Errorf("wanem: echo probe %d, 3 attempts: %w", i, err)
			}
		}
		if i > 0 { // the first warms up
			samples = append(samples, took)
		}
	}
	return samples, nil
}

func echoMin(a, b net.PacketConn, bAddr net.Addr, probes int, timeout time.Duration) (time.Duration, error) {
	s, err := echo(context.Background(), a, b, bAddr, probes, timeout)
	if err != nil {
		return 0, err
	}
	return slices.Min(s), nil
}

func (l *Link) checkLoss(ctx context.Context, loss float64, packets int) (Check, error) {
	c := Check{Name: "loss", Setting: fmt.Sprintf("%.1f%% random, A→B", loss*100), Bound: "±1 point"}
	if err := l.SetShape(AtoB, Shape{Loss: loss}); err != nil {
		return c, err
	}
	if err := l.SetShape(BtoA, Shape{}); err != nil {
		return c, err
	}
	a, b, bAddr, err := l.udpPair()
	if err != nil {
		return c, err
	}
	defer a.Close()
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			if _, _, err := b.ReadFrom(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	defer func() { b.Close(); <-done }()
	const batch = 200
	msg := make([]byte, 32)
	base := l.Counters(AtoB)
	for sent := 0; sent < packets; {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		n := min(batch, packets-sent)
		for range n {
			if _, err := a.WriteTo(msg, bAddr); err != nil {
				return c, err
			}
		}
		sent += n
		// Wait until the batch has passed the emulator and the receiver
		// has read what was forwarded, so no socket buffer overflows.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			cur := l.Counters(AtoB)
			fwd := cur.Forwarded - base.Forwarded
			if cur.Packets-base.Packets >= int64(sent) && cur.Packets == cur.Forwarded+cur.Dropped() && got.Load() >= fwd {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	measured := 1 - float64(got.Load())/float64(packets)
	c.Measured = fmt.Sprintf("%.2f%% of %d packets", measured*100, packets)
	c.OK = measured >= loss-0.01 && measured <= loss+0.01
	return c, nil
}

func (l *Link) checkRate(ctx context.Context, rate int64, size int) (Check, error) {
	c := Check{Name: "bandwidth", Setting: fmt.Sprintf("%s, A→B, TCP", FormatRate(rate)), Bound: "±10% (wire rate)"}
	// A queue of up to half a second (at most 8 MiB) keeps the cap busy
	// through the sender's scheduling stalls on a loaded machine, so the
	// check measures the cap rather than TCP's ability to keep it full.
	queue := int(min(max(rate/16, 64<<10), 8<<20))
	if err := l.SetShape(AtoB, Shape{Rate: rate, QueueLimit: queue}); err != nil {
		return c, err
	}
	if err := l.SetShape(BtoA, Shape{}); err != nil {
		return c, err
	}
	ln, err := l.B.Listen("tcp6", netip.AddrPortFrom(l.B.Addr6, 0).String())
	if err != nil {
		return c, err
	}
	defer ln.Close()
	type res struct {
		n          int64
		first, end time.Time
		err        error
	}
	out := make(chan res, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			out <- res{err: err}
			return
		}
		defer conn.Close()
		var r res
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if n > 0 && r.n == 0 {
				r.first = time.Now()
			}
			r.n += int64(n)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.err = err
				}
				r.end = time.Now()
				out <- r
				return
			}
		}
	}()
	conn, err := l.A.DialContext(ctx, "tcp6", ln.Addr().String())
	if err != nil {
		return c, err
	}
	before := l.Counters(AtoB)
	_, werr := conn.Write(make([]byte, size))
	conn.Close()
	r := <-out
	after := l.Counters(AtoB)
	if werr != nil || r.err != nil {
		return c, errors.Join(werr, r.err)
	}
	span := r.end.Sub(r.first).Seconds()
	wire := float64(after.ForwardedBytes-before.ForwardedBytes) * 8 / span
	good := float64(r.n) * 8 / span
	dev := (wire - float64(rate)) / float64(rate)
	c.Measured = fmt.Sprintf("wire %s (%+.1f%%), goodput %s", FormatRate(int64(wire)), dev*100, FormatRate(int64(good)))
	c.OK = dev >= -0.10 && dev <= 0.10
	return c, nil
}

// FormatRate formats bits per second as "10 Mbit/s".
func FormatRate(bps int64) string {
	switch {
	case bps >= 1e9 && bps%1e8 == 0:
		return fmt.Sprintf("%g Gbit/s", float64(bps)/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.3g Mbit/s", float64(bps)/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.3g kbit/s", float64(bps)/1e3)
	}
	return fmt.Sprintf("%d bit/s", bps)
}
