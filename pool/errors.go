package pool

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrClosed is returned by Acquire once Close or Drain has been called, both
// to new callers and to callers that were waiting.
var ErrClosed = errors.New("pool: closed")

// ErrExhausted matches, with errors.Is, every *ExhaustedError.
var ErrExhausted = errors.New("pool: exhausted")

// ExhaustedError is returned by Acquire when it runs out of time waiting for
// a connection: Config.AcquireTimeout elapsed or the context's deadline
// passed. It matches ErrExhausted and, through Unwrap, also
// context.DeadlineExceeded, so code that treats every deadline alike keeps
// working. A context cancelled without a deadline yields an error wrapping
// context.Canceled instead.
//
// The counts are a snapshot taken when the caller gave up.
type ExhaustedError struct {
	// InUse is the number of leased connections.
	InUse int
	// Max is Config.MaxSize.
	Max int
	// Dialing is the number of dials in flight. When InUse < Max the pool
	// was not full: the caller was waiting for a dial.
	Dialing int
	// Waiting is the number of other callers still waiting.
	Waiting int
	// Waited is how long the caller waited.
	Waited time.Duration
	// Err is the cause, context.DeadlineExceeded.
	Err error
}

// Error describes the pool's state and what to change.
func (e *ExhaustedError) Error() string {
	if e.InUse < e.Max {
		return fmt.Sprintf("pool: exhausted: no connection after waiting %v with %d/%d in use, %d dials in flight, %d others waiting; the backend is slow to accept connections: raise MaxConcurrentDials or AcquireTimeout, or check the backend",
			roundDuration(e.Waited), e.InUse, e.Max, e.Dialing, e.Waiting)
	}
	return fmt.Sprintf("pool: exhausted: %d/%d in use after waiting %v, %d others waiting; raise MaxSize or release leases sooner",
		e.InUse, e.Max, roundDuration(e.Waited), e.Waiting)
}

// Is reports whether target is ErrExhausted.
func (e *ExhaustedError) Is(target error) bool { return target == ErrExhausted }

// Unwrap returns Err.
func (e *ExhaustedError) Unwrap() error { return e.Err }

// errPeerClosed is what ConnAlive returns for a connection the peer closed.
var errPeerClosed = fmt.Errorf("pool: connection closed by peer: %w", io.EOF)

// errUnexpectedData is what ConnAlive returns for an idle connection with
// unread data: the protocol state is unknown, so it cannot be reused.
var errUnexpectedData = errors.New("pool: idle connection has unread data")

// roundDuration keeps three significant digits or so, for messages.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
