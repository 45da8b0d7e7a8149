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

// PanicError describes a panic, or a call to runtime.Goexit, in a Config
// callback (Dial, Check, Close, OnLeak) that ran on a goroutine of the
// pool's own, where the pool recovers it, counts it in
// Stats.CallbackPanics and treats the connection concerned as broken. A
// Dial that panics fails with an error wrapping a *PanicError, returned to
// the longest waiting Acquire like any dial error.
//
// A callback that panics on the caller's goroutine (Check run by Acquire,
// Close run by Release, Discard or a failed check) is not recovered: the
// pool frees the connection's slot and lets the panic, or the Goexit,
// continue to the caller unchanged.
type PanicError struct {
	// Callback is "Dial", "Check", "Close" or "OnLeak".
	Callback string
	// Value is what the callback passed to panic; nil after runtime.Goexit.
	Value any
	// Goexit reports a call to runtime.Goexit rather than a panic.
	Goexit bool
	// Stack is the stack of the goroutine at the panic.
	Stack string
}

// Error names the callback and the panic value: fix the callback.
func (e *PanicError) Error() string {
	if e.Goexit {
		return fmt.Sprintf("pool: Config.%s called runtime.Goexit; callbacks must return", e.Callback)
	}
	return fmt.Sprintf("pool: Config.%s panicked: %v", e.Callback, e.Value)
}

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

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
