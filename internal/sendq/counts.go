package sendq

import (
	"slices"
	"sync/atomic"
	"time"
)

// DropCounts totals, across many queues, the items that left without
// being delivered, by reason. Its Count method is an Options.OnDrop that
// one server can share between all its connections' queues. The zero
// value is ready; it is safe for concurrent use.
type DropCounts struct {
	Oldest    atomic.Uint64 // DroppedOldest
	Newest    atomic.Uint64 // DroppedNewest
	Coalesced atomic.Uint64 // Coalesced
	TooLarge  atomic.Uint64 // DroppedTooLarge
}

// Count adds one item dropped for why; DroppedOnFailure is not counted
// (the connection's close reason says why its queue failed).
func (d *DropCounts) Count(_ any, why DropReason) {
	switch why {
	case DroppedOldest:
		d.Oldest.Add(1)
	case DroppedNewest:
		d.Newest.Add(1)
	case Coalesced:
		d.Coalesced.Add(1)
	case DroppedTooLarge:
		d.TooLarge.Add(1)
	}
}

// DepthSummary describes the queues of many connections at one moment.
type DepthSummary struct {
	Max       int           // deepest queue (both lanes)
	P50, P99  int           // median and 99th percentile depth
	OldestAge time.Duration // age of the oldest item in any queue
	Lagging   int           // queues above their high watermark
}

// Summarize returns the depth summary of the queues whose Stats are
// given.
func Summarize(stats []Stats) DepthSummary {
	var s DepthSummary
	if len(stats) == 0 {
		return s
	}
	depths := make([]int, len(stats))
	for i, qs := range stats {
		depths[i] = qs.Depth + qs.PriorityDepth
		s.OldestAge = max(s.OldestAge, qs.OldestAge)
		if qs.Lagging {
			s.Lagging++
		}
	}
	slices.Sort(depths)
	n := len(depths) - 1
	s.Max, s.P50, s.P99 = depths[n], depths[n/2], depths[n*99/100]
	return s
}
