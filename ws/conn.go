package ws

import (
	"context"
	"errors"
	"net/http"
	"sync"
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
	// topics is guarded by hub.mu.
	topics map[string]struct{}

	writerDone chan struct{}
	ended      chan struct{} // closed after cleanup and OnClose
	pingWG     sync.WaitGroup
}

type frame struct {
	typ  websocket.MessageType
	data []byte
}

func (h *Hub) newConn(wc *websocket.Conn, r *http.Request, ip string) (*Conn, error) {
	c := &Conn{
		hub:        h,
		ws:         wc,
		ip:         ip,
		subp:       wc.Subprotocol(),
		topics:     make(map[string]struct{}),
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
		OnDrop: func(_ any, why sendq.DropReason) {
			switch why {
			case sendq.DroppedOldest:
				h.st.droppedOldest.Add(1)
			case sendq.DroppedNewest:
				h.st.droppedNewest.Add(1)
			case sendq.Coalesced:
				h.st.coalesced.Add(1)
			case sendq.DroppedTooLarge:
				h.st.droppedTooLarge.Add(1)
			}
		},
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
	h.wg.Add(2)
	return c, nil
}

func (c *Conn) start() {
	go c.writeLoop()
	go c.readLoop()
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
	out := make([]string, 0, len(c.topics))
	for t := range c.topics {
		out = append(out, t)
	}
	return out
}

// Send queues a message for c under the hub's policy. It returns
// ErrDropped or ErrTooLarge when the message was not queued (the connection
// stays open), ErrSlowConsumer when the policy disconnected c, and
// ErrConnClosed after the connection ended. ctx bounds the wait under
// policy Block.
func (c *Conn) Send(ctx context.Context, typ websocket.MessageType, data []byte) error {
	return c.push(ctx, frame{typ: typ, data: data}, "", false, Inherit)
}

// SendKeyed is Send with a coalescing key: under CoalesceByKey a queued
// message with the same key is replaced by this one.
func (c *Conn) SendKeyed(ctx context.Context, typ websocket.MessageType, key string, data []byte) error {
	return c.push(ctx, frame{typ: typ, data: data}, key, false, Inherit)
}

// SendPriority queues a message in the priority lane: never dropped by a
// policy and written before normal messages. If the priority lane is full
// (HubOptions.PriorityMessages, or 256 KiB) the client is disconnected as
// a slow consumer and ErrSlowConsumer is returned.
func (c *Conn) SendPriority(ctx context.Context, typ websocket.MessageType, data []byte) error {
	return c.push(ctx, frame{typ: typ, data: data}, "", true, Inherit)
}

func (c *Conn) push(ctx context.Context, f frame, key string, prio bool, p Policy) error {
	err := c.q.Push(ctx, sendq.Item[frame]{Value: f, Size: len(f.data), Key: key, Priority: prio, Policy: p})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sendq.ErrDropped):
		return ErrDropped
	case errors.Is(err, sendq.ErrTooLarge):
		return ErrTooLarge
	case errors.Is(err, sendq.ErrSlowConsumer):
		c.abort(ReasonSlowConsumer)
		return ErrSlowConsumer
	case errors.Is(err, sendq.ErrClosed):
		return ErrConnClosed
	}
	return err
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
}

// abort ends the connection without a close frame.
func (c *Conn) abort(r CloseReason) {
	c.setReason(r)
	c.cancel()
	c.q.CloseWithError(errAborted)
}

var errAborted = errors.New("ws: connection aborted")

func (c *Conn) setReason(r CloseReason) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.mu.Unlock()
}

func (c *Conn) writeLoop() {
	defer c.hub.wg.Done()
	defer close(c.writerDone)
	defer c.pingWG.Wait()
	defer c.cancel() // a failed write ends the reader (and a ping) too
	h := c.hub
	var next time.Time // next ping; zero when heartbeats are off
	if h.opt.PingInterval > 0 {
		next = time.Now().Add(h.opt.PingInterval)
	}
	var pinging bool
	pingDone := make(chan struct{}, 1)
	for {
		select {
		case <-pingDone:
			pinging = false
		default:
		}
		if !next.IsZero() && !time.Now().Before(next) {
			next = time.Now().Add(h.opt.PingInterval)
			if !pinging {
				pinging = true
				c.pingWG.Go(func() { c.ping(); pingDone <- struct{}{} })
			}
		}
		it, ok := c.q.TryNext() // under load, no context per message
		if !ok {
			ctx, cancel := c.ctx, context.CancelFunc(func() {})
			if !next.IsZero() {
				ctx, cancel = context.WithDeadline(c.ctx, next)
			}
			var err error
			it, err = c.q.Next(ctx)
			cancel()
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) && c.ctx.Err() == nil {
					continue // time to ping
				}
				c.finishWrites(err)
				return
			}
		}
		wctx, wcancel := context.WithTimeout(c.ctx, h.opt.WriteTimeout)
		err := c.ws.Write(wctx, it.Value.typ, it.Value.data)
		wcancel()
		if err != nil {
			if errors.Is(wctx.Err(), context.DeadlineExceeded) {
				c.setReason(ReasonWriteTimeout)
			}
			c.setReason(ReasonError)
			return
		}
		h.st.msgsOut.Add(1)
		h.st.bytesOut.Add(uint64(len(it.Value.data)))
	}
}

// ping runs on its own short-lived goroutine so messages keep flowing
// while it waits for the pong.
func (c *Conn) ping() {
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

func (c *Conn) readLoop() {
	h := c.hub
	defer h.wg.Done()
	if h.opt.OnConnect != nil {
		h.opt.OnConnect(c.ctx, c)
	}
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			c.readFailed(err)
			break
		}
		h.st.msgsIn.Add(1)
		h.st.bytesIn.Add(uint64(len(data)))
		if typ == websocket.MessageText && !utf8.Valid(data) {
			c.setReason(ReasonInvalidUTF8)
			c.closeWith(websocket.StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
			break
		}
		if h.opt.ClientTopics && typ == websocket.MessageText && c.control(data) {
			continue
		}
		if h.opt.OnMessage != nil {
			h.opt.OnMessage(c.ctx, c, typ, data)
		}
	}
	// The reader must keep reading while the writer closes, or the close
	// handshake cannot complete: drain until the writer is gone.
	c.q.Close()
	for {
		select {
		case <-c.writerDone:
		default:
			if _, _, err := c.ws.Read(c.ctx); err == nil {
				continue
			}
			// Reading failed, so the handshake is over or cannot finish:
			// end the writer, even inside a Close waiting for it.
			c.cancel()
			c.ws.CloseNow()
			<-c.writerDone
		}
		break
	}
	c.ws.CloseNow()
	c.cleanup()
}

func (c *Conn) readFailed(err error) {
	switch {
	case websocket.CloseStatus(err) != -1:
		c.setReason(ReasonClient)
	case isReadLimit(err):
		c.setReason(ReasonTooBig)
	default:
		c.setReason(ReasonError)
	}
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
	if h.opt.OnClose != nil {
		h.opt.OnClose(c, r)
	}
	close(c.ended)
}
