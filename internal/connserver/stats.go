package connserver

import (
	"sync"
	"sync/atomic"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// Counters are the totals every adapter reports; an adapter adds its own.
type Counters struct {
	Opened         atomic.Uint64 // connections added
	RejectedLimit  atomic.Uint64 // refused with 503 (limits or closing)
	RejectedOrigin atomic.Uint64 // cross-origin requests refused with 403
	CallbackPanics atomic.Uint64 // user callbacks that panicked or called runtime.Goexit
	BrokerSkipped  atomic.Uint64 // messages a fan-out's subscription skipped
	BytesOut       atomic.Uint64 // bytes written (what a byte is, is the adapter's)
	Drops          sendq.DropCounts

	mu     sync.Mutex // protects closed
	closed map[string]uint64
}

// ClosedBy counts a connection that ended for reason.
func (c *Counters) ClosedBy(reason string) {
	c.mu.Lock()
	c.closed[reason]++
	c.mu.Unlock()
}

// Snapshot is what every adapter's Stats reports, at one moment.
type Snapshot struct {
	Conns  int // reserved or open connections (see the package doc)
	Topics int // topics with local members

	Opened, RejectedLimit, RejectedOrigin, CallbackPanics, BrokerSkipped, BytesOut uint64
	DroppedOldest, DroppedNewest, Coalesced, DroppedTooLarge                       uint64

	Closed map[string]uint64 // connections ended, by reason
	Depth  sendq.DepthSummary
}

// Snapshot takes the counters and the depth summary of the open
// connections' queues (queue returns one connection's). It visits every
// connection: call it at a human pace.
func (s *Server[C, M]) Snapshot(queue func(C) sendq.Stats) Snapshot {
	s.Mu.Lock()
	conns := s.connsLocked()
	sn := Snapshot{Conns: s.active, Topics: len(s.topics)}
	s.Mu.Unlock()
	qs := make([]sendq.Stats, len(conns))
	for i, c := range conns {
		qs[i] = queue(c)
	}
	sn.Depth = sendq.Summarize(qs)
	k := &s.Counters
	sn.Opened, sn.RejectedLimit, sn.RejectedOrigin = k.Opened.Load(), k.RejectedLimit.Load(), k.RejectedOrigin.Load()
	sn.CallbackPanics, sn.BrokerSkipped, sn.BytesOut = k.CallbackPanics.Load(), k.BrokerSkipped.Load(), k.BytesOut.Load()
	sn.DroppedOldest, sn.DroppedNewest = k.Drops.Oldest.Load(), k.Drops.Newest.Load()
	sn.Coalesced, sn.DroppedTooLarge = k.Drops.Coalesced.Load(), k.Drops.TooLarge.Load()
	k.mu.Lock()
	sn.Closed = make(map[string]uint64, len(k.closed))
	for r, n := range k.closed {
		sn.Closed[r] = n
	}
	k.mu.Unlock()
	return sn
}
