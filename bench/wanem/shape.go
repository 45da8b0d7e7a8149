package wanem

import (
	"fmt"
	"math"
	"time"
)

// Shape is what one direction of a [Link] does to the packets it carries.
// The zero value forwards every packet at once, unchanged. Rules apply in
// this order: the UDP filter, random loss, bursty loss, the bandwidth cap
// (tail drop when its queue is full), then the delay.
type Shape struct {
	// Delay is the one-way propagation delay added to every packet; a
	// symmetric round trip of R is Delay R/2 in each direction. Defaults
	// to 0; negative is rejected.
	Delay time.Duration
	// Jitter varies each packet's delay uniformly within ±Jitter (never
	// below zero). Packets still leave in the order they arrived (within
	// UDP and within other traffic, since UDPDelay gives UDP a path of its
	// own) unless Reorder is set, so jitter alone delays a packet behind a
	// slower predecessor as a real FIFO path does. Defaults to 0; negative
	// is rejected.
	Jitter time.Duration
	// Reorder lets a packet with a shorter jittered delay overtake an
	// earlier one. Defaults to false.
	Reorder bool
	// Loss is the probability, in [0, 1], that a packet is dropped
	// independently of any other. Defaults to 0.
	Loss float64
	// Burst, when non-nil, drops packets by a Gilbert–Elliott two-state
	// model on top of Loss, so losses come in runs. Defaults to nil.
	Burst *GilbertElliott
	// Rate caps the direction's bandwidth in bits per second: packets are
	// serialized one after another at Rate, waiting in a FIFO queue
	// (bufferbloat shows as queueing delay). Defaults to 0, no cap;
	// negative is rejected.
	Rate int64
	// QueueLimit is the most bytes that may wait for the bandwidth cap;
	// a packet that would exceed it is dropped (tail drop). Defaults to
	// 100ms worth of Rate, at least 64 KiB; negative is rejected. Unused
	// without Rate.
	QueueLimit int
	// BlockUDP drops every UDP packet (a network that blocks QUIC).
	// Defaults to false.
	BlockUDP bool
	// UDPDelay is extra one-way delay for UDP packets only (a path where
	// QUIC is slow). Defaults to 0; negative is rejected.
	UDPDelay time.Duration
}

// GilbertElliott is the two-state bursty loss model: in the Good state a
// packet is lost with probability LossGood, in the Bad state with LossBad;
// after each packet the model moves from Good to Bad with probability P
// and from Bad to Good with probability R. Use [BurstLoss] for the common
// case (no loss in Good, all lost in Bad).
type GilbertElliott struct {
	P, R              float64
	LossGood, LossBad float64
}

// BurstLoss returns a Gilbert–Elliott model that loses rate of the packets
// on average, in runs of meanBurst packets on average.
func BurstLoss(rate, meanBurst float64) *GilbertElliott {
	r := 1 / max(meanBurst, 1)
	p := 0.0
	if rate > 0 && rate < 1 {
		p = rate * r / (1 - rate)
	}
	return &GilbertElliott{P: p, R: r, LossBad: 1}
}

// MeanLoss is the model's long-run loss rate.
func (g *GilbertElliott) MeanLoss() float64 {
	if g.P+g.R == 0 {
		return g.LossGood
	}
	bad := g.P / (g.P + g.R)
	return bad*g.LossBad + (1-bad)*g.LossGood
}

func prob(name string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("wanem: Shape.%s is not a probability (%v); use a value in [0, 1]", name, v)
	}
	return nil
}

func negative(field string, v any) error {
	return fmt.Errorf("wanem: %s is negative (%v)", field, v)
}

// check validates s and returns a copy with defaults filled in.
func (s Shape) check() (Shape, error) {
	switch {
	case s.Delay < 0:
		return s, negative("Shape.Delay", s.Delay)
	case s.Jitter < 0:
		return s, negative("Shape.Jitter", s.Jitter)
	case s.Rate < 0:
		return s, negative("Shape.Rate", s.Rate)
	case s.QueueLimit < 0:
		return s, negative("Shape.QueueLimit", s.QueueLimit)
	case s.UDPDelay < 0:
		return s, negative("Shape.UDPDelay", s.UDPDelay)
	}
	if err := prob("Loss", s.Loss); err != nil {
		return s, err
	}
	if g := s.Burst; g != nil {
		for _, p := range []struct {
			n string
			v float64
		}{{"Burst.P", g.P}, {"Burst.R", g.R}, {"Burst.LossGood", g.LossGood}, {"Burst.LossBad", g.LossBad}} {
			if err := prob(p.n, p.v); err != nil {
				return s, err
			}
		}
		c := *g // never keep the caller's pointer
		s.Burst = &c
	}
	if s.Rate > 0 && s.QueueLimit == 0 {
		s.QueueLimit = max(int(s.Rate/8/10), 64<<10)
	}
	return s, nil
}

// Symmetric returns a Shape for each direction of a path with round-trip
// time rtt (half in each direction) and independent loss in each
// direction.
func Symmetric(rtt time.Duration, loss float64) Shape {
	return Shape{Delay: rtt / 2, Loss: loss}
}
