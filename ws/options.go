package ws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Policy is what a connection's send queue does with a message that does
// not fit. The constants below are the policies of the queue ws uses.
type Policy = sendq.Policy

// Slow-consumer policies for HubOptions.Policy and HubOptions.TopicPolicy.
const (
	// Inherit (the zero value) means DropOldest in HubOptions.Policy and
	// "the hub's policy" in HubOptions.TopicPolicy.
	Inherit = sendq.Inherit
	// DropOldest evicts the oldest queued messages: a live feed.
	DropOldest = sendq.DropOldest
	// DropNewest refuses the new message.
	DropNewest = sendq.DropNewest
	// Block makes the sender wait up to HubOptions.BlockTimeout, then
	// disconnects the connection as a slow consumer. A fan-out waits for
	// the slowest connection meanwhile: prefer a dropping policy there.
	Block = sendq.Block
	// Disconnect closes a connection whose queue is full at once.
	Disconnect = sendq.Disconnect
	// CoalesceByKey keeps only the latest queued message per key
	// (prices, positions); see Conn.SendKeyed and HubOptions.TopicKey.
	CoalesceByKey = sendq.CoalesceByKey
)

// HubOptions configures a [Hub]. A nil *HubOptions is valid and means all
// defaults. NewHub copies the struct; changing it later has no effect.
type HubOptions struct {
	// OriginPatterns are host patterns (path.Match syntax, e.g.
	// "*.example.com") of cross-origin pages allowed to connect. The
	// request's own host is always allowed. Nil allows same-origin only:
	// any other Origin gets 403 before the upgrade (cross-site WebSocket
	// hijacking). Requests without an Origin header (non-browser clients)
	// are allowed.
	OriginPatterns []string
	// Subprotocols the hub negotiates, in order of preference. Nil
	// negotiates none.
	Subprotocols []string
	// CompressionMode for permessage-deflate. Defaults to
	// websocket.CompressionDisabled: with context takeover each connection
	// keeps a deflate window and dictionary of about 1.2 MB, which a hub
	// of idle connections cannot afford; small JSON messages gain little.
	CompressionMode websocket.CompressionMode
	// ReadLimit is the largest message accepted from a client; a larger
	// one closes the connection with 1009 (message too big). Defaults to
	// 32 KiB; negative means no limit (a client can then make the hub
	// buffer any amount).
	ReadLimit int64

	// MaxConns bounds open connections on the hub. Over it, upgrades get
	// HTTP 503 with Retry-After. Defaults to 10000; negative means no limit.
	MaxConns int
	// MaxConnsPerIP bounds open connections per client IP (see ClientIP).
	// Defaults to 100; negative means no limit.
	MaxConnsPerIP int
	// RetryAfter is the Retry-After given with a 503. Defaults to 5s;
	// rounded up to whole seconds.
	RetryAfter time.Duration
	// ClientIP returns the client address used for MaxConnsPerIP. Defaults
	// to the host part of Request.RemoteAddr. Set it to read a trusted
	// proxy's X-Forwarded-For. It runs on a goroutine of its own for each
	// upgrade: if it panics or calls runtime.Goexit, that request gets 500,
	// Stats.CallbackPanics counts it, and the hub goes on.
	ClientIP func(*http.Request) string

	// Policy for each connection's send queue. Defaults to DropOldest.
	Policy Policy
	// TopicPolicy overrides Policy for messages published to a topic
	// (Inherit uses Policy). Nil means none.
	TopicPolicy map[string]Policy
	// TopicKey, if set, gives the coalescing key of a message published to
	// a topic (used by CoalesceByKey; "" never coalesces). Nil means the
	// topic name itself, so a CoalesceByKey topic keeps its latest message.
	// It runs on the topic's fan-out goroutine; if it panics or calls
	// runtime.Goexit, Stats.CallbackPanics counts it and the message is
	// delivered with no key ("").
	TopicKey func(topic string, data []byte) string
	// QueueMessages bounds each connection's queue. Defaults to 64. Slots
	// (about 90 bytes each) are allocated as messages queue up and given
	// back when the queue drains, so an idle connection holds none.
	QueueMessages int
	// PriorityMessages bounds each connection's priority lane
	// (Conn.SendPriority and control replies); overflowing it disconnects
	// the client. Defaults to 16; allocated like QueueMessages.
	PriorityMessages int
	// QueueBytes bounds each connection's queued bytes. Defaults to 1 MiB.
	QueueBytes int
	// BlockTimeout is how long a sender waits under Block. Defaults to 5s.
	BlockTimeout time.Duration
	// WriteTimeout bounds each write to the network (one batch of queued
	// messages, up to 256 messages or 64 KiB); a client that does not take
	// it in time is disconnected. Defaults to 10s.
	WriteTimeout time.Duration
	// JoinSeparator, if non-nil, makes the writer join the text messages
	// it finds queued together into one WebSocket text message, separated
	// by JoinSeparator (gorilla/websocket's chat example joins with "\n").
	// Clients must split what they receive, and a joined message can be up
	// to about 64 KiB (mind the client's read limit), but a busy feed
	// costs far fewer frames and client reads. Binary messages and the
	// priority lane (SendPriority, control replies) are never joined. Nil,
	// the default, sends every message as its own WebSocket message.
	JoinSeparator []byte

	// PingInterval is the time between pings on each connection. Defaults
	// to 25s (under the usual 30–60s idle timeouts of proxies and NATs);
	// negative disables heartbeats.
	PingInterval time.Duration
	// PongTimeout is how long a ping waits for its pong before the
	// connection is closed and counted in Stats.PingTimeouts. Defaults to
	// 10s.
	PongTimeout time.Duration

	// Broker carries Publish to the subscribers of every hub that shares
	// it. Nil means a new pubsub.NewMemory(nil) that the hub closes in
	// Close; a Broker passed in is not closed by the hub.
	Broker pubsub.Broker
	// ClientTopics lets clients subscribe and unsubscribe themselves with
	// the JSON control messages described in the package doc. Default
	// false: only the application calls Subscribe. With it on, NewHub
	// requires PublicTopics or AllowTopic: a client may subscribe only to
	// a topic one of them allows.
	ClientTopics bool
	// PublicTopics are the exact topic names any client may subscribe to
	// with ClientTopics. Nil means none (only AllowTopic decides).
	PublicTopics []string
	// AllowTopic, if set, is asked before a client's subscribe control
	// message for a topic not in PublicTopics takes effect, on the
	// connection's reader goroutine; false answers with an error message.
	// A panic or runtime.Goexit in it closes the connection as one in
	// OnMessage does. Nil allows no topic beyond PublicTopics.
	AllowTopic func(c *Conn, topic string) bool
	// MaxTopicsPerConn bounds the topics one connection is in, whether the
	// client or the application subscribed it: over it a client's
	// subscribe is answered with an error (the connection stays open) and
	// Hub.Subscribe returns ErrTooManyTopics. Defaults to 16; negative
	// means no limit.
	MaxTopicsPerConn int

	// OnConnect, if set, runs on the connection's reader goroutine after
	// the upgrade, before any message is read. Subscribe here. A panic or
	// runtime.Goexit in it closes the connection as one in OnMessage does.
	OnConnect func(ctx context.Context, c *Conn)
	// OnMessage, if set, receives each application message (control
	// messages excluded) on the connection's reader goroutine; the next
	// message is not read until it returns. ctx carries the upgrade
	// request's values and is cancelled when the connection ends. data is
	// the handler's to keep. Nil discards messages. If it panics
	// (recovered) or calls runtime.Goexit, nothing more is read: the
	// messages already queued are sent, then the connection is closed with
	// 1011 (internal error) and released like any other, with
	// ReasonCallbackPanic, and Stats.CallbackPanics counts it.
	OnMessage func(ctx context.Context, c *Conn, typ websocket.MessageType, data []byte)
	// OnClose, if set, runs once per connection after both of its
	// goroutines ended and the connection was released, with the reason it
	// closed; a panic (recovered) or runtime.Goexit in it is counted in
	// Stats.CallbackPanics.
	OnClose func(c *Conn, reason CloseReason)

	// ShutdownBatch is how many connections Shutdown closes at a time.
	// Defaults to 100.
	ShutdownBatch int
	// ShutdownJitter is the largest random pause between two Shutdown
	// batches, so clients do not reconnect in a storm. Defaults to 100ms.
	// Negative means no pause.
	ShutdownJitter time.Duration
	// ShutdownReason is the close reason sent with 1001 on Shutdown, a hint
	// for clients (at most 123 bytes). Defaults to
	// "server going away; reconnect with backoff".
	ShutdownReason string
}

func (o *HubOptions) withDefaults() (HubOptions, error) {
	var c HubOptions
	if o != nil {
		c = *o
	}
	if c.ReadLimit == 0 {
		c.ReadLimit = 32 << 10
	}
	if c.ReadLimit < 0 {
		c.ReadLimit = -1
	}
	if c.MaxConns == 0 {
		c.MaxConns = 10000
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 100
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.ClientIP == nil {
		c.ClientIP = remoteIP
	}
	if c.Policy == Inherit {
		c.Policy = DropOldest
	}
	if c.Policy > CoalesceByKey {
		return c, fmt.Errorf("ws: unknown policy %v", c.Policy)
	}
	if c.TopicPolicy != nil {
		m := make(map[string]Policy, len(c.TopicPolicy))
		for k, v := range c.TopicPolicy {
			if v > CoalesceByKey {
				return c, fmt.Errorf("ws: unknown policy %v for topic %q", v, k)
			}
			m[k] = v
		}
		c.TopicPolicy = m
	}
	if c.QueueMessages <= 0 {
		c.QueueMessages = 64
	}
	if c.PriorityMessages <= 0 {
		c.PriorityMessages = 16
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 1 << 20
	}
	if c.BlockTimeout <= 0 {
		c.BlockTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.MaxTopicsPerConn == 0 {
		c.MaxTopicsPerConn = 16
	}
	if c.ClientTopics && c.AllowTopic == nil && len(c.PublicTopics) == 0 {
		return c, errors.New("ws: ClientTopics is on but no topic is allowed: set HubOptions.PublicTopics to the topics any client may subscribe to, or AllowTopic to decide per connection")
	}
	if c.JoinSeparator != nil && !utf8.Valid(c.JoinSeparator) {
		return c, errors.New("ws: JoinSeparator is not valid UTF-8; joined text messages must stay valid UTF-8")
	}
	if c.ShutdownBatch <= 0 {
		c.ShutdownBatch = 100
	}
	if c.ShutdownJitter == 0 {
		c.ShutdownJitter = 100 * time.Millisecond
	}
	if c.ShutdownReason == "" {
		c.ShutdownReason = "server going away; reconnect with backoff"
	}
	if len(c.ShutdownReason) > 123 {
		return c, errors.New("ws: ShutdownReason longer than 123 bytes; a close reason must fit a control frame")
	}
	if c.JoinSeparator != nil {
		c.JoinSeparator = append([]byte{}, c.JoinSeparator...)
	}
	c.OriginPatterns = append([]string(nil), c.OriginPatterns...)
	c.Subprotocols = append([]string(nil), c.Subprotocols...)
	c.PublicTopics = append([]string(nil), c.PublicTopics...)
	return c, nil
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
