package ws

import (
	"fmt"
	"runtime/debug"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/internal/connserver"
)

// PanicError describes a panic, or a call to runtime.Goexit, in a
// ClientOptions callback run on the client's goroutine. The client
// recovers it and passes it to ClientOptions.OnError.
type PanicError struct {
	// Callback is "OnMessage", "OnState" or "OnError".
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
		return fmt.Sprintf("ws: ClientOptions.%s called runtime.Goexit; callbacks must return", e.Callback)
	}
	return fmt.Sprintf("ws: ClientOptions.%s panicked: %v", e.Callback, e.Value)
}

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// callback runs f, a per-connection callback (OnConnect, OnMessage,
// AllowTopic) on c's reader goroutine, and reports whether it returned. A
// panic or runtime.Goexit in it is counted and closes c with 1011; after
// a Goexit the reader's deferred calls finish the close.
func (c *Conn) callback(f func()) bool {
	return connserver.Guard(f, func(any, bool) { c.callbackFailed() })
}

func (c *Conn) callbackFailed() {
	c.hub.core.Counters.CallbackPanics.Add(1)
	c.setReason(ReasonCallbackPanic)
	c.closeWith(websocket.StatusInternalError, "internal error")
}

// topicKey returns HubOptions.TopicKey's key for a message published to
// t. A panic in TopicKey is counted and means no key (""); a
// runtime.Goexit is counted, queues the message with no key, and the
// fan-out goes on on a new goroutine (see fanOut.run).
func (f *fanOut) topicKey(fr frame) string {
	h := f.h
	if h.opt.TopicKey == nil {
		return f.t.Name
	}
	var key string
	if !connserver.Guard(func() { key = h.opt.TopicKey(f.t.Name, fr.data) }, func(_ any, goexit bool) {
		h.core.Counters.CallbackPanics.Add(1)
		if goexit {
			f.items = append(f.items, f.item(fr, ""))
		}
	}) {
		return ""
	}
	return key
}

// callback runs f, the ClientOptions callback named name. A panic is
// recovered and a panic or runtime.Goexit is reported to OnError as a
// *PanicError (a failing OnError is not reported to itself); after a
// Goexit on the client's goroutine, run starts another that goes on.
func (cl *Client) callback(name string, f func()) {
	connserver.Guard(f, func(v any, goexit bool) {
		pe := &PanicError{Callback: name, Value: v, Goexit: goexit, Stack: string(debug.Stack())}
		if goexit {
			cl.exited = pe // run's deferred call reports it from the next goroutine
			return
		}
		cl.report(pe)
	})
}

// report passes a callback's failure to OnError.
func (cl *Client) report(pe *PanicError) {
	if cl.opt.OnError != nil && pe.Callback != "OnError" {
		cl.callback("OnError", func() { cl.opt.OnError(pe) })
	}
}
