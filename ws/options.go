package ws

import (
	"context"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Policy is what a connection's send queue does with a message that does
// not fit: HubOptions.Policy for every message, HubOptions.TopicPolicy for
// a topic's. ws and sse declare the same constants with the same values;
// convert between them with sse.Policy(p).
type Policy uint8

// Slow-consumer policies for HubOptions.Policy and HubOptions.TopicPolicy.
const (
	// Inherit (the zero value) means DropOldest in HubOptions.Policy and
	// "the hub's policy" in HubOptions.TopicPolicy.
	Inherit Policy = iota
	// DropOldest evicts the oldest queued messages: a live feed.
	DropOldest
	// DropNewest refuses the new message.
	DropNewest
	// Block makes the sender wait up to HubOptions.BlockTimeout, then
	// disconnects the connection as a slow consumer. A fan-out waits for
	// the slowest connection meanwhile: prefer a dropping policy there.
	Block
	// Disconnect closes a connection whose queue is full at once.
	Disconnect
	// CoalesceByKey keeps only the latest queued message per key
	// (prices, positions); see Conn.SendKeyed and HubOptions.TopicKey.
	CoalesceByKey
)

// String returns the policy's name, such as "drop-oldest".
func (p Policy) String() string { return sendq.Policy(p).String() }

// HubOptions configures a [Hub]. A nil *HubOptions is valid and means all
// defaults. NewHub copies the struct; changing it later has no effect. A
// zero field selects its default; a negative one is an error from NewHub
// unless the field gives it a meaning.
type HubOptions struct {
	// OriginPatterns are host patterns (path.Match syntax, e.g.
	// "*.example.com"; a pattern with "://" is matched against
	// scheme://host) of cross-origin pages allowed to connect. The
	// request's own host is always allowed. Requests without an Origin
	// header (non-browser clients) are allowed. Nil, the default, allows
	// same-origin only: any other Origin gets 403 before the upgrade
	// (cross-site WebSocket hijacking). A malformed pattern is an error.
	OriginPatterns []string
	// Subprotocols the hub negotiates, in order of preference. Nil, the
	// default, negotiates none.
	Subprotocols []string
	// CompressionMode for permessage-deflate. The zero value is
	// websocket.CompressionDisabled, the default: with context takeover
	// each connection keeps a deflate window and dictionary of about
	// 1.2 MB, which a hub of idle connections cannot afford; small JSON
	// messages gain little.
	CompressionMode websocket.CompressionMode
	// ReadLimit is the largest message accepted from a client; a larger
	// one closes the connection with 1009 (message too big). Zero means
	// the default, 32 KiB; negative means no limit (a client can then make
	// the hub buffer any amount).
	ReadLimit int64

	// MaxConns bounds the hub's connections, counted from the moment an
	// upgrade is admitted (before the handshake) until the connection is
	// released; over it, upgrades get HTTP 503 with Retry-After. Zero
	// means the default, 10000; negative means no limit.
	MaxConns int
	// MaxConnsPerIP bounds connections per client IP (see ClientIP),
	// counted like MaxConns. Zero means the default, 100; negative means
	// no limit.
	MaxConnsPerIP int
	// RetryAfter is the Retry-After given with a 503, rounded up to whole
	// seconds. Zero means the default, 5s; negative is an error.
	RetryAfter time.Duration
	// ClientIP returns the client address used for MaxConnsPerIP. Set it
	// to read a trusted proxy's X-Forwarded-For. It runs on a goroutine of
	// its own for each upgrade: if it panics or calls runtime.Goexit, that
	// request gets 500, Stats.CallbackPanics counts it, and the hub goes
	// on. Nil, the default, means the host part of Request.RemoteAddr.
	ClientIP func(*http.Request) string

	// Policy for each connection's send queue. Inherit, the zero value,
	// means the default, DropOldest; an unknown policy is an error.
	Policy Policy
	// TopicPolicy overrides Policy for messages published to a topic
	// (Inherit uses Policy). Nil, the default, means none.
	TopicPolicy map[string]Policy
	// TopicKey, if set, gives the coalescing key of a message published to
	// a topic (used by CoalesceByKey; "" never coalesces). It runs on the
	// topic's fan-out goroutine; if it panics or calls runtime.Goexit,
	// Stats.CallbackPanics counts it and the message is delivered with no
	// key (""). Nil, the default, means the topic name itself, so a
	// CoalesceByKey topic keeps its latest message.
	TopicKey func(topic string, data []byte) string
	// QueueMessages bounds each connection's queue. Slots (about 90 bytes
	// each) are allocated as messages queue up and given back when the
	// queue drains, so an idle connection holds none. Zero means the
	// default, 64; negative is an error.
	QueueMessages int
	// PriorityMessages bounds each connection's priority lane
	// (Conn.SendPriority and control replies); overflowing it disconnects
	// the client. Allocated like QueueMessages. Zero means the default,
	// 16; negative is an error.
	PriorityMessages int
	// QueueBytes bounds each connection's queued bytes. Zero means the
	// default, 1 MiB; negative is an error.
	QueueBytes int
	// BlockTimeout is how long a sender waits under Block. Zero means the
	// default, 5s; negative is an error.
	BlockTimeout time.Duration
	// WriteTimeout bounds each write to the network (one batch of queued
	// messages, up to 256 messages or 64 KiB); a client that does not take
	// it in time is disconnected. Zero means the default, 10s; negative is
	// an error.
	WriteTimeout time.Duration
	// JoinSeparator, if non-nil, makes the writer join the text messages
	// it finds queued together into one WebSocket text message, separated
	// by JoinSeparator (gorilla/websocket's chat example joins with "\n").
	// Clients must split what they receive, and a joined message can be up
	// to about 64 KiB (mind the client's read limit), but a busy feed
	// costs far fewer frames and client reads. Binary messages and the
	// priority lane (SendPriority, control replies) are never joined. Nil,
	// the default, sends every message as its own WebSocket message; a
	// separator that is not valid UTF-8 is an error.
	JoinSeparator []byte

	// PingInterval is the time between pings on each connection. Zero
	// means the default, 25s (under the usual 30–60s idle timeouts of
	// proxies and NATs); negative disables heartbeats.
	PingInterval time.Duration
	// PongTimeout is how long a ping waits for its pong before the
	// connection is closed and counted in Stats.PingTimeouts. Zero means
	// the default, 10s; negative is an error.
	PongTimeout time.Duration

	// Broker carries Publish to the subscribers of every hub that shares
	// it. A Broker passed in is not closed by the hub. Nil, the default,
	// means a new pubsub.NewMemory(nil) that the hub closes in Close.
	Broker pubsub.Broker
	// ClientTopics lets clients subscribe and unsubscribe themselves with
	// the JSON control messages described in the package doc. With it on,
	// NewHub requires PublicTopics or AllowTopic: a client may subscribe
	// only to a topic one of them allows. Default false: only the
	// application calls Subscribe.
	ClientTopics bool
	// PublicTopics are the exact topic names any client may subscribe to
	// with ClientTopics. Setting both it and AllowTopic is an error: the
	// hook decides alone (it may allow the public topics too), as in sse.
	// Nil, the default, means none.
	PublicTopics []string
	// AllowTopic, if set, is asked before a client's subscribe control
	// message takes effect, on the connection's reader goroutine; false
	// answers with an error message. A panic or runtime.Goexit in it
	// closes the connection as one in OnMessage does. Nil, the default,
	// allows only PublicTopics.
	AllowTopic func(c *Conn, topic string) bool
	// MaxTopicsPerConn bounds the topics one connection is in, whether the
	// client or the application subscribed it: over it a client's
	// subscribe is answered with an error (the connection stays open) and
	// Hub.Subscribe returns ErrTooManyTopics. Each topic costs a broker
	// subscription and a fan-out goroutine. Zero means the default, 16;
	// negative means no limit (AllowTopic must then bound what clients
	// ask for).
	MaxTopicsPerConn int

	// OnConnect, if set, runs on the connection's reader goroutine after
	// the upgrade, before any message is read. Subscribe here. A panic or
	// runtime.Goexit in it closes the connection as one in OnMessage does.
	// Nil, the default, does nothing.
	OnConnect func(ctx context.Context, c *Conn)
	// OnMessage, if set, receives each application message (control
	// messages excluded) on the connection's reader goroutine; the next
	// message is not read until it returns. ctx carries the upgrade
	// request's values and is cancelled when the connection ends. data is
	// the handler's to keep. If it panics (recovered) or calls
	// runtime.Goexit, nothing more is read: the messages already queued
	// are sent, then the connection is closed with 1011 (internal error)
	// and released like any other, with ReasonCallbackPanic, and
	// Stats.CallbackPanics counts it. Nil, the default, discards messages.
	OnMessage func(ctx context.Context, c *Conn, typ websocket.MessageType, data []byte)
	// OnClose, if set, runs once per connection after both of its
	// goroutines ended and the connection was released, with the reason it
	// closed; a panic (recovered) or runtime.Goexit in it is counted in
	// Stats.CallbackPanics. Nil, the default, does nothing.
	OnClose func(c *Conn, reason CloseReason)

	// ShutdownBatch is how many connections Shutdown closes at a time.
	// Zero means the default, 100; negative closes them all at once.
	ShutdownBatch int
	// ShutdownJitter is the largest random pause between two Shutdown
	// batches, so clients do not reconnect in a storm. Zero means the
	// default, 100ms; negative means no pause.
	ShutdownJitter time.Duration
	// ShutdownReason is the close reason sent with 1001 on Shutdown, a hint
	// for clients; longer than 123 bytes is an error. "" means the
	// default, "server going away; reconnect with backoff".
	ShutdownReason string
}

// withDefaults validates o and fills the fields ws keeps; the shared ones
// (limits, queue, origin, shutdown pacing) go to the core through config,
// which fills them there.
func (o *HubOptions) withDefaults() (HubOptions, error) {
	var c HubOptions
	if o != nil {
		c = *o
	}
	v := connserver.Checker{Pkg: "ws", Type: "HubOptions"}
	v.Int64("ReadLimit", &c.ReadLimit, 32<<10, true)
	v.Int("PriorityMessages", &c.PriorityMessages, 16, false)
	v.Duration("PingInterval", &c.PingInterval, 25*time.Second, true)
	v.Duration("PongTimeout", &c.PongTimeout, 10*time.Second, false)
	v.Int("MaxTopicsPerConn", &c.MaxTopicsPerConn, 16, true)
	v.Int("ShutdownBatch", &c.ShutdownBatch, 100, true)
	v.Duration("ShutdownJitter", &c.ShutdownJitter, 100*time.Millisecond, true)
	switch {
	case c.ClientTopics && c.AllowTopic == nil && len(c.PublicTopics) == 0:
		v.Fail(errors.New("ws: ClientTopics is on but no topic is allowed: set HubOptions.PublicTopics to the topics any client may subscribe to, or AllowTopic to decide per connection"))
	case c.AllowTopic != nil && len(c.PublicTopics) > 0:
		v.Fail(errors.New("ws: set HubOptions.AllowTopic or PublicTopics, not both; an AllowTopic hook decides alone (it may allow the public topics too)"))
	case c.JoinSeparator != nil && !utf8.Valid(c.JoinSeparator):
		v.Fail(errors.New("ws: JoinSeparator is not valid UTF-8; joined text messages must stay valid UTF-8"))
	case len(c.ShutdownReason) > 123:
		v.Fail(errors.New("ws: ShutdownReason longer than 123 bytes; a close reason must fit a control frame"))
	}
	if c.ShutdownReason == "" {
		c.ShutdownReason = "server going away; reconnect with backoff"
	}
	if c.JoinSeparator != nil {
		c.JoinSeparator = append([]byte{}, c.JoinSeparator...)
	}
	c.Subprotocols = append([]string(nil), c.Subprotocols...)
	c.PublicTopics = append([]string(nil), c.PublicTopics...)
	return c, v.Err
}

// config is what the core needs of the options; it fills and checks the
// shared fields.
func (o *HubOptions) config() connserver.Config {
	return connserver.Config{
		Pkg: "ws", Type: "HubOptions", DefaultPolicy: sendq.DropOldest, LingerWait: lingerWait,
		MaxConns: o.MaxConns, MaxConnsPerIP: o.MaxConnsPerIP, RetryAfter: o.RetryAfter,
		ClientIP: o.ClientIP, OriginPatterns: o.OriginPatterns, Heartbeat: o.PingInterval,
		Policy: sendq.Policy(o.Policy), TopicPolicy: connserver.Policies(o.TopicPolicy),
		QueueMessages: o.QueueMessages, QueueBytes: o.QueueBytes,
		BlockTimeout: o.BlockTimeout, WriteTimeout: o.WriteTimeout,
		ShutdownBatch: max(o.ShutdownBatch, 0), ShutdownJitter: max(o.ShutdownJitter, 0),
	}
}
