package sse

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
)

// Server streams the messages of pubsub topics to clients as Server-Sent
// Events. It is an http.Handler. On HTTP/1.1 a stream takes over its
// connection and the handler returns (an idle stream costs one goroutine
// reading the connection); otherwise it lives on its request's handler
// goroutine (see the package doc, Connections and goroutines).
// All methods are safe for concurrent use.
//
// The server subscribes to each topic once (while it has streams) and
// copies every message into the send queue of each stream; a stream that
// resumes from an ID replays the broker's history on a goroutine of its
// own until it has caught up with that fan-out, then joins it.
//
// Admission, limits, origin checks, the topic registry, the clock and
// shutdown are the connection-server core's (internal/connserver), shared
// with ws; the server is the event-stream protocol over it. The files are
// by concern: handler.go (the request and the stream's start), topics.go
// (joining and the fan-out), replay.go, heartbeat.go (the clock),
// conn.go and hijack.go (the two writers), shutdown.go.
type Server struct {
	opt  ServerOptions
	core *connserver.Server[*conn, *member]

	epoch   time.Time    // conn.lastWrite counts from it
	writers atomic.Int64 // writer goroutines running (for tests)

	beat beater // the clock's state
	st   counters
}

// topic is a topic with local streams; its fields are guarded by the
// core's Mu.
type topic = connserver.Topic[*conn, *member]

// member is a stream's place in a topic; guarded by the core's Mu.
type member struct {
	live bool   // receives the fan-out (false while replaying)
	skip string // fan-out messages up to this ID were replayed already
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a server; a nil opts means defaults. It returns an
// error for invalid options (a negative value where the field gives it no
// meaning names the field) or when the default broker cannot be made.
func NewServer(opts *ServerOptions) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{opt: o, epoch: time.Now()}
	s.core, err = connserver.New(o.config(), o.Broker, connserver.Hooks[*conn, *member]{
		Start:  s.startFanOut,
		Beat:   s.heartbeat,
		GoAway: func(c *conn) { c.goAway(s.goodbye()) },
		Abort:  func(c *conn) { c.abort(errShutdown) },
		Ended:  func(c *conn) <-chan struct{} { return c.ended },
	})
	if err != nil {
		return nil, err
	}
	s.beat.iw = connserver.NewInlineWriter()
	return s, nil
}

// Publish sends data to every stream subscribed to topic on every server
// sharing the broker and returns the message's ID, which is the event's
// id field. ctx bounds the broker call only. The server keeps data; do not
// modify it afterwards.
func (s *Server) Publish(ctx context.Context, topicName string, data []byte) (string, error) {
	id, err := s.core.Publish(ctx, topicName, data)
	if errors.Is(err, connserver.ErrClosing) {
		return "", ErrServerClosed
	}
	return id, err
}

// now is the time since the server was made, for conn.lastWrite.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }
