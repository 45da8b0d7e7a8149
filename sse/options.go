package sse

import (
	"errors"
	"net/http"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
	"github.com/wirespeed/wirespeed/pubsub"
)

// Policy is what a stream's send queue does with an event that does not
// fit: ServerOptions.Policy for every event, ServerOptions.TopicPolicy for a
// topic's. ws and sse declare the same constants with the same values;
// convert between them with ws.Policy(p).
type Policy uint8

// Slow-consumer policies for ServerOptions.Policy and
// ServerOptions.TopicPolicy.
const (
	// Inherit (the zero value) means Disconnect in ServerOptions.Policy and
	// "the server's policy" in ServerOptions.TopicPolicy.
	Inherit Policy = iota
	// DropOldest evicts the oldest queued events: a live feed. The client
	// is not told; its next event's ID simply skips the dropped ones.
	DropOldest
	// DropNewest refuses the new event.
	DropNewest
	// Block makes the topic's fan-out wait up to ServerOptions.BlockTimeout,
	// then disconnects the client as a slow consumer. Every subscriber of
	// the topic on this server waits meanwhile: prefer Disconnect.
	Block
	// Disconnect (the default) closes a connection whose queue is full at
	// once. The client reconnects with Last-Event-ID and the server replays
	// from the broker's history, so within retention nothing is lost and
	// the slow client never delays the others.
	Disconnect
	// CoalesceByKey keeps only the latest queued event per key (prices);
	// see ServerOptions.TopicKey.
	CoalesceByKey
)

// String returns the policy's name, such as "disconnect".
func (p Policy) String() string { return sendq.Policy(p).String() }

// HeaderLost is the response header set to "true" when the client asked
// to resume from an ID older than what the broker retains: events were
// lost. Browsers' EventSource cannot read headers, so the server also
// sends a first event of type ServerOptions.LostEvent.
const HeaderLost = "Events-Lost"

// MaxTopicLen is the longest topic name a stream may have, whoever chose
// it (a Topics hook may pass on what a client sent); a longer one answers
// 400 without echoing it.
const MaxTopicLen = 256

// TopicsFunc chooses the topics of a stream from its request. It is the
// place for authentication: return an error to refuse the stream; an error
// that is (or wraps) a [*StatusError] answers with its status, any other
// error with 403 Forbidden. Topics are delivered in order per topic.
type TopicsFunc func(r *http.Request) ([]string, error)

// ServerOptions configures a [Server]. A nil *ServerOptions is valid and
// means all defaults. NewServer copies the struct; changing it later has no
// effect. A zero field selects its default; a negative one is an error
// from NewServer unless the field gives it a meaning.
type ServerOptions struct {
	// Broker carries Publish to the streams of every server that shares
	// it and keeps the history that resumption replays. A Broker passed in
	// is not closed by the server. Nil, the default, means a new
	// pubsub.NewMemory(nil) that the server closes in Close.
	Broker pubsub.Broker
	// Topics chooses each stream's topics; it is where requests are
	// authorised. A topic name longer than MaxTopicLen answers 400. Setting
	// both it and PublicTopics is an error: the hook decides alone (it may
	// serve public topics too), as ws's AllowTopic does. Nil, the default,
	// means the request's "topic" query parameters (at least one, else
	// 400), each of which must be one of PublicTopics (else 403): nil never
	// means "any topic"; Topics nil with PublicTopics empty is an error
	// ([ErrNoTopics]).
	Topics TopicsFunc
	// PublicTopics are the topics anyone may read, by exact name, when
	// Topics is nil. Nil, the default, means none.
	PublicTopics []string
	// MaxTopics bounds the distinct topics of one stream, whoever chose
	// them (repeated topics count once and are served once); a request
	// for more gets 400. Each new topic costs a broker subscription and a
	// fan-out goroutine. Zero means the default, 16; negative means no
	// limit (the Topics hook must then bound what a request gets), as
	// ws's MaxTopicsPerConn.
	MaxTopics int
	// EventType, if set, gives the event field of a message published to
	// a topic ("" means the default "message"). It runs on the topic's
	// fan-out goroutine; if it panics or calls runtime.Goexit,
	// Stats.CallbackPanics counts it and the event goes out without a
	// type. Nil, the default, means no event field.
	EventType func(topic string, data []byte) string
	// LostEvent is the type of the event sent first when a client resumes
	// from an ID older than the broker retains (its data is the requested
	// ID; it has no id field), and to the live streams of a topic whose
	// fan-out fell behind the broker's buffer (its data is the last ID
	// before the gap). "-" sends none (the HeaderLost response header is
	// always set). "" means the default, "lost".
	LostEvent string

	// OriginPatterns are host patterns (path.Match syntax; a pattern with
	// "://" is matched against scheme://host) of cross-origin pages
	// allowed to open a stream; they get CORS headers. The request's own
	// host is always allowed; requests without Origin (non-browser) are
	// allowed. Nil, the default, allows same-origin only: another Origin
	// gets 403. A malformed pattern is an error.
	OriginPatterns []string
	// MaxConns bounds the server's streams, counted from the moment a
	// request is admitted (before the stream starts) until it is
	// released; over it, requests get 503 with Retry-After. Zero means the
	// default, 10000; negative means no limit.
	MaxConns int
	// MaxConnsPerIP bounds streams per client IP (see ClientIP), counted
	// like MaxConns. Zero means the default, 100; negative means no limit.
	MaxConnsPerIP int
	// RetryAfter is the Retry-After given with a 503, rounded up to whole
	// seconds. Zero means the default, 5s; negative is an error.
	RetryAfter time.Duration
	// ClientIP returns the client address used for MaxConnsPerIP. It runs
	// on a goroutine of its own for each request: if it panics or calls
	// runtime.Goexit, that request gets 500 and Stats.CallbackPanics
	// counts it. Nil, the default, means the host part of
	// Request.RemoteAddr.
	ClientIP func(*http.Request) string

	// Policy for each connection's send queue. Inherit, the zero value,
	// means the default, Disconnect (see the constant; ws defaults to
	// DropOldest because it cannot replay); an unknown policy is an error.
	Policy Policy
	// TopicPolicy overrides Policy for events of a topic (Inherit uses
	// Policy). Nil, the default, means none.
	TopicPolicy map[string]Policy
	// TopicKey gives the coalescing key of a message (CoalesceByKey; ""
	// never coalesces). It runs on the topic's fan-out goroutine; if it
	// panics or calls runtime.Goexit, Stats.CallbackPanics counts it and
	// the event has no key. Nil, the default, means the topic name.
	TopicKey func(topic string, data []byte) string
	// QueueMessages bounds each connection's queue. Zero means the
	// default, 64; negative is an error.
	QueueMessages int
	// QueueBytes bounds each connection's queued bytes. Zero means the
	// default, 1 MiB; negative is an error.
	QueueBytes int
	// BlockTimeout is how long a fan-out or replay waits under Block. Zero
	// means the default, 5s; negative is an error.
	BlockTimeout time.Duration
	// WriteTimeout bounds each write and flush (a per-write deadline set
	// with http.ResponseController); a client that does not take the
	// bytes in time is dropped. Zero means the default, 10s; negative is
	// an error.
	WriteTimeout time.Duration

	// Heartbeat is the time between comment lines on an idle stream, under
	// the idle timeouts of proxies and load balancers. Zero means the
	// default, 15s; negative disables heartbeats.
	Heartbeat time.Duration
	// Retry, if positive, is sent as the retry field when a stream opens,
	// setting the client's reconnection delay. Zero, the default, sends
	// none (browsers default to a few seconds); negative is an error.
	Retry time.Duration

	// ShutdownWindow is the drain window: on Shutdown each client gets a
	// retry field chosen at random in [ShutdownWindow/10, ShutdownWindow],
	// so reconnects to the next instance spread over it. Zero means the
	// default, 5s; negative is an error.
	ShutdownWindow time.Duration
	// ShutdownEvent is the type of the final event sent on Shutdown
	// before the stream closes (its data is "shutdown"); set it to let
	// pages react. "", the default, sends a comment only (no event), since
	// an unknown event type is ignored by listeners anyway.
	ShutdownEvent string

	// OnConnect, if set, runs after a stream's headers are sent, with the
	// topics and the ID it resumes from, on a goroutine of its own: if it
	// panics or calls runtime.Goexit, Stats.CallbackPanics counts it and
	// the stream ends with ReasonCallbackPanic. Nil, the default, does
	// nothing.
	OnConnect func(r *http.Request, topics []string, lastEventID string)
	// OnClose, if set, runs once per stream when it ended, with the reason,
	// on a goroutine of its own (never the request's handler goroutine,
	// which a runtime.Goexit would end); a panic or runtime.Goexit in it is
	// counted in Stats.CallbackPanics. Nil, the default, does nothing.
	OnClose func(r *http.Request, reason CloseReason)
}

// withDefaults validates o and fills the fields sse keeps; the shared ones
// (limits, queue, origin) go to the core through config, which fills them
// there.
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
	v := connserver.Checker{Pkg: "sse", Type: "ServerOptions"}
	v.Int("MaxTopics", &c.MaxTopics, 16, true)
	v.Duration("Heartbeat", &c.Heartbeat, 15*time.Second, true)
	v.Duration("Retry", &c.Retry, 0, false)
	v.Duration("ShutdownWindow", &c.ShutdownWindow, 5*time.Second, false)
	if c.LostEvent == "" {
		c.LostEvent = "lost"
	}
	if !ValidID(c.LostEvent) || !ValidID(c.ShutdownEvent) {
		v.Fail(errors.New("sse: LostEvent and ShutdownEvent must not contain NUL, CR or LF"))
	}
	return c, v.Err
}

// config is what the core needs of the options; it fills and checks the
// shared fields.
func (o *ServerOptions) config() connserver.Config {
	return connserver.Config{
		Pkg: "sse", Type: "ServerOptions", DefaultPolicy: sendq.Disconnect, LingerWait: lingerWait,
		Heartbeat: o.Heartbeat, OriginPatterns: o.OriginPatterns, ClientIP: o.ClientIP,
		MaxConns: o.MaxConns, MaxConnsPerIP: o.MaxConnsPerIP, RetryAfter: o.RetryAfter,
		QueueMessages: o.QueueMessages, QueueBytes: o.QueueBytes, BlockTimeout: o.BlockTimeout,
		WriteTimeout: o.WriteTimeout, Policy: sendq.Policy(o.Policy), TopicPolicy: connserver.Policies(o.TopicPolicy),
	}
}

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
