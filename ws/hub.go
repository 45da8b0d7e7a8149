package ws

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

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
type Hub struct {
	opt        HubOptions
	broker     pubsub.Broker
	ownBroker  bool
	accept     websocket.AcceptOptions
	retryAfter string
	public     map[string]struct{} // HubOptions.PublicTopics
	customIP   bool                // HubOptions.ClientIP is the application's

	// shut is closing, readable without mu (Conn.Send checks it).
	shut atomic.Bool
	// corkHook, set by tests, sees every Write coder/websocket makes.
	corkHook atomic.Pointer[func([]byte)]
	// writerStarts counts writer goroutines started (tests).
	writerStarts atomic.Uint64

	mu        sync.Mutex // protects the fields below
	conns     map[*Conn]struct{}
	perIP     map[string]int // reserved or open connections per client IP
	active    int            // reserved or open connections
	topics    map[string]*topic
	closing   bool
	pinger    bool // pingLoop runs (started with the first connection)
	lingerOff bool // pingLoop has ended: writers do not linger
	nextID    uint64
	wg        sync.WaitGroup // connection and topic goroutines
	closeErr  error

	closeOnce sync.Once
	done      chan struct{} // closed when Close begins

	// lingerTicks counts pingLoop's linger ticks; lingerWheel holds the
	// channels closed at the next ticks, by tick number modulo its size.
	// Both change under mu and are read without it (every idle writer
	// asks for a channel).
	lingerTicks atomic.Uint64
	lingerWheel [lingerWait + 1]atomic.Pointer[lingerSlot]

	st counters
}

// topic is a topic with local subscribers; guarded by Hub.mu.
type topic struct {
	name  string
	sub   pubsub.Subscription // nil while ready is not
	ready chan struct{}       // non-nil while the broker subscription is being made; closed when done
	conns map[*Conn]struct{}
	gen   uint64 // changes with conns, so fanOut can keep its copy
}

func (t *topic) addLocked(c *Conn) {
	if c.topics == nil {
		c.topics = make(map[string]struct{})
	}
	c.topics[t.name] = struct{}{}
	t.conns[c] = struct{}{}
	t.gen++
}

var _ http.Handler = (*Hub)(nil)

// NewHub returns a hub; a nil opts means defaults. It returns an error for
// invalid options or when the default broker cannot be made.
func NewHub(opts *HubOptions) (*Hub, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hub{
		opt:        o,
		broker:     o.Broker,
		conns:      make(map[*Conn]struct{}),
		perIP:      make(map[string]int),
		topics:     make(map[string]*topic),
		done:       make(chan struct{}),
		retryAfter: strconv.Itoa(int((o.RetryAfter + time.Second - 1) / time.Second)),
		customIP:   opts != nil && opts.ClientIP != nil,
	}
	if h.broker == nil {
		m, err := pubsub.NewMemory(nil)
		if err != nil {
			return nil, fmt.Errorf("ws: default broker: %w", err)
		}
		h.broker, h.ownBroker = m, true
	}
	h.accept = websocket.AcceptOptions{
		Subprotocols:    o.Subprotocols,
		OriginPatterns:  o.OriginPatterns,
		CompressionMode: o.CompressionMode,
	}
	h.st.closed = make(map[CloseReason]uint64)
	if len(o.PublicTopics) > 0 {
		h.public = make(map[string]struct{}, len(o.PublicTopics))
		for _, t := range o.PublicTopics {
			h.public[t] = struct{}{}
		}
	}
	return h, nil
}

// ServeHTTP upgrades the request to a WebSocket connection. It answers 503
// with Retry-After when the hub is at a connection limit or shutting down,
// 403 for a cross-origin request that OriginPatterns do not allow, and 500
// when HubOptions.ClientIP panics or calls runtime.Goexit, all before the
// upgrade. It returns once the connection's goroutines are started; the
// request context's values stay available to the handlers.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip, ok := h.clientIP(r)
	if !ok {
		http.Error(w, "ws: internal error", http.StatusInternalServerError)
		return
	}
	if !h.reserve(ip) {
		h.st.rejected.Add(1)
		w.Header().Set("Retry-After", h.retryAfter)
		http.Error(w, "ws: too many connections; retry later", http.StatusServiceUnavailable)
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
		// Accept has answered (403 for origin, 400/426 for a bad handshake).
		h.st.rejectedHandshake.Add(1)
		h.release(ip)
		return
	}
	wc.SetReadLimit(h.opt.ReadLimit)
	// Without compression the writer encodes its frames itself.
	cw.cork.frames = cw.Header().Get("Sec-WebSocket-Extensions") == ""
	if cw.cork.frames {
		cw.cork.rc = rawConn(cw.cork.Conn) // the fan-out may write its frames inline
	}
	c, err := h.newConn(wc, cw.cork, r, ip)
	if err != nil {
		wc.Close(websocket.StatusGoingAway, h.opt.ShutdownReason)
		h.release(ip)
		return
	}
	c.start()
}

// reserve counts a connection against the limits, false when over one.
func (h *Hub) reserve(ip string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	if h.opt.MaxConns > 0 && h.active >= h.opt.MaxConns {
		return false
	}
	if h.opt.MaxConnsPerIP > 0 && h.perIP[ip] >= h.opt.MaxConnsPerIP {
		return false
	}
	h.perIP[ip]++
	h.active++
	return true
}

func (h *Hub) release(ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked(ip)
}

func (h *Hub) releaseLocked(ip string) {
	h.active--
	if h.perIP[ip] <= 1 {
		delete(h.perIP, ip)
	} else {
		h.perIP[ip]--
	}
}

// Conns returns the open connections in no particular order.
func (h *Hub) Conns() []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

// Publish sends data to every connection subscribed to topic on every hub
// sharing the broker, and returns the broker's message ID. Valid UTF-8 goes
// out as a text message, anything else as binary. ctx bounds the broker
// call only. The hub keeps data; do not modify it afterwards.
func (h *Hub) Publish(ctx context.Context, topicName string, data []byte) (string, error) {
	if h.isClosing() {
		return "", ErrHubClosed
	}
	id, err := h.broker.Publish(ctx, topicName, data)
	if err != nil {
		return "", fmt.Errorf("ws: publish to %q: %w", topicName, err)
	}
	return id, nil
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
	for {
		h.mu.Lock()
		if h.closing {
			h.mu.Unlock()
			return ErrHubClosed
		}
		if _, ok := h.conns[c]; !ok {
			h.mu.Unlock()
			return ErrConnClosed
		}
		t := h.topics[topicName]
		if t != nil && t.ready != nil { // another caller is subscribing
			ready := t.ready
			h.mu.Unlock()
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if _, ok := c.topics[topicName]; ok {
			h.mu.Unlock()
			return nil
		}
		if limit := h.opt.MaxTopicsPerConn; limit > 0 && len(c.topics)+c.pending >= limit {
			h.mu.Unlock()
			return ErrTooManyTopics
		}
		if t != nil {
			t.addLocked(c)
			h.mu.Unlock()
			return nil
		}
		t = &topic{name: topicName, conns: make(map[*Conn]struct{}), ready: make(chan struct{})}
		h.topics[topicName] = t
		c.pending++ // counts against the limit until it is settled
		h.mu.Unlock()

		sub, err := h.broker.Subscribe(ctx, topicName, "")

		h.mu.Lock()
		c.pending--
		close(t.ready)
		t.ready = nil
		_, alive := h.conns[c]
		switch {
		case err != nil:
			delete(h.topics, topicName)
		case h.closing || (!alive && len(t.conns) == 0):
			delete(h.topics, topicName)
			sub.Close()
		default:
			t.sub = sub
			if alive {
				t.addLocked(c)
			}
			h.startFanOut(t)
		}
		closing := h.closing
		h.mu.Unlock()
		switch {
		case err != nil:
			return fmt.Errorf("ws: subscribe to %q: %w", topicName, err)
		case closing:
			return ErrHubClosed
		case !alive:
			return ErrConnClosed
		}
		return nil
	}
}

// Unsubscribe removes c from topic. Unsubscribing from a topic c is not in
// is a no-op.
func (h *Hub) Unsubscribe(c *Conn, topicName string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unsubscribeLocked(c, topicName)
}

func (h *Hub) unsubscribeLocked(c *Conn, topicName string) {
	delete(c.topics, topicName)
	t := h.topics[topicName]
	if t == nil {
		return
	}
	delete(t.conns, c)
	t.gen++
	if len(t.conns) == 0 && t.ready == nil { // a pending topic is settled by its Subscribe
		delete(h.topics, topicName)
		t.sub.Close()
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
	policy  Policy
	targets []*Conn
	gen     uint64
	items   []sendq.Item[frame] // taken, not yet queued
	iw      *inlineWriter       // nil where inline writes are not supported
	fr      []byte              // the encoded frame written inline
}

func (h *Hub) startFanOut(t *topic) {
	f := &fanOut{h: h, t: t, msgs: make(chan fanMsg, fanBatch), policy: h.opt.TopicPolicy[t.name], gen: ^uint64(0), iw: newInlineWriter()}
	h.wg.Go(func() { t.readBroker(context.Background(), f.msgs) })
	h.wg.Go(f.run)
}

func (f *fanOut) run() {
	returned := false
	defer func() {
		if !returned { // TopicKey called runtime.Goexit (counted)
			f.h.wg.Go(f.run)
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
				f.h.st.brokerSkipped.Add(max(lag.Missed, 1))
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
	h.mu.Lock()
	if t.gen != f.gen {
		f.gen = t.gen
		clear(f.targets)
		f.targets = f.targets[:0]
		for c := range t.conns {
			f.targets = append(f.targets, c)
		}
	}
	h.mu.Unlock()
	now := time.Now() // one clock read for the whole fan-out
	for i := range f.items {
		f.items[i].Enqueued = now
	}
	// Keeping up (one message taken), write it straight to each
	// connection with nothing queued: the frame is the same for all.
	inline := f.iw != nil && len(f.items) == 1 && len(f.msgs) == 0 &&
		f.items[0].Size <= min(h.opt.QueueBytes, maxInlineBytes)
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
func (t *topic) readBroker(ctx context.Context, msgs chan<- fanMsg) {
	for {
		m, err := t.sub.Next(ctx)
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

// pingLoop pings every connection once per PingInterval from one hub
// goroutine and timer, spread over pingSlots ticks by connection ID, so an
// idle connection has no timer and no goroutine of its own for heartbeats.
// It also ends idle writers' lingering every lingerTick.
func (h *Hub) pingLoop() {
	var pings <-chan time.Time
	if h.opt.PingInterval > 0 {
		t := time.NewTicker(max(h.opt.PingInterval/pingSlots, time.Millisecond))
		defer t.Stop()
		pings = t.C
	}
	linger := time.NewTicker(lingerTick)
	defer linger.Stop()
	defer h.tickLinger(true)
	var due []*Conn
	var slot uint64
	for {
		select {
		case <-pings:
		case <-linger.C:
			h.tickLinger(false)
			continue
		case <-h.done:
			return
		}
		slot = (slot + 1) % pingSlots
		h.mu.Lock()
		if h.closing {
			h.mu.Unlock()
			return
		}
		for c := range h.conns {
			if c.id%pingSlots == slot && c.pinging.CompareAndSwap(false, true) {
				due = append(due, c)
			}
		}
		h.wg.Add(len(due))
		h.mu.Unlock()
		for _, c := range due {
			go func() {
				defer h.wg.Done()
				c.ping()
			}()
		}
		clear(due)
		due = due[:0]
	}
}

// tickLinger closes the channel of the new tick, releasing the writers
// that have waited for it; last (pingLoop ends) releases them all, and
// writers stop lingering.
func (h *Hub) tickLinger(last bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.lingerTicks.Add(1)
	for i := range h.lingerWheel {
		p := &h.lingerWheel[i]
		if s := p.Load(); s != nil && (last || s.tick == n) {
			close(s.c)
			p.Store(nil)
		}
	}
	if last {
		h.lingerOff = true
	}
}

// lingerSlot is the channel closed at linger tick number tick.
type lingerSlot struct {
	tick uint64
	c    chan struct{}
}

// lingerTick is the period of the hub's linger ticks, and lingerWait how
// many of them an idle writer waits for more messages before its
// goroutine exits (200–300ms idle). A feed of a few messages a second
// keeps its writers parked rather than starting them again for every
// message, and each is woken once when it is time to go, not at every
// tick.
const (
	lingerTick = 100 * time.Millisecond
	lingerWait = 3
)

// lingerChan returns the channel closed lingerWait ticks from now. The
// writers that go idle after a broadcast all ask for the same one, so the
// common case takes no lock.
func (h *Hub) lingerChan() <-chan struct{} {
	target := h.lingerTicks.Load() + lingerWait
	if s := h.lingerWheel[target%uint64(len(h.lingerWheel))].Load(); s != nil && s.tick == target {
		return s.c
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	target = h.lingerTicks.Load() + lingerWait
	p := &h.lingerWheel[target%uint64(len(h.lingerWheel))]
	if s := p.Load(); s != nil && s.tick == target {
		return s.c
	}
	c := make(chan struct{})
	if !h.pinger || h.lingerOff { // no hub loop to close it: do not linger
		close(c)
		return c
	}
	p.Store(&lingerSlot{tick: target, c: c})
	return c
}

// pingSlots is how many ticks a PingInterval is divided into.
const pingSlots = 16

func (h *Hub) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
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
// net/http does not track hijacked connections, so wire it into the
// server's shutdown:
//
//	srv.RegisterOnShutdown(func() { hub.Shutdown(ctx) })
//
// or use [Hub.RegisterOnShutdown].
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	h.shut.Store(true)
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	var err error
	for i := 0; i < len(conns); i += h.opt.ShutdownBatch {
		if i > 0 && h.opt.ShutdownJitter > 0 {
			t := time.NewTimer(rand.N(h.opt.ShutdownJitter))
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		end := min(i+h.opt.ShutdownBatch, len(conns))
		for _, c := range conns[i:end] {
			c.goAway()
		}
	}
	waited := make(chan struct{})
	go func() {
		for _, c := range conns {
			<-c.ended
		}
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	h.Close()
	<-waited
	return err
}

// RegisterOnShutdown arranges for srv.Shutdown to call h.Shutdown with a
// context bounded by timeout (a non-positive timeout means 10s). It is the
// documented way to close hijacked WebSocket connections when the server
// stops.
func (h *Hub) RegisterOnShutdown(srv *http.Server, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		h.Shutdown(ctx)
	})
}

// Close drops every connection at once (no close frame; see Shutdown for
// the graceful way), closes the broker if the hub made it, and waits for
// all goroutines the hub started. Idempotent; later calls return the first
// call's result.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closing = true
		h.shut.Store(true)
		conns := make([]*Conn, 0, len(h.conns))
		for c := range h.conns {
			conns = append(conns, c)
		}
		h.mu.Unlock()
		close(h.done)
		for _, c := range conns {
			c.abort(ReasonShutdown)
		}
		for _, c := range conns {
			<-c.ended
		}
		h.mu.Lock()
		for name, t := range h.topics {
			if t.sub != nil { // a pending one is closed by its Subscribe
				t.sub.Close()
			}
			delete(h.topics, name)
		}
		h.mu.Unlock()
		h.wg.Wait()
		if h.ownBroker {
			h.closeErr = h.broker.Close()
		}
	})
	return h.closeErr
}

// messageType picks text for UTF-8 payloads (JSON, most feeds) and binary
// otherwise, so browsers hand text to onmessage as a string.
func messageType(data []byte) websocket.MessageType {
	if utf8.Valid(data) {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}
