package ws

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
)

// joinBufs holds the buffers text messages are joined in (JoinSeparator)
// during a writer pass; reusing them saves growing one from scratch at
// every pass of a writer that went idle in between.
var joinBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Batch bounds: a writer wakeup writes at most this many queued messages
// (or bytes, whichever comes first) with one system call, so a ping or
// close frame collected meanwhile waits for at most one batch.
const (
	maxBatchMessages = 256
	maxBatchBytes    = 64 << 10
)

// writeLoop takes everything queued at each pass and writes it as
// separate WebSocket messages through the cork: one system call per batch
// instead of one per message. It returns when the queue has stayed empty
// until a linger tick (kick starts it again) or, for good, once the queue
// is closed or failed.
func (c *Conn) writeLoop() {
	h := c.hub
	defer h.core.WG.Done()
	wt := h.core.Config().WriteTimeout
	if err := c.cork.flushRest(time.Now().Add(wt)); err != nil {
		c.writeFailed(err)
		return
	}
	busy := false // the last pass wrote more than one message
	for {
		it, ok, err := c.q.Poll()
		if err != nil {
			c.endWrites(err)
			return
		}
		if !ok && busy {
			// Under load more is usually on its way: look once more
			// before parking.
			busy = false
			runtime.Gosched()
			continue
		}
		if !ok && c.linger() {
			continue
		}
		if !ok {
			// Idle: stop, unless a push or close slipped in after Poll
			// (its kick saw this writer running and started none). The
			// queue gives back its slots while idle.
			c.q.Release()
			c.writerOn.Store(false)
			if !c.q.Ready() || !c.writerOn.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		c.cork.cork()
		var n, size int
		for {
			if sep := h.opt.JoinSeparator; sep != nil && !it.Priority && it.Value.typ == websocket.MessageText {
				if c.join == nil {
					c.join = joinBufs.Get().(*[]byte)
				}
				if c.joined > 0 {
					*c.join = append(*c.join, sep...)
				}
				*c.join = append(*c.join, it.Value.data...)
				c.joined++
			} else {
				if err = c.flushJoined(); err != nil {
					break
				}
				if err = c.writeFrame(it.Value.typ, it.Value.data); err != nil {
					break
				}
			}
			n++
			size += len(it.Value.data)
			if n >= maxBatchMessages || size >= maxBatchBytes {
				break
			}
			if it, ok = c.q.TryNext(); !ok {
				break
			}
		}
		if err == nil {
			err = c.flushJoined()
		}
		if c.join != nil { // give the buffer back: the connection may go idle
			if cap(*c.join) <= maxBatchBytes+64<<10 {
				*c.join = (*c.join)[:0]
				joinBufs.Put(c.join)
			}
			c.join, c.joined = nil, 0
		}
		if uerr := c.cork.uncork(time.Now().Add(wt)); err == nil {
			err = uerr
		}
		busy = n > 1
		h.st.msgsOut.Add(uint64(n))
		h.core.Counters.BytesOut.Add(uint64(size))
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// linger waits for more messages for lingerWait of the core's linger
// ticks (200–300ms, with no timer of its own): under a steady feed the
// writer stays parked between messages instead of exiting and being
// started again for each one. It reports whether there is work.
func (c *Conn) linger() bool { return connserver.Linger(c.hub.core, c.q, c.ctx.Done()) }

// writeFrame collects one message in the corked connection. Corked writes
// do not block on the network, so they need no deadline; uncork's write
// carries WriteTimeout.
func (c *Conn) writeFrame(typ websocket.MessageType, data []byte) error {
	if c.cork.frames {
		return c.cork.appendFrame(byte(typ), data)
	}
	return c.ws.Write(context.Background(), typ, data)
}

// flushJoined writes the text messages joined so far as one message.
func (c *Conn) flushJoined() error {
	if c.joined == 0 {
		return nil
	}
	err := c.writeFrame(websocket.MessageText, *c.join)
	*c.join, c.joined = (*c.join)[:0], 0
	return err
}

// endWrites ends the writer for good, after the queue was closed or
// failed: writerOn stays set, so kick starts no other.
func (c *Conn) endWrites(err error) {
	c.finishWrites(err)
	c.cancel() // the connection is closed: end the reader (and a ping)
	c.q.CloseWithError(err)
	close(c.writerDone)
}

// writeFailed ends the writer for good after a failed write. The reader
// is not cut off at once: when the client closed the connection (coder/
// websocket closes it after answering the client's close frame, or the
// peer reset it), the reader is about to say so, and the close is counted
// as the client's. It gets closeFlushTimeout to do so; a write that timed
// out ends it at once.
func (c *Conn) writeFailed(err error) {
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	if timedOut {
		c.setReason(ReasonWriteTimeout) // unless the hub or reader decided first
	}
	// Later pushes fail with err instead of waiting for a writer; before
	// cancel, so the reader it ends does not close the queue first with
	// its own "context canceled".
	c.q.CloseWithError(err)
	if timedOut {
		c.cancel()
	} else {
		c.cork.expireReads(time.Now().Add(closeFlushTimeout))
	}
	close(c.writerDone)
}

// ping runs on a short-lived goroutine started by the hub's pinger, so
// messages keep flowing while it waits for the pong.
func (c *Conn) ping() {
	defer c.pinging.Store(false)
	h := c.hub
	ctx, cancel := context.WithTimeout(c.ctx, h.opt.PongTimeout)
	defer cancel()
	start := time.Now()
	err := c.ws.Ping(ctx)
	if err == nil {
		h.st.recordRTT(time.Since(start))
		return
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && c.ctx.Err() == nil {
		h.st.pingTimeouts.Add(1)
		c.abort(ReasonPingTimeout)
	}
}

// finishWrites ends the writer after Next failed: a graceful close sends
// the pending close frame, a failed queue ends the connection.
func (c *Conn) finishWrites(err error) {
	if errors.Is(err, sendq.ErrClosed) {
		c.mu.Lock()
		code, msg := c.closeCode, c.closeMsg
		c.mu.Unlock()
		if code == 0 {
			code = websocket.StatusNormalClosure
		}
		// Close waits for the client's close frame (which the reader
		// receives) for at most 5s, then drops the TCP connection.
		c.ws.Close(code, msg)
		return
	}
	if errors.Is(err, sendq.ErrSlowConsumer) {
		c.setReason(ReasonSlowConsumer)
		c.ws.Close(websocket.StatusPolicyViolation, "slow consumer")
	}
}
