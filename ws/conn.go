package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// Conn is one accepted WebSocket connection. Its methods are safe for
// concurrent use. A Conn is valid until OnClose has run; methods on an ended
// connection return ErrConnClosed or do nothing.
type Conn struct {
	hub  *Hub
	ws   *websocket.Conn
	cork *corkConn // under ws; the writer batches through it
	id   uint64
	ip   string
	subp string
	q    *sendq.Queue[frame]

	ctx    context.Context // upgrade request's values; cancelled when the connection ends
	cancel context.CancelFunc

	mu        sync.Mutex // protects the fields below and topics (with hub.mu for topics)
	reason    CloseReason
	closeCode websocket.StatusCode // close frame the writer sends after draining; 0 = 1000
	closeMsg  string
	// topics and pending are guarded by hub.mu.
	topics  map[string]struct{}
	pending int // Subscribe calls for c waiting for the broker

	pinging    atomic.Bool   // a ping is waiting for its pong
	writerOn   atomic.Bool   // a writer goroutine runs (or has ended for good)
	writerDone chan struct{} // closed when the writer has ended for good
	join       *[]byte       // writer only: text messages joined so far (JoinSeparator), from joinBufs during a pass
	joined     int           // writer only: how many are in join
	ended      chan struct{} // closed after cleanup and OnClose
}

type frame struct {
	typ  websocket.MessageType
	data []byte
}

func (h *Hub) newConn(wc *websocket.Conn, cork *corkConn, r *http.Request, ip string) (*Conn, error) {
	c := &Conn{
		hub:        h,
		ws:         wc,
		cork:       cork,
		ip:         ip,
		subp:       wc.Subprotocol(),
		writerDone: make(chan struct{}),
		ended:      make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(r.Context()))
	q, err := sendq.New[frame](&sendq.Options{
		Policy:              h.opt.Policy,
		MaxMessages:         h.opt.QueueMessages,
		PriorityMaxMessages: h.opt.PriorityMessages,
		MaxBytes:            h.opt.QueueBytes,
		BlockTimeout:        h.opt.BlockTimeout,
		OnDrop:              h.st.drops.Count,
	})
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.q = q
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		c.cancel()
		return nil, ErrHubClosed
	}
	h.nextID++
	c.id = h.nextID
	h.conns[c] = struct{}{}
	h.st.opened.Add(1)
	h.wg.Add(1) // the reader; a writer adds itself in kick
	if !h.pinger {
		h.pinger = true
		h.wg.Go(h.pingLoop)
	}
	return c, nil
}

func (c *Conn) start() {
	go c.readLoop()
}

// kick starts the writer unless it runs: after a push, and after the queue
// was closed (so the writer sends the close frame and ends for good). The
// writer exits when the queue stays empty (see linger), so an idle
// connection has no writer goroutine. kick always follows a change the
// writer must see, and
// the reader has not ended yet (the queue is closed before it does), so
// the hub's WaitGroup is never at zero here.
func (c *Conn) kick() {
	if c.writerOn.CompareAndSwap(false, true) {
		c.startWriter()
	}
}

// startWriter starts the writer goroutine; the caller has set writerOn.
func (c *Conn) startWriter() {
	c.hub.writerStarts.Add(1)
	c.hub.wg.Add(1)
	go c.writeLoop()
}

// ID returns the connection's number, unique within its hub.
func (c *Conn) ID() uint64 { return c.id }

// RemoteIP returns the client address counted against MaxConnsPerIP.
func (c *Conn) RemoteIP() string { return c.ip }

// Subprotocol returns the negotiated subprotocol, "" if none.
func (c *Conn) Subprotocol() string { return c.subp }

// Context returns a context with the upgrade request's values, cancelled
// when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

// Topics returns the topics c is subscribed to, in no particular order.
func (c *Conn) Topics() []string {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	out := make([]string, 0, len(c.topics)) // a nil map reads as empty
	for t := range c.topics {
		out = append(out, t)
	}
	return out
}

// Send queues a message for c under the hub's policy; typ is
// websocket.MessageText (data must be valid UTF-8) or MessageBinary, else
// ErrInvalidMessage. It returns ErrDropped or ErrTooLarge when the message
// was not queued (the connection stays open), ErrSlowConsumer when the
// policy disconnected c, ErrHubClosed once the hub is shutting down, and
// ErrConnClosed after the connection ended (wrapping the cause, such as a
// failed write). Every error for a connection that has ended, or is being
// closed as a slow consumer, matches ErrConnClosed. ctx bounds the wait
// under policy Block.
func (c *Conn) Send(ctx context.Context, typ websocket.MessageType, data []byte) error {
	return c.push(ctx, frame{typ: typ, data: data}, "", false)
}

// SendKeyed is Send with a coalescing key: under CoalesceByKey a queued
// message with the same key is replaced by this one.
func (c *Conn) SendKeyed(ctx context.Context, typ websocket.MessageType, key string, data []byte) error {
	return c.push(ctx, frame{typ: typ, data: data}, key, false)
}

// SendPriority queues a message in the priority lane: never dropped by a
// policy and written before normal messages. If the priority lane is full
// (HubOptions.PriorityMessages, or 256 KiB) the client is disconnected as
// a slow consumer and ErrSlowConsumer is returned. Other errors are as
// for Send.
func (c *Conn) SendPriority(ctx context.Context, typ websocket.MessageType, data []byte) error {
	return c.push(ctx, frame{typ: typ, data: data}, "", true)
}

func (c *Conn) push(ctx context.Context, f frame, key string, prio bool) error {
	switch f.typ {
	case websocket.MessageText:
		if !utf8.Valid(f.data) {
			return ErrInvalidMessage
		}
	case websocket.MessageBinary:
	default:
		return ErrInvalidMessage
	}
	return c.pushItem(ctx, sendq.Item[frame]{Value: f, Size: len(f.data), Key: key, Priority: prio})
}

// closedError is what Send returns for a connection that has ended: it
// matches ErrConnClosed, and ErrHubClosed when the hub is closing, and
// wraps the cause.
type closedError struct {
	hub   bool
	cause error
}

func (e *closedError) Error() string {
	msg := ErrConnClosed.Error()
	if e.hub {
		msg = ErrHubClosed.Error()
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

func (e *closedError) Is(target error) bool {
	return target == ErrConnClosed || e.hub && target == ErrHubClosed
}

func (e *closedError) Unwrap() error { return e.cause }

// pushBatch queues a fan-out's frames (in order, one lock, one writer
// wakeup) and starts the writer.
func (c *Conn) pushBatch(ctx context.Context, items []sendq.Item[frame]) {
	n, err := c.q.PushBatch(ctx, items)
	if n > 0 {
		c.kick()
	}
	if errors.Is(err, sendq.ErrSlowConsumer) {
		c.abort(ReasonSlowConsumer)
	}
}

// maxInlineBytes bounds the messages a fan-out writes inline (offer).
const maxInlineBytes = 16 << 10

// offer writes fr, the encoded frame of one fan-out message of size
// bytes, straight to the socket when c has nothing queued and no writer
// runs, and the socket takes it without waiting; it reports false when
// the caller must queue the message instead. It takes the writer role
// (writerOn) for the write, so the queue's order holds: what is queued
// meanwhile waits for it and is written after it.
func (c *Conn) offer(w *inlineWriter, fr []byte, size int) bool {
	if c.cork.rc == nil || !c.writerOn.CompareAndSwap(false, true) { // rc is set before c is shared
		return false
	}
	if c.q.Ready() { // queued messages (or an end) go first
		c.writerOn.Store(false)
		return false
	}
	sent, rest := c.cork.writeInline(w, fr)
	if sent {
		c.hub.st.msgsOut.Add(1)
		c.hub.st.bytesOut.Add(uint64(size))
	}
	if rest { // the socket is full: the writer writes the rest first
		c.startWriter() // the fan-out's goroutine is counted: wg is not at zero
		return true
	}
	c.writerOn.Store(false)
	if c.q.Ready() { // a push or close that found writerOn taken
		c.kick()
	}
	return sent
}

func (c *Conn) pushItem(ctx context.Context, it sendq.Item[frame]) error {
	if c.hub.shut.Load() {
		return &closedError{hub: true}
	}
	err := c.q.Push(ctx, it)
	switch {
	case err == nil:
		c.kick()
		return nil
	case errors.Is(err, sendq.ErrDropped):
		return ErrDropped
	case errors.Is(err, sendq.ErrTooLarge):
		return ErrTooLarge
	case errors.Is(err, sendq.ErrSlowConsumer):
		c.abort(ReasonSlowConsumer)
		return &closedError{cause: ErrSlowConsumer}
	case ctx.Err() != nil && errors.Is(err, ctx.Err()): // Block's wait ended
		return err
	case errors.Is(err, sendq.ErrClosed):
		return &closedError{hub: c.hub.shut.Load()}
	}
	// The queue failed with the cause the connection ended for.
	return &closedError{hub: c.hub.shut.Load(), cause: err}
}

// Close sends a close frame with code and reason after the messages
// already queued, then ends the connection. It does not wait.
func (c *Conn) Close(code websocket.StatusCode, reason string) {
	c.setReason(ReasonServer)
	c.closeWith(code, reason)
}

func (c *Conn) goAway() {
	c.setReason(ReasonShutdown)
	c.closeWith(websocket.StatusGoingAway, c.hub.opt.ShutdownReason)
}

// closeWith makes the writer send the close frame once the queue drains.
func (c *Conn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closeCode == 0 {
		c.closeCode, c.closeMsg = code, reason
	}
	c.mu.Unlock()
	c.q.Close()
	c.kick()
}

// abort ends the connection without a close frame.
func (c *Conn) abort(r CloseReason) {
	c.setReason(r)
	c.cork.kill() // no flush waits for a client that is not reading
	c.cancel()
	c.q.CloseWithError(fmt.Errorf("dropped (%s)", r))
	c.kick()
}

func (c *Conn) setReason(r CloseReason) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.mu.Unlock()
}

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
	defer h.wg.Done()
	if err := c.cork.flushRest(time.Now().Add(h.opt.WriteTimeout)); err != nil {
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
		if uerr := c.cork.uncork(time.Now().Add(h.opt.WriteTimeout)); err == nil {
			err = uerr
		}
		busy = n > 1
		h.st.msgsOut.Add(uint64(n))
		h.st.bytesOut.Add(uint64(size))
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// linger waits for more messages for lingerWait of the hub's linger
// ticks (200–300ms, with no timer of its own): under a steady feed the
// writer stays parked between messages instead of exiting and being
// started again for each one. It reports whether there is work.
func (c *Conn) linger() bool {
	tick := c.hub.lingerChan()
	ready := c.q.ReadyChan()
	if c.q.Ready() {
		return true
	}
	select {
	case <-ready:
		return true
	case <-tick:
		return c.q.Ready()
	case <-c.ctx.Done():
		return c.q.Ready()
	}
}

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

// readLoop is the connection's reader goroutine. Its deferred call ends
// the connection whichever way reading stopped, including a
// runtime.Goexit in a callback (which callback has counted, and which has
// started a close with 1011 that drain completes).
func (c *Conn) readLoop() {
	defer c.hub.wg.Done()
	var failed error
	defer func() {
		if failed != nil {
			c.readFailed(failed)
		} else {
			c.drain()
		}
		c.ws.CloseNow()
		c.cleanup()
	}()
	failed = c.read()
}

// read runs OnConnect, then reads messages into OnMessage until a read
// fails (the error) or the hub starts closing a sound connection (nil):
// invalid UTF-8, or a callback that panicked.
func (c *Conn) read() error {
	h := c.hub
	if h.opt.OnConnect != nil && !c.callback(func() { h.opt.OnConnect(c.ctx, c) }) {
		return nil
	}
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return err
		}
		h.st.msgsIn.Add(1)
		h.st.bytesIn.Add(uint64(len(data)))
		if typ == websocket.MessageText && !utf8.Valid(data) {
			c.setReason(ReasonInvalidUTF8)
			c.closeWith(websocket.StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
			return nil
		}
		if h.opt.ClientTopics && typ == websocket.MessageText {
			if handled, ok := c.control(data); !ok {
				return nil
			} else if handled {
				continue
			}
		}
		if h.opt.OnMessage != nil && !c.callback(func() { h.opt.OnMessage(c.ctx, c, typ, data) }) {
			return nil
		}
	}
}

// drain completes a close the hub started while the connection is sound
// (invalid UTF-8): the reader must keep reading while the writer closes,
// or the close handshake cannot complete. It reads until the writer is
// gone.
func (c *Conn) drain() {
	c.q.Close()
	c.kick()
	for {
		select {
		case <-c.writerDone:
			return
		default:
		}
		if _, _, err := c.ws.Read(c.ctx); err != nil {
			// The handshake is over or cannot finish: end the writer,
			// even inside a Close waiting for it.
			c.cancel()
			c.ws.CloseNow()
			<-c.writerDone
			return
		}
	}
}

// readFailed ends the connection after a read failed; nothing more is
// read from the client. A client that broke the protocol gets its close
// frame (1002, or 1009 for a message over ReadLimit, which coder/websocket
// has sent already) and the TCP connection is closed at once, without
// waiting for a close handshake the peer may never finish.
func (c *Conn) readFailed(err error) {
	switch {
	case websocket.CloseStatus(err) != -1:
		// The client's close frame: coder/websocket has answered it and
		// closed the connection (or a Close of ours in progress will).
		c.setReason(ReasonClient)
	case c.ctx.Err() != nil:
		// The hub ended the connection, with its reason.
	case isReadLimit(err):
		c.setReason(ReasonTooBig)
		c.failClose(websocket.StatusMessageTooBig, "")
	case isIOError(err):
		// The connection failed or the peer went away: nothing to say.
	default:
		c.setReason(ReasonProtocol)
		c.failClose(websocket.StatusProtocolError, "protocol error")
	}
	c.cancel()
	c.ws.CloseNow()
	c.q.CloseWithError(fmt.Errorf("read: %w", err))
	c.kick() // a writer ends now (or starts to end at once)
	<-c.writerDone
}

// failClose sends a close frame with code, unless coder/websocket sent
// one already for the error it found, and closes the connection. Reads
// are made to fail first: Close would otherwise parse what the peer sent
// after the bad frame and wait up to 5s for its close frame. Only bytes
// already buffered are looked at, and since the close frame goes first
// nothing is answered.
func (c *Conn) failClose(code websocket.StatusCode, reason string) {
	c.cork.stop(time.Now().Add(closeFlushTimeout))
	c.ws.Close(code, reason)
}

// isIOError reports whether a read failed in the transport rather than
// in the WebSocket protocol.
func isIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

func (c *Conn) cleanup() {
	h := c.hub
	c.cancel()
	h.mu.Lock()
	for t := range c.topics {
		h.unsubscribeLocked(c, t)
	}
	delete(h.conns, c)
	h.releaseLocked(c.ip)
	c.mu.Lock()
	r := c.reason
	if r == "" {
		r = ReasonError
	}
	c.mu.Unlock()
	h.st.closedBy(r)
	h.mu.Unlock()
	defer close(c.ended) // also after a runtime.Goexit in OnClose
	if h.opt.OnClose != nil {
		guard(func() { h.opt.OnClose(c, r) }, h.countFailed)
	}
}
