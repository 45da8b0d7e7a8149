package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// State is a Client's connection state.
type State int32

// Client states.
const (
	// StateConnecting: between connections, waiting out a backoff or
	// dialling and resubscribing.
	StateConnecting State = iota
	// StateConnected: connected and subscribed to every topic asked for.
	StateConnected
	// StateClosed: Close was called; final.
	StateClosed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// ClientOptions configures a [Client]. A nil *ClientOptions is valid and
// means all defaults. Dial copies the struct.
type ClientOptions struct {
	// Dial is passed to websocket.Dial on every attempt. Nil means
	// coder/websocket's defaults.
	Dial *websocket.DialOptions
	// MinBackoff is the first reconnect delay's upper bound. Defaults to
	// 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the delay's upper bound, which doubles per failed
	// attempt; each delay is uniformly random below it ("full jitter").
	// Defaults to 30s.
	MaxBackoff time.Duration
	// DialTimeout bounds one reconnect attempt, handshake and
	// resubscription included. Defaults to 10s.
	DialTimeout time.Duration
	// ReadLimit is the largest message accepted. Defaults to 1 MiB;
	// negative means no limit.
	ReadLimit int64
	// OnMessage, if set, receives every message except the hub's control
	// replies, on the client's goroutine, in order. Nil discards them. If
	// it panics, the panic is recovered and reported to OnError, the
	// message is lost and the client goes on with the next one; after a
	// runtime.Goexit (t.FailNow in a test) the same, on a new goroutine.
	OnMessage func(typ websocket.MessageType, data []byte)
	// OnState, if set, is called on every state change, on the client's
	// goroutine (Dial's caller for the first StateConnected, Close's for
	// StateClosed). Keep it quick. A panic or runtime.Goexit in it is
	// treated like one in OnMessage; the state has changed regardless.
	OnState func(State)
	// OnError, if set, is told on the client's goroutine what went wrong
	// without a caller to return it to: a topic the hub refused when the
	// client resubscribed after a reconnect (the error wraps
	// ErrTopicRefused; the topic is forgotten, once, and the others stay
	// subscribed), and a *PanicError for a callback that panicked or
	// called runtime.Goexit. Nil means such errors are not reported. Its
	// own panics are recovered and not reported.
	OnError func(error)
}

// Client is a reconnecting WebSocket client for Go services and tests. It
// speaks the hub's topic control protocol (HubOptions.ClientTopics) and
// resubscribes after each reconnect. Its methods are safe for concurrent
// use. It owns one goroutine, which Close joins.
type Client struct {
	url string
	opt ClientOptions

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine ends

	// exited is the callback that called runtime.Goexit on the client's
	// goroutine, for the goroutine that takes over to report.
	exited *PanicError

	mu      sync.Mutex // protects the fields below
	conn    *websocket.Conn
	state   State
	topics  map[string]struct{}
	waiters map[string][]chan Control
}

// Dial connects to url (ws:// or wss://) and keeps reconnecting with
// exponential backoff and full jitter until Close. ctx bounds only the
// first connection, whose failure Dial returns (no goroutine is left).
func Dial(ctx context.Context, url string, opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ReadLimit == 0 {
		o.ReadLimit = 1 << 20
	}
	if o.ReadLimit < 0 {
		o.ReadLimit = -1
	}
	cl := &Client{url: url, opt: o, done: make(chan struct{}), topics: make(map[string]struct{}), waiters: make(map[string][]chan Control)}
	c, err := cl.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("ws: dial %s: %w", url, err)
	}
	cl.ctx, cl.cancel = context.WithCancel(context.Background())
	started := false
	defer func() {
		if !started { // OnState called runtime.Goexit on the caller's goroutine
			cl.cancel()
			c.CloseNow()
		}
	}()
	cl.setConn(c)
	started = true
	go cl.run(c)
	return cl, nil
}

func (cl *Client) connect(ctx context.Context) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, cl.url, cl.opt.Dial)
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done { // a callback called runtime.Goexit: run goes on without c
			c.CloseNow()
		}
	}()
	c.SetReadLimit(cl.opt.ReadLimit)
	cl.mu.Lock()
	topics := make([]string, 0, len(cl.topics))
	for t := range cl.topics {
		topics = append(topics, t)
	}
	cl.mu.Unlock()
	if len(topics) == 0 {
		done = true
		return c, nil
	}
	// Resubscribe, delivering what arrives meanwhile, until every topic is
	// acknowledged.
	want := make(map[string]bool, len(topics))
	for _, t := range topics {
		want[t] = true
		b, _ := json.Marshal(Control{Op: OpSubscribe, Topic: t})
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			done = true
			c.CloseNow()
			return nil, err
		}
	}
	for len(want) > 0 {
		typ, data, err := c.Read(ctx)
		if err != nil {
			done = true
			c.CloseNow()
			return nil, err
		}
		if m, ok := parseControl(typ, data); ok {
			if !want[m.Topic] {
				continue
			}
			delete(want, m.Topic)
			if m.Op == OpError {
				// Refused (not allowed any more, too many topics):
				// forget it rather than fail every reconnect on it.
				cl.mu.Lock()
				delete(cl.topics, m.Topic)
				cl.mu.Unlock()
				if cl.opt.OnError != nil {
					err := fmt.Errorf("ws: resubscribe to %q: %w: %s", m.Topic, ErrTopicRefused, m.Error)
					cl.callback("OnError", func() { cl.opt.OnError(err) })
				}
			}
			continue
		}
		cl.deliver(typ, data)
	}
	done = true
	return c, nil
}

func parseControl(typ websocket.MessageType, data []byte) (Control, bool) {
	var m Control
	if typ != websocket.MessageText || len(data) == 0 || data[0] != '{' {
		return m, false
	}
	if json.Unmarshal(data, &m) != nil {
		return m, false
	}
	switch m.Op {
	case OpSubscribed, OpUnsubscribed, OpError:
		return m, m.Topic != ""
	}
	return m, false
}

func (cl *Client) setConn(c *websocket.Conn) {
	cl.mu.Lock()
	if cl.state == StateClosed {
		cl.mu.Unlock()
		c.CloseNow()
		return
	}
	cl.conn, cl.state = c, StateConnected
	cl.mu.Unlock()
	cl.notify(StateConnected)
}

func (cl *Client) notify(s State) {
	if cl.opt.OnState != nil {
		cl.callback("OnState", func() { cl.opt.OnState(s) })
	}
}

func (cl *Client) deliver(typ websocket.MessageType, data []byte) {
	if cl.opt.OnMessage != nil {
		cl.callback("OnMessage", func() { cl.opt.OnMessage(typ, data) })
	}
}

// run is the client's goroutine: it serves c, then reconnects, until
// Close. A callback that calls runtime.Goexit ends it; its deferred call
// then starts another that reports the Goexit and goes on where this one
// stopped: serving the current connection, or reconnecting.
func (cl *Client) run(c *websocket.Conn) {
	returned := false
	defer func() {
		if returned {
			close(cl.done)
			return
		}
		cl.mu.Lock()
		cur := cl.conn
		cl.mu.Unlock()
		go cl.run(cur)
	}()
	if pe := cl.exited; pe != nil {
		cl.exited = nil
		cl.report(pe)
	}
	for {
		if c != nil {
			cl.serve(c)
			if !cl.lost() {
				returned = true
				return
			}
		}
		if c = cl.reconnect(); c == nil {
			returned = true
			return
		}
		cl.setConn(c)
	}
}

// lost records that the connection was lost; false means Close was
// called.
func (cl *Client) lost() bool {
	cl.mu.Lock()
	if cl.state == StateClosed {
		cl.mu.Unlock()
		return false
	}
	cl.conn, cl.state = nil, StateConnecting
	for t, ws := range cl.waiters {
		for _, w := range ws {
			w <- Control{Topic: t} // no Op: the connection was lost
		}
		delete(cl.waiters, t)
	}
	cl.mu.Unlock()
	cl.notify(StateConnecting)
	return true
}

// reconnect dials with backoff until a connection is made (returned), or
// Close (nil).
func (cl *Client) reconnect() *websocket.Conn {
	for attempt := 0; ; attempt++ {
		ceil := min(cl.opt.MaxBackoff, cl.opt.MinBackoff<<min(attempt, 30))
		t := time.NewTimer(rand.N(ceil) + 1)
		select {
		case <-t.C:
		case <-cl.ctx.Done():
			t.Stop()
			return nil
		}
		ctx, cancel := context.WithTimeout(cl.ctx, cl.opt.DialTimeout)
		c, err := cl.connect(ctx)
		cancel()
		if err == nil {
			return c
		}
	}
}

// serve reads c until it fails.
func (cl *Client) serve(c *websocket.Conn) {
	for {
		typ, data, err := c.Read(cl.ctx)
		if err != nil {
			c.CloseNow()
			return
		}
		if m, ok := parseControl(typ, data); ok {
			cl.mu.Lock()
			ws := cl.waiters[m.Topic]
			if len(ws) > 0 {
				ws[0] <- m
				cl.waiters[m.Topic] = ws[1:]
			}
			cl.mu.Unlock()
			continue
		}
		cl.deliver(typ, data)
	}
}

// State returns the current connection state.
func (cl *Client) State() State {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.state
}

// Subscribe asks the hub for topic's messages and remembers the topic for
// reconnects. The hub must have HubOptions.ClientTopics on; otherwise no
// answer comes and Subscribe waits for ctx. Connected, it waits for the
// hub's answer (or ctx); between connections it returns nil at once and
// the topic is subscribed on the next connection. A refusal by the hub is
// returned as an error wrapping ErrTopicRefused, and the topic is
// forgotten; a refusal at a later resubscription goes to
// ClientOptions.OnError.
func (cl *Client) Subscribe(ctx context.Context, topic string) error {
	return cl.control(ctx, OpSubscribe, topic)
}

// Unsubscribe stops topic's messages and forgets the topic; like
// Subscribe it waits for the hub's answer when connected.
func (cl *Client) Unsubscribe(ctx context.Context, topic string) error {
	return cl.control(ctx, OpUnsubscribe, topic)
}

func (cl *Client) control(ctx context.Context, op, topic string) error {
	cl.mu.Lock()
	if cl.state == StateClosed {
		cl.mu.Unlock()
		return ErrClientClosed
	}
	if op == OpSubscribe && len(topic) > MaxTopicLen {
		cl.mu.Unlock()
		return fmt.Errorf("ws: subscribe: topic name longer than %d bytes", MaxTopicLen)
	}
	if op == OpSubscribe {
		cl.topics[topic] = struct{}{}
	} else {
		delete(cl.topics, topic)
	}
	c := cl.conn
	if c == nil {
		cl.mu.Unlock()
		return nil
	}
	w := make(chan Control, 1)
	cl.waiters[topic] = append(cl.waiters[topic], w)
	cl.mu.Unlock()
	b, _ := json.Marshal(Control{Op: op, Topic: topic})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("ws: %s %q: %w", op, topic, err)
	}
	select {
	case m := <-w:
		if m.Op == "" {
			// Still remembered: the next connection asks again.
			return fmt.Errorf("ws: %s %q: connection lost before the hub answered", op, topic)
		}
		if m.Op == OpError {
			if op == OpSubscribe {
				// Refused: do not ask again at every reconnect.
				cl.mu.Lock()
				delete(cl.topics, topic)
				cl.mu.Unlock()
				return fmt.Errorf("ws: %s %q: %w: %s", op, topic, ErrTopicRefused, m.Error)
			}
			return fmt.Errorf("ws: %s %q: %s", op, topic, m.Error)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send writes one message on the current connection. It returns
// ErrNotConnected between connections and ErrClientClosed after Close.
func (cl *Client) Send(ctx context.Context, typ websocket.MessageType, data []byte) error {
	cl.mu.Lock()
	c, st := cl.conn, cl.state
	cl.mu.Unlock()
	switch {
	case st == StateClosed:
		return ErrClientClosed
	case c == nil:
		return ErrNotConnected
	}
	return c.Write(ctx, typ, data)
}

// Close closes the connection with 1000 and stops reconnecting, waiting
// for the client's goroutine. Idempotent; later calls return nil.
func (cl *Client) Close() error {
	cl.mu.Lock()
	if cl.state == StateClosed {
		cl.mu.Unlock()
		<-cl.done
		return nil
	}
	cl.state = StateClosed
	c := cl.conn
	cl.mu.Unlock()
	var err error
	if c != nil {
		// The client's goroutine reads the hub's close reply; Close waits
		// for it at most 5s.
		err = c.Close(websocket.StatusNormalClosure, "")
		if errors.Is(err, context.Canceled) {
			err = nil
		}
	}
	cl.cancel()
	<-cl.done
	cl.notify(StateClosed)
	return err
}
