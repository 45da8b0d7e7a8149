package sse

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
)

// Shutdown stops accepting streams (new requests get 503) and ends every
// open stream gracefully: its queued events are written, then a retry
// field chosen at random across ServerOptions.ShutdownWindow (so clients
// reconnect to the next instance spread over the window), the optional
// ShutdownEvent and a comment, and the response ends. It waits for the
// streams to end, then releases the server like Close. If ctx ends first,
// the remaining streams are cut and Shutdown returns ctx.Err() after
// joining them. Safe to call more than once and together with Close.
//
// http.Server.Shutdown does not end event streams (a handler returns only
// when its stream ends, and a stream that owns its connection is not
// tracked by http.Server at all), so wire it in with
// [Server.RegisterOnShutdown].
func (s *Server) Shutdown(ctx context.Context) error { return s.core.Shutdown(ctx) }

// goodbye is what a stream gets on Shutdown after its queued events.
func (s *Server) goodbye() []byte {
	win := s.opt.ShutdownWindow
	retry := win/10 + rand.N(win-win/10+1)
	bye, _ := AppendEvent(nil, Event{Retry: retry})
	if s.opt.ShutdownEvent != "" {
		bye, _ = AppendEvent(bye, Event{Type: s.opt.ShutdownEvent, Data: []byte("shutdown")})
	}
	return AppendComment(bye, "server shutting down; reconnect")
}

// RegisterOnShutdown makes srv call s.Shutdown, with a context bounded by
// timeout (zero or negative means 10s), when srv starts shutting down:
// *http.Server runs it in its Shutdown, httpx.Server when draining starts
// (its RegisterOnShutdown is OnDrain), so the streams end, and clients
// reconnect elsewhere, while a load balancer still sends traffic.
// *http.Server runs it on a goroutine of its own and does not wait for the
// streams that own their connections (HTTP/1.1): call s.Shutdown or
// s.Close afterwards to wait for them.
func (s *Server) RegisterOnShutdown(srv interface{ RegisterOnShutdown(func()) }, timeout time.Duration) {
	connserver.RegisterOnShutdown(srv, timeout, s.Shutdown)
}

// Close cuts every stream at once (see Shutdown for the graceful way),
// closes the broker if the server made it, and waits for every goroutine
// the server started and every stream's handler to end. Idempotent; later
// calls return the first call's result.
func (s *Server) Close() error { return s.core.Close() }

// finish tears c down after its writer returned: it leaves its topics,
// releases its reservation and runs OnClose.
func (s *Server) finish(c *conn, reason CloseReason) {
	c.abort(errStreamEnded)
	c.replays.Wait()
	s.core.Mu.Lock()
	for _, t := range c.topics {
		s.core.LeaveLocked(t, c)
	}
	s.core.RemoveLocked(c, c.ip)
	s.core.Mu.Unlock()
	s.core.Counters.ClosedBy(string(reason))
	defer close(c.ended)
	if s.opt.OnClose != nil {
		// On a goroutine of its own: a runtime.Goexit must not end the
		// request's handler goroutine, whose middleware still has to
		// finish the response.
		s.core.Call(func() { s.opt.OnClose(c.r, reason) })
	}
}
