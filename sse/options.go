package sse

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Policy is what a connection's send queue does with an event that does
// not fit. It is the same type as ws.Policy, so one configuration value
// serves both packages.
type Policy = sendq.Policy

// Slow-consumer policies for ServerOptions.Policy and
// ServerOptions.TopicPolicy.
const (
	// Inherit (the zero value) means Disconnect in ServerOptions.Policy and
	// "the server's policy" in ServerOptions.TopicPolicy.
	Inherit = sendq.Inherit
	// DropOldest evicts the oldest queued events: a live feed. The client
	// is not told; its next event's ID simply skips the dropped ones.
	DropOldest = sendq.DropOldest
	// DropNewest refuses the new event.
	DropNewest = sendq.DropNewest
	// Block makes the topic's fan-out wait up to ServerOptions.BlockTimeout,
	// then disconnects the client as a slow consumer. Every subscriber of
	// the topic on this server waits meanwhile: prefer Disconnect.
	Block = sendq.Block
	// Disconnect (the default) closes a connection whose queue is full at
	// once. The client reconnects with Last-Event-ID and the server replays
	// from the broker's history, so within retention nothing is lost and
	// the slow client never delays the others.
	Disconnect = sendq.Disconnect
	// CoalesceByKey keeps only the latest queued event per key (prices);
	// see ServerOptions.TopicKey.
	CoalesceByKey = sendq.CoalesceByKey
)

// HeaderLost is the response header set to "true" when the client asked
// to resume from an ID older than what the broker retains: events were
// lost. Browsers' EventSource cannot read headers, so the server also
// sends a first event of type ServerOptions.LostEvent.
const HeaderLost = "Events-Lost"

// TopicsFunc chooses the topics of a stream from its request. It is the
// place for authentication: return an error to refuse the stream; an error
// that is (or wraps) a [*StatusError] answers with its status, any other
// error with 403 Forbidden. Topics are delivered in order per topic.
type TopicsFunc func(r *http.Request) ([]string, error)

// ServerOptions configures a [Server]. A nil *ServerOptions is valid and
// means all defaults. NewServer copies the struct; changing it later has no
// effect.
type ServerOptions struct {
	// Broker carries Publish to the streams of every server that shares
	// it and keeps the history that resumption replays. Nil means a new
	// pubsub.NewMemory(nil) that the server closes in Close; a Broker
	// passed in is not closed by the server.
	Broker pubsub.Broker
	// Topics chooses each stream's topics; it is where requests are
	// authorised. Nil means the request's "topic" query parameters (at
	// least one, else 400), each of which must be one of PublicTopics
	// (else 403): nil never means "any topic". Topics nil with
	// PublicTopics empty is an error ([ErrNoTopics]).
	Topics TopicsFunc
	// PublicTopics are the topics anyone may read, by exact name, when
	// Topics is nil. Nil means none. Setting both it and Topics is an
	// error: a Topics hook decides alone (it may serve public topics too).
	PublicTopics []string
	// MaxTopics bounds the distinct topics of one stream, whoever chose
	// them (repeated topics count once and are served once); a request
	// for more gets 400. Each new topic costs a broker subscription and a
	// fan-out goroutine. Defaults to 16; negative is an error.
	MaxTopics int
	// EventType, if set, gives the event field of a message published to
	// a topic ("" means the default "message"). Nil means no event field.
	EventType func(topic string, data []byte) string
	// LostEvent is the type of the event sent first when a client resumes
	// from an ID older than the broker retains (its data is the requested
	// ID; it has no id field), and to the live streams of a topic whose
	// fan-out fell behind the broker's buffer (its data is the last ID
	// before the gap). Defaults to "lost"; "-" sends none (the HeaderLost
	// response header is always set).
	LostEvent string

	// OriginPatterns are host patterns (path.Match syntax) of cross-origin
	// pages allowed to open a stream; they get CORS headers. The request's
	// own host is always allowed. Nil allows same-origin only: another
	// Origin gets 403. Requests without Origin (non-browser) are allowed.
	OriginPatterns []string
	// MaxConns bounds open streams on the server. Over it, requests get
	// 503 with Retry-After before the stream starts. Defaults to 10000;
	// negative means no limit.
	MaxConns int
	// MaxConnsPerIP bounds open streams per client IP (see ClientIP).
	// Defaults to 100; negative means no limit.
	MaxConnsPerIP int
	// RetryAfter is the Retry-After given with a 503. Defaults to 5s;
	// rounded up to whole seconds.
	RetryAfter time.Duration
	// ClientIP returns the client address used for MaxConnsPerIP. Defaults
	// to the host part of Request.RemoteAddr.
	ClientIP func(*http.Request) string

	// Policy for each connection's send queue. Defaults to Disconnect
	// (see the constant; ws defaults to DropOldest because it cannot
	// replay).
	Policy Policy
	// TopicPolicy overrides Policy for events of a topic (Inherit uses
	// Policy). Nil means none.
	TopicPolicy map[string]Policy
	// TopicKey gives the coalescing key of a message (CoalesceByKey; ""
	// never coalesces). Nil means the topic name.
	TopicKey func(topic string, data []byte) string
	// QueueMessages bounds each connection's queue. Defaults to 64.
	QueueMessages int
	// QueueBytes bounds each connection's queued bytes. Defaults to 1 MiB.
	QueueBytes int
	// BlockTimeout is how long a fan-out or replay waits under Block.
	// Defaults to 5s.
	BlockTimeout time.Duration
	// WriteTimeout bounds each write and flush (a per-write deadline set
	// with http.ResponseController); a client that does not take the
	// bytes in time is dropped. Defaults to 10s.
	WriteTimeout time.Duration

	// Heartbeat is the time between comment lines on an idle stream, under
	// the idle timeouts of proxies and load balancers. Defaults to 15s;
	// negative disables heartbeats.
	Heartbeat time.Duration
	// Retry, if positive, is sent as the retry field when a stream opens,
	// setting the client's reconnection delay. Zero sends none (browsers
	// default to a few seconds).
	Retry time.Duration

	// ShutdownWindow is the drain window: on Shutdown each client gets a
	// retry field chosen at random in [ShutdownWindow/10, ShutdownWindow],
	// so reconnects to the next instance spread over it. Defaults to 5s.
	ShutdownWindow time.Duration
	// ShutdownEvent is the type of the final event sent on Shutdown
	// before the stream closes (its data is "shutdown"). Defaults to a
	// comment only (no event), since an unknown event type is ignored by
	// listeners anyway; set it to let pages react.
	ShutdownEvent string

	// OnConnect, if set, runs after a stream's headers are sent, on its
	// handler goroutine, with the topics and the ID it resumes from.
	OnConnect func(r *http.Request, topics []string, lastEventID string)
	// OnClose, if set, runs once per stream when it ended, with the reason,
	// on the stream's handler goroutine or (HTTP/1.1, see Server) a server
	// goroutine; a panic in it is recovered and counted in
	// Stats.CallbackPanics.
	OnClose func(r *http.Request, reason CloseReason)
}

// StatusError is an HTTP error a TopicsFunc returns to refuse a stream
// with a status other than 403.
type StatusError struct {
	Code    int    // HTTP status, e.g. 401; anything but 4xx and 5xx means 403
	Message string // short body; defaults to the status text
}

// Error returns the message.
func (e *StatusError) Error() string {
	if e.Message != "" {
		return "sse: " + e.Message
	}
	return "sse: " + http.StatusText(e.Code)
}

func (o *ServerOptions) withDefaults() (ServerOptions, error) {
	var c ServerOptions
	if o != nil {
		c = *o
	}
	switch {
	case c.Topics != nil && len(c.PublicTopics) > 0:
		return c, errors.New("sse: set ServerOptions.Topics or PublicTopics, not both; a Topics hook decides alone")
	case c.Topics == nil && len(c.PublicTopics) == 0:
		return c, ErrNoTopics
	case c.Topics == nil:
		public := make(map[string]struct{}, len(c.PublicTopics))
		for _, t := range c.PublicTopics {
			public[t] = struct{}{}
		}
		c.PublicTopics = append([]string(nil), c.PublicTopics...)
		c.Topics = func(r *http.Request) ([]string, error) { return queryTopics(r, public) }
	}
	if c.MaxTopics < 0 {
		return c, fmt.Errorf("sse: MaxTopics %d is negative; use 0 for the default (16) or a positive bound", c.MaxTopics)
	}
	if c.MaxTopics == 0 {
		c.MaxTopics = 16
	}
	if c.LostEvent == "" {
		c.LostEvent = "lost"
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
		c.Policy = Disconnect
	}
	if c.Policy > CoalesceByKey {
		return c, fmt.Errorf("sse: unknown policy %v", c.Policy)
	}
	if c.TopicPolicy != nil {
		m := make(map[string]Policy, len(c.TopicPolicy))
		for k, v := range c.TopicPolicy {
			if v > CoalesceByKey {
				return c, fmt.Errorf("sse: unknown policy %v for topic %q", v, k)
			}
			m[k] = v
		}
		c.TopicPolicy = m
	}
	if c.QueueMessages <= 0 {
		c.QueueMessages = 64
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
	if c.Heartbeat == 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.ShutdownWindow <= 0 {
		c.ShutdownWindow = 5 * time.Second
	}
	for _, s := range []string{c.LostEvent, c.ShutdownEvent} {
		if !ValidID(s) {
			return c, errors.New("sse: LostEvent and ShutdownEvent must not contain NUL, CR or LF")
		}
	}
	c.OriginPatterns = append([]string(nil), c.OriginPatterns...)
	return c, nil
}

// ErrNoTopics is returned by NewServer when neither ServerOptions.Topics
// nor PublicTopics is set: the server would serve nothing, and serving
// every topic to anyone is not a default.
var ErrNoTopics = errors.New("sse: no readable topics; set ServerOptions.Topics to authorise streams or PublicTopics to name the topics anyone may read")

// errNotPublic answers a default-hook request for a topic not in
// PublicTopics; the body does not echo the name.
var errNotPublic = &StatusError{Code: http.StatusForbidden, Message: "topic not public"}

// queryTopics is the default TopicsFunc: the "topic" query parameters,
// each one of the public topics.
func queryTopics(r *http.Request, public map[string]struct{}) ([]string, error) {
	t := r.URL.Query()["topic"]
	if len(t) == 0 {
		return nil, &StatusError{Code: http.StatusBadRequest, Message: "no topic; add ?topic=name"}
	}
	for _, name := range t {
		if _, ok := public[name]; !ok {
			return nil, errNotPublic
		}
	}
	return t, nil
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
