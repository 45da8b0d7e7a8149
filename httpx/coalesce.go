package httpx

import (
	"context"
	"errors"
	"net"
	"time"
)

// Cold bursts. net/http dials once per request that finds no idle
// connection while it does not yet know the origin's protocol: 50
// concurrent first requests to an HTTP/2 origin make 50 TCP and TLS
// handshakes, then use one connection and close the rest. (x/net/http2's
// own connection pool coalesces such dials, but net/http gives it a pool
// that never dials and dials itself.) The direct transport's DialTLSContext
// therefore gates dials per origin: while one TLS dial to an origin is in
// flight (the leader), further dials wait for it to learn the protocol by
// ALPN. If it is HTTP/2, net/http hands that connection to every request
// waiting for one, so a waiting dial only watches its own request get it,
// then gives up its dial (errCoalesced, which net/http drops, the request
// being served); if it is HTTP/1.1 or failed, each dials on its own, as
// before. Origins last seen speaking HTTP/1.1 are not gated at all.
//
// A dial learns about its request from the request's requestTrace, which
// it finds in the context (net/http dials with the request context's
// values): GetConn and GotConn events say whether the attempt that started
// the dial got a connection meanwhile. A retry (the connection handed over
// had no free stream, or refused one) dials at once. Every wait is bounded
// and ends with the dial's context, the request, or Transport.Close.

// errCoalesced ends a dial whose request was served by a concurrent HTTP/2
// connection. net/http discards it: the request no longer waits for the
// dial.
var errCoalesced = errors.New("httpx: dial not needed: the request shares an HTTP/2 connection dialed concurrently")

// coalesceWait bounds how long a dial waits, after the leader connected
// with HTTP/2, for its request to be given that connection before dialing
// on its own. net/http hands it over within microseconds; the bound only
// matters if the new connection failed at once.
const coalesceWait = time.Second

// lateWindow is how long a gate whose leader connected with HTTP/2 stays
// after it is otherwise finished, and how long at most a dial arriving
// then waits for its request to be served. It covers dials that net/http
// started for requests queued before the new connection reached its pool
// (which hands it to them) but whose goroutines reach DialTLSContext only
// after the leader is done. Short, in case such a dial is needed after all
// (the new connection failed); when the connection runs out of streams
// (dialGate.crowded) they dial at once.
const lateWindow = 100 * time.Millisecond

// ALPN results remembered per origin (counters.alpn).
const (
	alpnUnknown = iota
	alpnH1
	alpnH2
)

// maxIdleGates is how many finished gates may stay in Transport.gates
// before an insertion sweeps them.
const maxIdleGates = 64

// dialGate is the state of a leader's dial to one origin. Its fields
// other than done are protected by Transport.gmu.
type dialGate struct {
	done    chan struct{} // closed when the leader's handshake ended
	h2      bool          // the leader connected with HTTP/2
	doneAt  time.Time     // when done was closed
	leader  *requestTrace // the leader's request; nil if unknown
	waiting int           // dials waiting on the gate

	// crowded is closed when a request the HTTP/2 connection had no
	// stream for dials again: from then on net/http has taken the
	// connection out of its idle pool, and dials arriving late are for
	// requests that need them.
	crowded       chan struct{}
	crowdedClosed bool
}

// finished reports whether the gate no longer coalesces: the leader's
// handshake ended with another protocol or an error, or with HTTP/2, its
// request got a connection, no dial waits, and lateWindow passed.
func (g *dialGate) finished() bool {
	select {
	case <-g.done:
	default:
		return false
	}
	return !g.h2 || (g.waiting == 0 && (g.leader == nil || g.leader.servedAny()) && time.Since(g.doneAt) > lateWindow)
}

// doneH2 reports whether the leader already connected with HTTP/2.
// Transport.gmu must be held.
func (g *dialGate) doneH2() bool {
	select {
	case <-g.done:
		return g.h2
	default:
		return false
	}
}

// dialTLSGated is dialTLSConn through the origin's gate.
func (t *Transport) dialTLSGated(ctx context.Context, network, addr string) (net.Conn, error) {
	rt, _ := ctx.Value(requestTraceKey{}).(*requestTrace)
	if rt == nil {
		return t.dialTLSConn(ctx, network, addr) // not a request of ours
	}
	m, pending := rt.mark()
	switch {
	case pending == 0:
		// net/http dials on its own goroutine: by now the request got
		// the connection another dial opened.
		return nil, errCoalesced
	case pending > 1 || m.gots > 0:
		// A retry: the connection net/http gave the request did not take
		// it (an HTTP/2 connection with every stream in use, or
		// closing), or failed it (a stream the server refused). It needs
		// a dial of its own, and so do late ones.
		t.gmu.Lock()
		if g := t.gates[addr]; g != nil && g.doneH2() {
			if !g.crowdedClosed {
				g.crowdedClosed = true
				close(g.crowded)
			}
			delete(t.gates, addr)
		}
		t.gmu.Unlock()
		return t.dialTLSConn(ctx, network, addr)
	}
	t.gmu.Lock()
	g := t.gates[addr]
	if g != nil && g.finished() {
		delete(t.gates, addr)
		g = nil
	}
	if g == nil {
		if t.reg.get(addr).host.alpn.Load() == alpnH1 {
			t.gmu.Unlock()
			return t.dialTLSConn(ctx, network, addr)
		}
		g = &dialGate{done: make(chan struct{}), crowded: make(chan struct{}), leader: rt}
		if len(t.gates) >= maxIdleGates {
			for k, og := range t.gates {
				if og.finished() {
					delete(t.gates, k)
				}
			}
		}
		t.gates[addr] = g
		t.gmu.Unlock()
		c, err := t.dialTLSConn(ctx, network, addr)
		t.gmu.Lock()
		g.h2 = err == nil && c.ConnectionState().NegotiatedProtocol == "h2"
		g.doneAt = time.Now()
		close(g.done)
		if !g.h2 && t.gates[addr] == g {
			delete(t.gates, addr)
		}
		t.gmu.Unlock()
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	late := g.doneH2()
	g.waiting++
	t.gmu.Unlock()
	defer func() {
		t.gmu.Lock()
		g.waiting--
		if t.gates[addr] == g && g.finished() {
			delete(t.gates, addr)
		}
		t.gmu.Unlock()
	}()

	// Wait for the leader's handshake, then, if it gave HTTP/2, for net/http
	// to hand its connection to this request. A request served otherwise
	// meanwhile, or gone, needs no dial either.
	wait, leading, crowded := t.leaderWait(), g.done, (<-chan struct{})(nil)
	if late { // arrived after the leader: see lateWindow
		wait, leading, crowded = lateWindow, nil, g.crowded
	}
	bound := time.NewTimer(wait)
	defer bound.Stop()
	for {
		changed, served := rt.served(m)
		if served {
			return nil, errCoalesced
		}
		select {
		case <-leading:
			if !g.h2 {
				return t.dialTLSConn(ctx, network, addr)
			}
			leading = nil
			bound.Reset(coalesceWait)
		case <-changed:
		case <-crowded:
			return t.dialTLSConn(ctx, network, addr)
		case <-bound.C:
			return t.dialTLSConn(ctx, network, addr)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.life.Done():
			return nil, ErrTransportClosed
		}
	}
}

// leaderWait bounds a wait for a leader's dial: the leader's own bounds,
// so a handshake the server stalls does not hold the others longer than
// it may take itself (with no handshake timeout, 10s is assumed).
func (t *Transport) leaderWait() time.Duration {
	hs := t.opts.TLSHandshakeTimeout
	if hs <= 0 {
		hs = 10 * time.Second
	}
	return t.opts.DialTimeout + hs
}

// requestTraceKey is the context key of a request's *requestTrace; dials
// see it because net/http keeps the request context's values.
type requestTraceKey struct{}

// dialMark is a request's connection events when a dial for it began.
type dialMark struct{ gets, gots int }

// mark returns the request's events now, and how many GetConn events came
// since its last GotConn: net/http reports one per attempt to get a
// connection, and the HTTP/2 layer one more just before GotConn when it
// takes a stream on a connection net/http handed over.
func (rt *requestTrace) mark() (m dialMark, pending int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return dialMark{rt.getConns, rt.gotConns}, rt.getConns - rt.getsAtGot
}

// served reports whether the attempt that started a dial marked m no
// longer waits for it: the request got a connection, a GetConn came after
// (net/http began another attempt, which it does only after the first
// ended, or the HTTP/2 layer took a stream on a connection handed over), or
// the round trip returned. If not, changed is closed at the next event.
func (rt *requestTrace) served(m dialMark) (changed <-chan struct{}, served bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.done || rt.gotConns > m.gots || rt.getConns > m.gets {
		return nil, true
	}
	if rt.changed == nil {
		rt.changed = make(chan struct{})
	}
	return rt.changed, false
}

// servedAny reports whether the request got a connection or ended.
func (rt *requestTrace) servedAny() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.gotConns > 0 || rt.done
}

// notifyLocked wakes the dials watching the request. rt.mu must be held.
func (rt *requestTrace) notifyLocked() {
	if rt.changed != nil {
		close(rt.changed)
		rt.changed = nil
	}
}

func (rt *requestTrace) getConn(string) {
	rt.mu.Lock()
	rt.getConns++
	rt.notifyLocked()
	rt.mu.Unlock()
}

// finish marks the round trip as returned.
func (rt *requestTrace) finish() {
	rt.mu.Lock()
	rt.done = true
	rt.notifyLocked()
	rt.mu.Unlock()
}
