package ws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/connserver"
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

	mu        sync.Mutex // protects the fields below
	reason    CloseReason
	closeCode websocket.StatusCode // close frame the writer sends after draining; 0 = 1000
	closeMsg  string
	// topics and pending are guarded by the core's Mu.
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
	q, err := sendq.New[frame](&h.core.QueueOptions)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.q = q
	id, ok := h.core.Add(c)
	if !ok {
		c.cancel()
		return nil, ErrHubClosed
	}
	c.id = id
	// The reader. Safe outside the core's lock: Close waits for c to end
	// (it is registered) before it waits for WG.
	h.core.WG.Add(1)
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
	c.hub.core.WG.Add(1)
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
	c.hub.core.Mu.Lock()
	defer c.hub.core.Mu.Unlock()
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
func (c *Conn) offer(w *connserver.InlineWriter, fr []byte, size int) bool {
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
		c.hub.core.Counters.BytesOut.Add(uint64(size))
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
	if c.hub.core.Closing() {
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
		return &closedError{hub: c.hub.core.Closing()}
	}
	// The queue failed with the cause the connection ended for.
	return &closedError{hub: c.hub.core.Closing(), cause: err}
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
