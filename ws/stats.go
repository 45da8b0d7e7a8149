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
	Conns             int                    // open connections now
	Opened            uint64                 // connections accepted
	Closed            map[CloseReason]uint64 // connections ended, by reason
	RejectedLimit     uint64                 // upgrades refused with 503 (connection limits or shutting down)
	RejectedHandshake uint64                 // upgrades that failed (origin 403, bad handshake)
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

type counters struct {
	opened, rejected, rejectedHandshake atomic.Uint64
	msgsIn, bytesIn, msgsOut, bytesOut  atomic.Uint64
	brokerSkipped, pingTimeouts         atomic.Uint64
	callbackPanics                      atomic.Uint64
	drops                               sendq.DropCounts // every queue's OnDrop

	mu       sync.Mutex // protects the fields below
	closed   map[CloseReason]uint64
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

// closedBy is called with hub.mu held.
func (s *counters) closedBy(r CloseReason) {
	s.mu.Lock()
	s.closed[r]++
	s.mu.Unlock()
}

func isReadLimit(err error) bool { return errors.Is(err, websocket.ErrMessageTooBig) }

// Stats returns a snapshot of the hub's counters. It visits every open
// connection's queue, so call it at a human pace (a page refresh), not per
// message.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	st := Stats{Conns: len(conns), Topics: len(h.topics)}
	h.mu.Unlock()
	qs := make([]sendq.Stats, len(conns))
	for i, c := range conns {
		qs[i] = c.q.Stats()
	}
	d := sendq.Summarize(qs)
	st.QueueDepthMax, st.QueueDepthP50, st.QueueDepthP99 = d.Max, d.P50, d.P99
	st.OldestQueuedAge, st.LaggingConns = d.OldestAge, d.Lagging
	s := &h.st
	st.Opened = s.opened.Load()
	st.RejectedLimit = s.rejected.Load()
	st.RejectedHandshake = s.rejectedHandshake.Load()
	st.MessagesIn, st.BytesIn = s.msgsIn.Load(), s.bytesIn.Load()
	st.MessagesOut, st.BytesOut = s.msgsOut.Load(), s.bytesOut.Load()
	st.DroppedOldest = s.drops.Oldest.Load()
	st.DroppedNewest = s.drops.Newest.Load()
	st.Coalesced = s.drops.Coalesced.Load()
	st.DroppedTooLarge = s.drops.TooLarge.Load()
	st.BrokerSkipped = s.brokerSkipped.Load()
	st.PingTimeouts = s.pingTimeouts.Load()
	st.CallbackPanics = s.callbackPanics.Load()
	s.mu.Lock()
	st.Closed = make(map[CloseReason]uint64, len(s.closed))
	for k, v := range s.closed {
		st.Closed[k] = v
	}
	st.SlowConsumerDrop = s.closed[ReasonSlowConsumer]
	s.peakSeen = max(s.peakSeen, st.QueueDepthMax)
	st.QueueDepthPeak = s.peakSeen
	st.PingRTTLast = s.rttLast
	if s.rttN > 0 {
		st.PingRTTAvg = s.rttSum / time.Duration(s.rttN)
	}
	s.mu.Unlock()
	return st
}
