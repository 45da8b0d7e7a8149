package sse

import (
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// CloseReason says why a stream ended, as counted in Stats.Closed and
// passed to ServerOptions.OnClose.
type CloseReason string

// Close reasons.
const (
	ReasonClient       CloseReason = "client"        // the client went away
	ReasonShutdown     CloseReason = "shutdown"      // Server.Shutdown or Server.Close
	ReasonSlowConsumer CloseReason = "slow-consumer" // the send queue's policy disconnected it
	ReasonWriteTimeout CloseReason = "write-timeout" // a write was not taken within WriteTimeout
	ReasonLagged       CloseReason = "lagged"        // the broker discarded messages before a resuming stream's replay read them; the client resumes
	ReasonError        CloseReason = "error"         // the connection failed, or the broker did before the stream started
	// ReasonCallbackPanic: OnConnect panicked or called runtime.Goexit, or
	// EventType did during a resuming stream's replay (the client
	// resumes).
	ReasonCallbackPanic CloseReason = "callback-panic"
)

// Stats is a snapshot of a server's counters; totals count from NewServer.
type Stats struct {
	// Conns counts the streams against MaxConns now: open ones and those
	// admitted and still being set up (ws counts the same way, from
	// admission to release).
	Conns          int
	Opened         uint64                 // streams started
	Closed         map[CloseReason]uint64 // streams ended, by reason
	RejectedLimit  uint64                 // requests refused with 503 (limits or shutting down)
	RejectedTopics uint64                 // requests the TopicsFunc refused
	RejectedOrigin uint64                 // cross-origin requests refused with 403
	Topics         int                    // topics with local streams now

	Resumed     uint64 // streams that asked to resume from an ID
	ResumedLost uint64 // of those, streams told that events were lost
	Replayed    uint64 // events replayed from history to resuming streams

	EventsOut  uint64 // events written (replayed ones included)
	BytesOut   uint64 // bytes written (events, heartbeats, goodbyes)
	Heartbeats uint64 // heartbeat comments written

	DroppedOldest    uint64 // evicted by DropOldest or CoalesceByKey to make room
	DroppedNewest    uint64 // refused by DropNewest
	Coalesced        uint64 // replaced by a newer event with the same key
	DroppedTooLarge  uint64 // larger than QueueBytes
	BrokerSkipped    uint64 // messages a topic's fan-out missed because it fell behind the broker's buffer (its live streams got a lost event)
	SlowConsumerDrop uint64 // streams closed as slow consumers
	WriteTimeouts    uint64 // streams closed because a write timed out
	CallbackPanics   uint64 // ServerOptions callbacks that panicked (recovered) or called runtime.Goexit: OnConnect, OnClose, EventType, TopicKey, ClientIP

	QueueDepthMax   int           // deepest send queue now
	QueueDepthP50   int           // median send queue depth now
	QueueDepthP99   int           // 99th percentile send queue depth now
	OldestQueuedAge time.Duration // age of the oldest queued event across streams
	LaggingConns    int           // streams whose queue is above its high watermark
}

// counters are the server's own; the shared ones are the core's.
type counters struct {
	rejectedTopics, resumed, resumedLost, replayed, eventsOut, heartbeats atomic.Uint64
}

// Stats returns a snapshot of the server's counters. It visits every open
// stream's queue, so call it at a human pace, not per event.
func (s *Server) Stats() Stats {
	sn := s.core.Snapshot(func(c *conn) sendq.Stats { return c.q.Stats() })
	st := Stats{Conns: sn.Conns, Topics: sn.Topics, Opened: sn.Opened, RejectedLimit: sn.RejectedLimit, RejectedOrigin: sn.RejectedOrigin}
	st.QueueDepthMax, st.QueueDepthP50, st.QueueDepthP99, st.OldestQueuedAge = sn.Depth.Max, sn.Depth.P50, sn.Depth.P99, sn.Depth.OldestAge
	st.LaggingConns, st.BrokerSkipped, st.CallbackPanics, st.BytesOut = sn.Depth.Lagging, sn.BrokerSkipped, sn.CallbackPanics, sn.BytesOut
	st.DroppedOldest, st.DroppedNewest, st.Coalesced, st.DroppedTooLarge = sn.DroppedOldest, sn.DroppedNewest, sn.Coalesced, sn.DroppedTooLarge
	k := &s.st
	st.RejectedTopics, st.EventsOut, st.Heartbeats = k.rejectedTopics.Load(), k.eventsOut.Load(), k.heartbeats.Load()
	st.Resumed, st.ResumedLost, st.Replayed = k.resumed.Load(), k.resumedLost.Load(), k.replayed.Load()
	st.Closed = make(map[CloseReason]uint64, len(sn.Closed))
	for r, n := range sn.Closed {
		st.Closed[CloseReason(r)] = n
	}
	st.SlowConsumerDrop = st.Closed[ReasonSlowConsumer]
	st.WriteTimeouts = st.Closed[ReasonWriteTimeout]
	return st
}
