package sse

import (
	"errors"
	"net/http"
)

// ErrServerClosed is returned by Publish once the server is shutting down
// or closed.
var ErrServerClosed = errors.New("sse: server closed")

// ErrNoTopics is returned by NewServer when neither ServerOptions.Topics
// nor PublicTopics is set: the server would serve nothing, and serving
// every topic to anyone is not a default.
var ErrNoTopics = errors.New("sse: no readable topics; set ServerOptions.Topics to authorise streams or PublicTopics to name the topics anyone may read")

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

// errNotPublic answers a default-hook request for a topic not in
// PublicTopics; the body does not echo the name.
var errNotPublic = &StatusError{Code: http.StatusForbidden, Message: "topic not public"}

// errTopicTooLong answers a stream with a topic name over MaxTopicLen; the
// body does not echo the name.
var errTopicTooLong = &StatusError{Code: http.StatusBadRequest, Message: "topic name longer than 256 bytes"}

// Causes a stream's queue fails with; closeReason maps them to reasons.
var (
	errStreamEnded = errors.New("sse: stream ended")
	errSetupDone   = errors.New("sse: stream set up")
	errShutdown    = errors.New("sse: server shutting down")
	errLagged      = errors.New("sse: stream fell behind the broker; the client resumes from its last ID")
	errCallback    = errors.New("sse: OnConnect panicked or called runtime.Goexit")
	errClientGone  = errors.New("sse: client closed the connection")
)
