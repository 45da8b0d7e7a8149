package ws

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// CloseReason says why a connection ended, as counted in Stats.Closed and
// passed to HubOptions.OnClose.
type CloseReason string

// Close reasons.
const (
	ReasonClient       CloseReason = "client"        // the client sent a close frame
	ReasonServer       CloseReason = "server"        // the application called Conn.Close
	ReasonShutdown     CloseReason = "shutdown"      // Hub.Shutdown or Hub.Close
	ReasonSlowConsumer CloseReason = "slow-consumer" // the send queue's policy disconnected it
	ReasonPingTimeout  CloseReason = "ping-timeout"  // no pong within PongTimeout
	ReasonWriteTimeout CloseReason = "write-timeout" // a message was not written within WriteTimeout
	ReasonTooBig       CloseReason = "too-big"       // a message exceeded ReadLimit (1009)
	ReasonInvalidUTF8  CloseReason = "invalid-utf8"  // a text message was not UTF-8 (1007)
	ReasonProtocol     CloseReason = "protocol"      // the client broke the WebSocket protocol (1002); nothing more it sent was read
	ReasonError        CloseReason = "error"         // the TCP connection failed or was reset
	// ReasonCallbackPanic: OnConnect, OnMessage or AllowTopic panicked or
	// called runtime.Goexit; the client got 1011 (internal error).
	ReasonCallbackPanic CloseReason = "callback-panic"
)

// Stats is a snapshot of a hub's counters; totals count from NewHub.
type Stats struct {
	// Conns counts the connections against MaxConns now: open ones and
	// those admitted and still in their handshake (sse counts the same
	// way, from admission to release).
	Conns             int
	Opened            uint64                 // connections accepted
	Closed            map[CloseReason]uint64 // connections ended, by reason
	RejectedLimit     uint64                 // upgrades refused with 503 (connection limits or shutting down)
	RejectedHandshake uint64                 // upgrades refused or failed before the upgrade (origin 403, bad handshake)
	Topics            int                    // topics with local subscribers now

	MessagesIn  uint64 // messages read from clients (control messages included)
	BytesIn     uint64 // their payload bytes
	MessagesOut uint64 // messages written to clients
	BytesOut    uint64 // their payload bytes

	DroppedOldest   uint64 // evicted by DropOldest or CoalesceByKey to make room
	DroppedNewest   uint64 // refused by DropNewest
	Coalesced       uint64 // replaced by a newer message with the same key
	DroppedTooLarge uint64 // larger than QueueBytes
	BrokerSkipped   uint64 // messages a topic's broker subscription skipped because this hub's fan-out fell behind the publishers (the broker never blocks them)

	QueueDepthMax    int           // deepest send queue now (normal + priority lane)
	QueueDepthP50    int           // median send queue depth across connections now
	QueueDepthP99    int           // 99th percentile of send queue depth across connections now
	QueueDepthPeak   int           // deepest send queue seen at a Stats call so far
	OldestQueuedAge  time.Duration // age of the oldest queued message across connections
	LaggingConns     int           // connections whose queue is above its high watermark
	SlowConsumerDrop uint64        // connections closed as slow consumers
	PingTimeouts     uint64        // connections closed for a missing pong
	PingRTTLast      time.Duration // round trip of the latest pong
	PingRTTAvg       time.Duration // mean round trip over all pongs

	// CallbackPanics counts HubOptions callbacks that panicked (recovered)
	// or called runtime.Goexit: OnConnect, OnMessage and AllowTopic (each
	// also closes its connection, Closed[ReasonCallbackPanic]), OnClose,
	// TopicKey and ClientIP.
	CallbackPanics uint64
}

// counters are the hub's own; the shared ones are the core's.
type counters struct {
	rejectedHandshake, msgsIn, bytesIn, msgsOut, pingTimeouts atomic.Uint64

	mu       sync.Mutex // protects the fields below
	rttLast  time.Duration
	rttSum   time.Duration
	rttN     int64
	peakSeen int
}

func (s *counters) recordRTT(d time.Duration) {
	s.mu.Lock()
	s.rttLast = d
	s.rttSum += d
	s.rttN++
	s.mu.Unlock()
}

func isReadLimit(err error) bool { return errors.Is(err, websocket.ErrMessageTooBig) }

// Stats returns a snapshot of the hub's counters. It visits every open
// connection's queue, so call it at a human pace (a page refresh), not per
// message.
func (h *Hub) Stats() Stats {
	sn := h.core.Snapshot(func(c *Conn) sendq.Stats { return c.q.Stats() })
	st := Stats{Conns: sn.Conns, Topics: sn.Topics, Opened: sn.Opened, RejectedLimit: sn.RejectedLimit, BrokerSkipped: sn.BrokerSkipped}
	st.RejectedHandshake = h.st.rejectedHandshake.Load() + sn.RejectedOrigin
	st.QueueDepthMax, st.QueueDepthP50, st.QueueDepthP99 = sn.Depth.Max, sn.Depth.P50, sn.Depth.P99
	st.OldestQueuedAge, st.LaggingConns, st.CallbackPanics = sn.Depth.OldestAge, sn.Depth.Lagging, sn.CallbackPanics
	st.DroppedOldest, st.DroppedNewest, st.Coalesced, st.DroppedTooLarge = sn.DroppedOldest, sn.DroppedNewest, sn.Coalesced, sn.DroppedTooLarge
	st.MessagesIn, st.BytesIn = h.st.msgsIn.Load(), h.st.bytesIn.Load()
	st.MessagesOut, st.BytesOut = h.st.msgsOut.Load(), sn.BytesOut
	st.PingTimeouts = h.st.pingTimeouts.Load()
	st.Closed = make(map[CloseReason]uint64, len(sn.Closed))
	for r, n := range sn.Closed {
		st.Closed[CloseReason(r)] = n
	}
	st.SlowConsumerDrop = st.Closed[ReasonSlowConsumer]
	s := &h.st
	s.mu.Lock()
	s.peakSeen = max(s.peakSeen, st.QueueDepthMax)
	st.QueueDepthPeak = s.peakSeen
	st.PingRTTLast = s.rttLast
	if s.rttN > 0 {
		st.PingRTTAvg = s.rttSum / time.Duration(s.rttN)
	}
	s.mu.Unlock()
	return st
}
