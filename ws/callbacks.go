package ws

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/coder/websocket"
)

// guard runs f, a call of a user callback, and reports whether it
// returned. If f panics or calls runtime.Goexit, failed runs first, on
// this goroutine with the panic's stack still in place, with the panic
// value (nil and goexit true for a Goexit); then a panic is recovered and
// guard returns false, while a Goexit cannot be stopped and goes on ending
// the goroutine, running its callers' deferred calls.
func guard(f func(), failed func(v any, goexit bool)) (ok bool) {
	defer func() {
		if !ok {
			v := recover() // nil only for a Goexit: panic(nil) is a *runtime.PanicNilError
			failed(v, v == nil)
		}
	}()
	f()
	return true
}

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
	return guard(f, func(any, bool) { c.callbackFailed() })
}

func (c *Conn) callbackFailed() {
	c.hub.st.callbackPanics.Add(1)
	c.setReason(ReasonCallbackPanic)
	c.closeWith(websocket.StatusInternalError, "internal error")
}

// countFailed counts a panic or runtime.Goexit in a hub-wide callback.
func (h *Hub) countFailed(any, bool) { h.st.callbackPanics.Add(1) }

// clientIP runs HubOptions.ClientIP for r; false means it panicked or
// called runtime.Goexit (counted). A custom one runs on a goroutine of its
// own, so that a Goexit ends that goroutine rather than the request's
// handler, which still answers.
func (h *Hub) clientIP(r *http.Request) (ip string, ok bool) {
	if !h.customIP {
		return remoteIP(r), true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ok = guard(func() { ip = h.opt.ClientIP(r) }, h.countFailed)
	}()
	<-done
	return ip, ok
}

// topicKey returns HubOptions.TopicKey's key for a message published to
// t. A panic in TopicKey is counted and means no key (""); a
// runtime.Goexit is counted, queues the message with no key, and the
// fan-out goes on on a new goroutine (see fanOut.run).
func (f *fanOut) topicKey(fr frame) string {
	h := f.h
	if h.opt.TopicKey == nil {
		return f.t.name
	}
	var key string
	if !guard(func() { key = h.opt.TopicKey(f.t.name, fr.data) }, func(_ any, goexit bool) {
		h.st.callbackPanics.Add(1)
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
	guard(f, func(v any, goexit bool) {
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
