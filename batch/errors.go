package batch

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrNotFound is the error a [Loader] returns for a key its fetch function
// did not find. [MapFetch] produces it for keys missing from the map; a
// [FetchFunc] may return it in its error slice.
var ErrNotFound = errors.New("batch: not found")

// ErrClosed is returned by [Loader.Load] and friends after [Loader.Close]
// (or [ScopedLoader.Close]) was called.
var ErrClosed = errors.New("batch: loader closed; make a new loader")

// ErrBadFetch is wrapped by the per-key errors a [Loader] returns when its
// fetch function broke the contract: a result slice whose length matches
// neither the keys nor (for errors) one. The message says what was returned.
var ErrBadFetch = errors.New("batch: fetch broke its contract; return one value (and nil or one error) per key, in key order")

// ErrAbandoned is the cause (see [context.Cause]) of the cancellation of a
// shared call's context in a [Group] once every caller waiting for it has
// left.
var ErrAbandoned = errors.New("batch: every caller waiting for the shared call has left")

// ErrGoexit is the error delivered when a function the package runs called
// runtime.Goexit instead of returning: to the waiters of a [Group] call, to
// every caller of a [Loader] batch (its fetch function), and to a
// [BulkHandler]'s Problem hook for the item (answered 500).
var ErrGoexit = errors.New("batch: function called runtime.Goexit instead of returning")

// PanicError is the error a [Group], [Loader] or [BulkHandler] delivers when
// a function it ran panicked. The panic is recovered on the goroutine that
// ran the function and never crashes the process; every caller waiting for
// the result gets the same *PanicError.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the stack of the goroutine that panicked, taken when the
	// panic was recovered.
	Stack []byte
}

func newPanicError(v any) *PanicError {
	stack := debug.Stack()
	// The first line names a goroutine whose state has changed by the time
	// the error is read; drop it, as x/sync/singleflight does.
	if i := bytes.IndexByte(stack, '\n'); i >= 0 {
		stack = stack[i+1:]
	}
	return &PanicError{Value: v, Stack: stack}
}

// Error reports the panic value followed by the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("batch: recovered panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error, so errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
