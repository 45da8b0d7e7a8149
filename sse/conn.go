package sse

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
)

// conn is one open stream. A stream that owns its connection (raw, see
// hijack.go) is written by inline writes and a writer started for a
// backlog; otherwise its handler goroutine runs it (run) and a
// writer goroutine, while there are events, writes it; the topic
// fan-outs, replays and the heartbeat feed its queue. Ending it
// early fails the queue with the cause (abort), which wakes the writer
// and any blocked producer: an open stream needs no context of its own.
type conn struct {
	s      *Server
	r      *http.Request
	ip     string
	q      *sendq.Queue[[]byte]
	topics []*topic // guarded by the core's Mu
	bye    atomic.Pointer[[]byte]

	// raw is the connection of a stream that owns it (HTTP/1.1), nil when
	// the handler goroutine runs the stream. writing is held by whoever
	// writes to raw: the stream's setup, an inline write or a writer.
	raw     *rawOut
	writing atomic.Bool

	lastWrite atomic.Int64 // Server.now of the last write
	hbQueued  atomic.Bool  // a heartbeat waits in q

	// setup bounds the broker calls of the stream's start and its
	// replays; endSetup releases it (and stop) once they are over.
	setup     context.Context
	stop      context.CancelCauseFunc // guarded by the core's Mu
	replaying atomic.Int32            // replays still running
	replays   sync.WaitGroup
	ended     chan struct{}
}

func (s *Server) newConn(r *http.Request, ip string, own bool) *conn {
	// Not derived from the request's context: a child would make it keep
	// a map of children for the stream's life. join watches the request.
	setup, stop := context.WithCancelCause(context.Background())
	c := &conn{s: s, r: r, ip: ip, setup: setup, stop: stop, ended: make(chan struct{})}
	c.lastWrite.Store(s.now())
	q, err := sendq.New[[]byte](&s.core.QueueOptions)
	if err != nil {
		panic(err) // options were validated by NewServer
	}
	c.q = q
	if own {
		// Set before the stream is visible to the fan-outs; they write
		// to it only once startRaw gives up writing.
		c.raw = &rawOut{}
		c.writing.Store(true)
	}
	return c
}

// add registers c, which holds a reservation, with the core; false when
// the server is closing.
func (c *conn) add() bool {
	_, ok := c.s.core.Add(c)
	return ok
}

// topicLocked returns c's topic of that name, or nil. Call with
// the core's Mu held.
func (c *conn) topicLocked(name string) *topic {
	for _, t := range c.topics {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// push queues a fan-out frame. Only Block waits, and it ends when the
// stream does (finish fails the queue).
func (c *conn) push(frame []byte, key string, policy sendq.Policy) {
	c.enqueue(sendq.Item[[]byte]{Value: frame, Size: len(frame), Key: key, Policy: policy})
}

// abort ends the stream without a goodbye: the queue fails with cause,
// which its writer returns, and the setup context (if any) is cancelled.
func (c *conn) abort(cause error) {
	c.q.CloseWithError(cause)
	c.kick() // a hijacked stream's writer ends it
	c.s.core.Mu.Lock()
	stop := c.stop
	c.stop = nil
	c.s.core.Mu.Unlock()
	if stop != nil {
		stop(cause)
	}
}

// endSetup releases the setup context once the stream started and its
// replays are over.
func (c *conn) endSetup() {
	c.s.core.Mu.Lock()
	stop := c.stop
	c.stop = nil
	c.setup = nil // its users are done: stream's start and the replays
	c.s.core.Mu.Unlock()
	if stop != nil {
		stop(errSetupDone)
	}
}

func (c *conn) replayDone() {
	if c.replaying.Add(-1) == 0 {
		c.endSetup()
	}
}

// goAway ends the stream after what is queued, then bye.
func (c *conn) goAway(bye []byte) {
	c.bye.Store(&bye)
	c.q.Close()
	c.kick()
}

// write sends b and flushes it within the write timeout.
func (c *conn) write(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if err := rc.SetWriteDeadline(time.Now().Add(c.s.core.Config().WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := rc.Flush(); err != nil {
		return err
	}
	if c.r.ProtoMajor >= 2 {
		// An HTTP/2 write deadline is a timer that resets the stream
		// when it fires, even with no write pending: clear it, or an
		// idle stream dies WriteTimeout after its last write.
		rc.SetWriteDeadline(time.Time{})
	}
	c.lastWrite.Store(c.s.now())
	c.s.core.Counters.BytesOut.Add(uint64(len(b)))
	return nil
}

// run serves the stream until it ends and returns why. The handler
// goroutine only waits: the writing runs on a writer goroutine that lives
// while events come (lingering up to lingerTick after the last one), so an
// idle stream has no writer, and its handler, which never ran the deep
// write path, parks on the small stack it started with. done is the
// request's Done channel.
func (c *conn) run(w http.ResponseWriter, rc *http.ResponseController, done <-chan struct{}) CloseReason {
	for {
		res := make(chan CloseReason, 1)
		c.s.writers.Add(1)
		go c.writer(w, rc, done, res)
		if reason := <-res; reason != "" {
			return reason
		}
		ready := c.q.ReadyChan()
		select {
		case <-done:
			return c.gone()
		default:
		}
		if c.q.Ready() {
			continue
		}
		select {
		case <-ready:
		case <-done:
			return c.gone()
		}
	}
}

// gone is the reason of a stream whose request ended: the client went
// away, unless the queue failed first.
func (c *conn) gone() CloseReason {
	if err := c.q.Err(); err != nil && !errors.Is(err, sendq.ErrClosed) {
		return closeReason(err)
	}
	return ReasonClient
}

// writeFirst writes the stream's first block on a goroutine of its own,
// for the same reason as writer.
func (c *conn) writeFirst(w http.ResponseWriter, rc *http.ResponseController, b []byte, res chan<- error) {
	res <- c.write(w, rc, b)
}

// writer writes c's queue until the stream ends (it sends the reason to
// res) or the queue stayed empty for a whole linger tick (it sends "").
func (c *conn) writer(w http.ResponseWriter, rc *http.ResponseController, done <-chan struct{}, res chan<- CloseReason) {
	defer c.s.writers.Add(-1)
	for {
		if reason, end := c.drain(w, rc, done); end {
			res <- reason
			return
		}
		if !c.linger(done) {
			res <- ""
			return
		}
	}
}

// linger waits for more events until the server's linger tick after next
// (with no timer of its own; a writer that worked just before a tick
// stays for the following one), giving back the queue's slots meanwhile.
// It reports whether there is work.
func (c *conn) linger(done <-chan struct{}) bool {
	c.q.Release()
	return connserver.Linger(c.s.core, c.q, done)
}

// batchPool holds drain's buffers, so an idle stream keeps none.
var batchPool = sync.Pool{New: func() any { return new([]byte) }}

// maxBatch bounds the bytes drain writes with one flush.
const maxBatch = 32 << 10

// drain writes what is queued, batching it into few writes and one flush
// per maxBatch. end is true when the stream is over.
//
//go:noinline
func (c *conn) drain(w http.ResponseWriter, rc *http.ResponseController, done <-chan struct{}) (reason CloseReason, end bool) {
	st := &c.s.st
	for {
		select {
		case <-done: // the client is gone: writing on is pointless
			return c.gone(), true
		default:
		}
		it, ok, err := c.q.Poll()
		if err != nil {
			if errors.Is(err, sendq.ErrClosed) {
				if bye := c.bye.Load(); bye != nil {
					c.write(w, rc, *bye)
				}
				return ReasonShutdown, true
			}
			return closeReason(err), true
		}
		if !ok {
			return "", false
		}
		first := it.Value
		events, beats := c.count(first)
		next, more := c.q.TryNext()
		if !more { // the common case of a live feed: no copy
			if err := c.write(w, rc, first); err != nil {
				return writeReason(err), true
			}
		} else {
			bp := batchPool.Get().(*[]byte)
			buf := append(append((*bp)[:0], first...), next.Value...)
			e, b := c.count(next.Value)
			events, beats = events+e, beats+b
			var e2, b2 uint64
			buf, e2, b2 = c.appendQueued(buf)
			events, beats = events+e2, beats+b2
			err := c.write(w, rc, buf)
			if cap(buf) <= 4*maxBatch {
				*bp = buf
				batchPool.Put(bp)
			}
			if err != nil {
				return writeReason(err), true
			}
		}
		st.eventsOut.Add(events)
		st.heartbeats.Add(beats)
	}
}

// appendQueued appends events already waiting in the queue to buf, up to
// maxBatch bytes, and counts them.
func (c *conn) appendQueued(buf []byte) (_ []byte, events, beats uint64) {
	for len(buf) < maxBatch {
		it, ok := c.q.TryNext()
		if !ok {
			break
		}
		buf = append(buf, it.Value...)
		e, b := c.count(it.Value)
		events, beats = events+e, beats+b
	}
	return buf, events, beats
}

// count tells a heartbeat from an event frame (clearing hbQueued, so the
// next one can be queued).
func (c *conn) count(frame []byte) (events, beats uint64) {
	if len(frame) == len(heartbeatFrame) && &frame[0] == &heartbeatFrame[0] {
		c.hbQueued.Store(false)
		return 0, 1
	}
	return 1, 0
}

// closeReason maps the cause a stream's queue failed with to a reason.
func closeReason(err error) CloseReason {
	switch {
	case errors.Is(err, sendq.ErrSlowConsumer):
		return ReasonSlowConsumer
	case errors.Is(err, errShutdown):
		return ReasonShutdown
	case errors.Is(err, errLagged):
		return ReasonLagged
	case errors.Is(err, errCallback):
		return ReasonCallbackPanic
	}
	return ReasonClient
}

func writeReason(err error) CloseReason {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ReasonWriteTimeout
	}
	return ReasonError
}
