package ws

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Hub accepts WebSocket connections and fans messages out to them through
// topics on a pubsub.Broker. It is an http.Handler. All methods are safe for
// concurrent use.
//
// Each connection has a reader goroutine owned by the hub, a writer
// goroutine while messages are queued for it, and a short-lived one while a
// ping waits for its pong; one hub goroutine schedules the pings; each
// topic with local subscribers has a fan-out goroutine and one reading its
// broker subscription. Shutdown and Close join them all.
//
// Admission, limits, origin checks, the topic registry, the clock and
// shutdown are the connection-server core's (internal/connserver), shared
// with sse; the hub is the WebSocket protocol over it.
type Hub struct {
	opt    HubOptions
	core   *connserver.Server[*Conn, struct{}]
	accept websocket.AcceptOptions
	public map[string]struct{} // HubOptions.PublicTopics

	// corkHook, set by tests, sees every Write coder/websocket makes.
	corkHook atomic.Pointer[func([]byte)]
	// writerStarts counts writer goroutines started (tests).
	writerStarts atomic.Uint64

	due []*Conn // the clock's: connections to ping at this beat

	st counters
}

// topic is a topic with local subscribers; its fields are guarded by the
// core's Mu.
type topic = connserver.Topic[*Conn, struct{}]

// lingerWait is how many of the core's linger ticks (100ms) an idle writer
// waits for more messages before its goroutine exits (200–300ms idle).
const lingerWait = 3

var _ http.Handler = (*Hub)(nil)

// NewHub returns a hub; a nil opts means defaults. It returns an error for
// invalid options (a negative value where the field gives it no meaning
// names the field) or when the default broker cannot be made.
func NewHub(opts *HubOptions) (*Hub, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hub{opt: o}
	h.core, err = connserver.New(o.config(), o.Broker, connserver.Hooks[*Conn, struct{}]{
		Start:  h.startFanOut,
		Beat:   h.beat,
		GoAway: (*Conn).goAway,
		Abort:  func(c *Conn) { c.abort(ReasonShutdown) },
		Ended:  func(c *Conn) <-chan struct{} { return c.ended },
	})
	if err != nil {
		return nil, err
	}
	h.core.QueueOptions.PriorityMaxMessages = o.PriorityMessages
	h.accept = websocket.AcceptOptions{
		Subprotocols:       o.Subprotocols,
		InsecureSkipVerify: true, // the core checked the origin before the reservation
		CompressionMode:    o.CompressionMode,
	}
	if len(o.PublicTopics) > 0 {
		h.public = make(map[string]struct{}, len(o.PublicTopics))
		for _, t := range o.PublicTopics {
			h.public[t] = struct{}{}
		}
	}
	return h, nil
}

// ServeHTTP upgrades the request to a WebSocket connection. It answers 403
// for a cross-origin request that OriginPatterns do not allow, 503 with
// Retry-After when the hub is at a connection limit or shutting down, and
// 500 when HubOptions.ClientIP panics or calls runtime.Goexit, all before
// the upgrade. It returns once the connection's goroutines are started;
// the request context's values stay available to the handlers.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ok, _ := h.core.CheckOrigin(w, r); !ok {
		return
	}
	ip, ok := h.core.Admit(w, r)
	if !ok {
		return
	}
	cw := &corkWriter{ResponseWriter: w, hook: h.corkHook.Load()}
	var rw http.ResponseWriter = cw
	if !canHijack(w) {
		rw = w // Accept answers 501 before writing anything
	}
	wc, err := websocket.Accept(rw, r, &h.accept)
	if err == nil && cw.cork == nil { // cannot happen: Accept hijacks through cw
		wc.CloseNow()
		err = errors.New("ws: connection not hijacked through the hub's writer")
	}
	if err != nil {
		// Accept has answered (400/426 for a bad handshake).
		h.st.rejectedHandshake.Add(1)
		h.core.Release(ip)
		return
	}
	wc.SetReadLimit(h.opt.ReadLimit)
	// Without compression the writer encodes its frames itself.
	cw.cork.frames = cw.Header().Get("Sec-WebSocket-Extensions") == ""
	if cw.cork.frames {
		cw.cork.rc = connserver.RawConn(cw.cork.Conn) // the fan-out may write its frames inline
	}
	c, err := h.newConn(wc, cw.cork, r, ip)
	if err != nil {
		wc.Close(websocket.StatusGoingAway, h.opt.ShutdownReason)
		h.core.Release(ip)
		return
	}
	c.start()
}

// Conns returns the open connections in no particular order.
func (h *Hub) Conns() []*Conn { return h.core.Conns() }

// Publish sends data to every connection subscribed to topic on every hub
// sharing the broker, and returns the broker's message ID. Valid UTF-8 goes
// out as a text message, anything else as binary. ctx bounds the broker
// call only. The hub keeps data; do not modify it afterwards.
func (h *Hub) Publish(ctx context.Context, topicName string, data []byte) (string, error) {
	id, err := h.core.Publish(ctx, topicName, data)
	if errors.Is(err, connserver.ErrClosing) {
		return "", ErrHubClosed
	}
	return id, err
}

// Subscribe adds c to topic: messages published to it afterwards, on any
// hub sharing the broker, are queued to c. Subscribing twice is a no-op.
// It returns ErrTooManyTopics when c is in HubOptions.MaxTopicsPerConn
// topics already. The first local subscriber of a topic subscribes the hub
// to the broker (without holding the hub's lock; concurrent callers for
// the same topic wait for it); ctx bounds that call and that wait.
func (h *Hub) Subscribe(ctx context.Context, c *Conn, topicName string) error {
	if c.hub != h {
		return errors.New("ws: Subscribe: connection belongs to another hub")
	}
	_, err := h.core.Join(ctx, topicName, &connserver.Joiner[*Conn, struct{}]{
		Check: func(t *topic) error {
			if _, ok := h.core.ConnsLocked()[c]; !ok {
				return ErrConnClosed
			}
			if _, ok := c.topics[topicName]; ok {
				return connserver.ErrJoined
			}
			if limit := h.opt.MaxTopicsPerConn; limit > 0 && len(c.topics)+c.pending >= limit {
				return ErrTooManyTopics
			}
			if t == nil {
				c.pending++ // Join subscribes: counts against the limit until settled
			}
			return nil
		},
		Add: func(t *topic) {
			if c.topics == nil {
				c.topics = make(map[string]struct{})
			}
			c.topics[t.Name] = struct{}{}
			t.Members[c] = struct{}{}
			t.Gen++
		},
		Settled: func() bool {
			c.pending--
			_, alive := h.core.ConnsLocked()[c]
			return alive
		},
	})
	switch {
	case errors.Is(err, connserver.ErrClosing):
		return ErrHubClosed
	case errors.Is(err, connserver.ErrGone):
		return ErrConnClosed
	}
	return err
}

// Unsubscribe removes c from topic. Unsubscribing from a topic c is not in
// is a no-op.
func (h *Hub) Unsubscribe(c *Conn, topicName string) {
	h.core.Mu.Lock()
	defer h.core.Mu.Unlock()
	h.unsubscribeLocked(c, topicName)
}

func (h *Hub) unsubscribeLocked(c *Conn, topicName string) {
	delete(c.topics, topicName)
	if t := h.core.TopicLocked(topicName); t != nil {
		h.core.LeaveLocked(t, c)
	}
}

// fanBatch bounds how many broker messages the fan-out takes at once.
// When it falls behind the publisher, it pushes up to this many messages
// into each queue under one lock and wakes each writer once for them, so
// a writer pass writes them all with one system call; when it keeps up,
// it takes them one by one as they come.
const fanBatch = 64

// fanOut copies a topic's messages from the broker into its connections'
// queues; it ends when the subscription is closed. Every queue gets the
// same frames (the payloads are shared, never copied), and the subscriber
// list is copied only when it changed. A helper goroutine (subscriptions
// have no non-blocking Next) reads the broker into msgs so that the
// fan-out can take what has piled up while it was busy. Its state lives
// here rather than on its goroutine's stack, so that a runtime.Goexit in
// TopicKey, which ends the goroutine, loses nothing: another goes on.
type fanOut struct {
	h       *Hub
	t       *topic
	msgs    chan fanMsg
	policy  sendq.Policy
	targets []*Conn
	gen     uint64
	items   []sendq.Item[frame]      // taken, not yet queued
	iw      *connserver.InlineWriter // nil where inline writes are not supported
	fr      []byte                   // the encoded frame written inline
}

// startFanOut starts a topic's fan-out; the core calls it with its Mu
// held once the topic's broker subscription is made.
func (h *Hub) startFanOut(t *topic) {
	f := &fanOut{h: h, t: t, msgs: make(chan fanMsg, fanBatch), policy: t.Policy, gen: ^uint64(0), iw: connserver.NewInlineWriter()}
	sub := t.Sub
	h.core.WG.Go(func() { readBroker(context.Background(), sub, f.msgs) })
	h.core.WG.Go(f.run)
}

func (f *fanOut) run() {
	returned := false
	defer func() {
		if !returned { // TopicKey called runtime.Goexit (counted)
			f.h.core.WG.Go(f.run)
		}
	}()
	for {
		end := false
		if len(f.items) == 0 { // else a Goexit interrupted the last round
			end = f.take()
		}
		if len(f.items) > 0 {
			f.queue()
		}
		if end {
			returned = true
			return
		}
	}
}

// take waits for one message, then takes what else is waiting, up to
// fanBatch; true means readBroker has returned.
func (f *fanOut) take() (end bool) {
	for m := range fanMsgs(f.msgs) {
		if m.err != nil {
			if lag := (*pubsub.LagError)(nil); errors.As(m.err, &lag) {
				f.h.core.Counters.BrokerSkipped.Add(max(lag.Missed, 1))
				continue
			}
			return true
		}
		fr := frame{typ: messageType(m.msg.Data), data: m.msg.Data}
		f.items = append(f.items, f.item(fr, f.topicKey(fr)))
		if len(f.items) == fanBatch {
			break
		}
	}
	return false
}

func (f *fanOut) item(fr frame, key string) sendq.Item[frame] {
	return sendq.Item[frame]{Value: fr, Size: len(fr.data), Key: key, Policy: f.policy}
}

// queue pushes the taken messages into every subscriber's queue.
func (f *fanOut) queue() {
	h, t := f.h, f.t
	h.core.Mu.Lock()
	if t.Gen != f.gen {
		f.gen = t.Gen
		clear(f.targets)
		f.targets = f.targets[:0]
		for c := range t.Members {
			f.targets = append(f.targets, c)
		}
	}
	h.core.Mu.Unlock()
	now := time.Now() // one clock read for the whole fan-out
	for i := range f.items {
		f.items[i].Enqueued = now
	}
	// Keeping up (one message taken), write it straight to each
	// connection with nothing queued: the frame is the same for all.
	inline := f.iw != nil && len(f.items) == 1 && len(f.msgs) == 0 &&
		f.items[0].Size <= min(h.core.Config().QueueBytes, maxInlineBytes)
	if inline {
		f.fr = encodeFrame(f.fr[:0], byte(f.items[0].Value.typ), f.items[0].Value.data)
	}
	for _, c := range f.targets {
		if inline && c.offer(f.iw, f.fr, f.items[0].Size) {
			continue
		}
		c.pushBatch(context.Background(), f.items)
	}
	if cap(f.fr) > 2*maxInlineBytes {
		f.fr = nil
	}
	clear(f.items)
	f.items = f.items[:0]
	// Behind the publishers, let the writers just woken run before the
	// next batch: a fan-out that keeps its core would fill the queues of
	// clients that are fast but not yet scheduled, and drop. Keeping up,
	// it waits for the next message anyway.
	if len(f.msgs) > 0 {
		runtime.Gosched()
	}
}

// fanMsg is a broker message, or the error that ended or interrupted the
// subscription.
type fanMsg struct {
	msg pubsub.Message
	err error
}

// readBroker sends the subscription's messages and errors to msgs, and
// returns after sending the error that ends the subscription.
func readBroker(ctx context.Context, sub pubsub.Subscription, msgs chan<- fanMsg) {
	for {
		m, err := sub.Next(ctx)
		msgs <- fanMsg{m, err}
		if lag := (*pubsub.LagError)(nil); err != nil && !errors.As(err, &lag) {
			return
		}
	}
}

// fanMsgs yields the next message from msgs, waiting for it, and then the
// ones already waiting, without waiting; the caller stops when it wants.
func fanMsgs(msgs <-chan fanMsg) func(yield func(fanMsg) bool) {
	return func(yield func(fanMsg) bool) {
		if !yield(<-msgs) {
			return
		}
		for {
			select {
			case m := <-msgs:
				if !yield(m) {
					return
				}
			default:
				return
			}
		}
	}
}

// beat runs on the core's clock BeatSlots times per PingInterval: it pings
// the connections of this slot (by ID), each from a short-lived goroutine,
// so an idle connection has no timer and no goroutine of its own for
// heartbeats.
func (h *Hub) beat(slot uint64) {
	h.core.Mu.Lock()
	if h.core.ClosingLocked() {
		h.core.Mu.Unlock()
		return
	}
	for c := range h.core.ConnsLocked() {
		if c.id%connserver.BeatSlots == slot && c.pinging.CompareAndSwap(false, true) {
			h.due = append(h.due, c)
		}
	}
	h.core.WG.Add(len(h.due))
	h.core.Mu.Unlock()
	for _, c := range h.due {
		go func() {
			defer h.core.WG.Done()
			c.ping()
		}()
	}
	clear(h.due)
	h.due = h.due[:0]
}

// Shutdown stops accepting connections (new upgrades get 503) and closes
// every open connection with 1001 "going away" and HubOptions.ShutdownReason,
// ShutdownBatch connections at a time with a random pause of up to
// ShutdownJitter between batches. Each connection's queued messages are
// flushed first, within WriteTimeout. It then waits for the connections'
// goroutines and releases the hub like Close. If ctx ends first, the
// remaining connections are dropped without a close frame and Shutdown
// returns ctx.Err() after joining every goroutine. Safe to call more than
// once and together with Close.
//
// net/http does not track hijacked connections: wire Shutdown into the
// server's with [Hub.RegisterOnShutdown].
func (h *Hub) Shutdown(ctx context.Context) error { return h.core.Shutdown(ctx) }

// RegisterOnShutdown makes srv call h.Shutdown, with a context bounded by
// timeout (zero or negative means 10s), when srv starts shutting down:
// *http.Server runs it in its Shutdown, httpx.Server when draining starts
// (its RegisterOnShutdown is OnDrain), so upgrades get 503 while a load
// balancer still sends traffic and clients reconnect elsewhere. It is the
// documented way to close hijacked WebSocket connections when the server
// stops.
func (h *Hub) RegisterOnShutdown(srv interface{ RegisterOnShutdown(func()) }, timeout time.Duration) {
	connserver.RegisterOnShutdown(srv, timeout, h.Shutdown)
}

// Close drops every connection at once (no close frame; see Shutdown for
// the graceful way), closes the broker if the hub made it, and waits for
// all goroutines the hub started. Idempotent; later calls return the first
// call's result.
func (h *Hub) Close() error { return h.core.Close() }

// messageType picks text for UTF-8 payloads (JSON, most feeds) and binary
// otherwise, so browsers hand text to onmessage as a string.
func messageType(data []byte) websocket.MessageType {
	if utf8.Valid(data) {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}
