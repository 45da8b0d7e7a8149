package sse

import (
	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
)

// lingerWait is how many of the core's linger ticks (100ms) an idle writer
// waits for more events before its goroutine exits (100–200ms idle).
const lingerWait = 2

// heartbeatFrame is the comment written to an idle stream; the writer
// tells it from events by its address.
var heartbeatFrame = []byte(":\n\n")

// heartbeatChunk is heartbeatFrame as a chunk, for inline writes.
var heartbeatChunk = appendChunk(nil, heartbeatFrame)

// beater is the state of the heartbeats, used on the core's clock
// goroutine only.
type beater struct {
	iw  *connserver.InlineWriter
	due []*conn
}

// heartbeat runs on the core's clock BeatSlots times per Heartbeat: a
// stream idle for about a Heartbeat (between 15/16 and 16/16 of it without
// a write) gets a comment, written inline when the socket takes it at once,
// else queued in its priority lane (never dropped, never blocking, at most
// one queued per stream), which its writer writes with the same write
// deadline as events. No stream has a timer of its own.
func (s *Server) heartbeat(uint64) {
	hb := s.opt.Heartbeat
	idle := int64(hb - hb/connserver.BeatSlots)
	now := s.now()
	b := &s.beat
	s.core.Mu.Lock()
	for c := range s.core.ConnsLocked() {
		if now-c.lastWrite.Load() >= idle && !c.hbQueued.Load() {
			b.due = append(b.due, c)
		}
	}
	s.core.Mu.Unlock()
	for _, c := range b.due {
		if c.offer(b.iw, heartbeatChunk) {
			s.st.heartbeats.Add(1)
			s.core.Counters.BytesOut.Add(uint64(len(heartbeatChunk)))
			continue
		}
		if c.hbQueued.CompareAndSwap(false, true) {
			c.enqueue(sendq.Item[[]byte]{Value: heartbeatFrame, Size: len(heartbeatFrame), Priority: true})
		}
	}
	clear(b.due)
	b.due = b.due[:0]
}
