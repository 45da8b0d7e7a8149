package sse

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// ErrServerClosed is returned by Publish once the server is shutting down
// or closed.
var ErrServerClosed = errors.New("sse: server closed")

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
)

// Stats is a snapshot of a server's counters; totals count from NewServer.
type Stats struct {
	Conns          int                    // open streams now
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
	CallbackPanics   uint64 // OnClose calls that panicked (recovered) or called runtime.Goexit

	QueueDepthMax   int           // deepest send queue now
	QueueDepthP50   int           // median send queue depth now
	QueueDepthP99   int           // 99th percentile send queue depth now
	OldestQueuedAge time.Duration // age of the oldest queued event across streams
	LaggingConns    int           // streams whose queue is above its high watermark
}

type counters struct {
	opened, rejected, rejectedTopics, rejectedOrigin atomic.Uint64
	resumed, resumedLost, replayed                   atomic.Uint64
	eventsOut, bytesOut, heartbeats                  atomic.Uint64
	brokerSkipped, callbackPanics                    atomic.Uint64
	drops                                            sendq.DropCounts // every queue's OnDrop

	mu     sync.Mutex // protects closed
	closed map[CloseReason]uint64
}

func (s *counters) closedBy(r CloseReason) {
	s.mu.Lock()
	s.closed[r]++
	s.mu.Unlock()
}

// Stats returns a snapshot of the server's counters. It visits every open
// stream's queue, so call it at a human pace, not per event.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	st := Stats{Conns: len(conns), Topics: len(s.topics)}
	s.mu.Unlock()
	qs := make([]sendq.Stats, len(conns))
	for i, c := range conns {
		qs[i] = c.q.Stats()
	}
	d := sendq.Summarize(qs)
	st.QueueDepthMax, st.QueueDepthP50, st.QueueDepthP99 = d.Max, d.P50, d.P99
	st.OldestQueuedAge, st.LaggingConns = d.OldestAge, d.Lagging
	c := &s.st
	st.Opened = c.opened.Load()
	st.RejectedLimit = c.rejected.Load()
	st.RejectedTopics = c.rejectedTopics.Load()
	st.RejectedOrigin = c.rejectedOrigin.Load()
	st.Resumed, st.ResumedLost, st.Replayed = c.resumed.Load(), c.resumedLost.Load(), c.replayed.Load()
	st.EventsOut, st.BytesOut, st.Heartbeats = c.eventsOut.Load(), c.bytesOut.Load(), c.heartbeats.Load()
	st.DroppedOldest, st.DroppedNewest = c.drops.Oldest.Load(), c.drops.Newest.Load()
	st.Coalesced, st.DroppedTooLarge = c.drops.Coalesced.Load(), c.drops.TooLarge.Load()
	st.BrokerSkipped = c.brokerSkipped.Load()
	st.CallbackPanics = c.callbackPanics.Load()
	c.mu.Lock()
	st.Closed = make(map[CloseReason]uint64, len(c.closed))
	for k, v := range c.closed {
		st.Closed[k] = v
	}
	c.mu.Unlock()
	st.SlowConsumerDrop = st.Closed[ReasonSlowConsumer]
	st.WriteTimeouts = st.Closed[ReasonWriteTimeout]
	return st
}
