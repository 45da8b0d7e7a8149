package pool

import (
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Lease is one caller's hold on a pooled connection, returned by
// Pool.Acquire. End every lease with exactly one Release or Discard.
//
// A Lease is a small value (a pointer and a generation number), so Acquire
// allocates nothing. Copies of a Lease are the same lease. Every Release or
// Discard advances the connection's generation, so a second Release or
// Discard through any copy of an ended lease panics, even after the
// connection has been leased again to someone else: a stale lease can never
// release another caller's connection. Its methods are safe to call from any
// goroutine, but a lease is meant to have one holder at a time.
type Lease[T any] struct {
	c   *conn[T]
	gen uint64
}

// Value returns the leased connection. It panics if the lease has ended
// (Release or Discard) or is the zero Lease.
func (l Lease[T]) Value() T {
	if l.c == nil || l.c.gen.Load() != l.gen {
		panic("pool: Lease.Value called on an ended or zero Lease")
	}
	return l.c.value
}

// Release returns the connection to the pool for reuse, waking the longest
// waiting caller if there is one (see Pool.Acquire for who gets it). If its lifetime is over or
// the pool has been closed, Release closes it instead, running Config.Close
// on the calling goroutine; if Close panics, the connection's slot is freed
// before the panic goes on. Calling Release or Discard again on the same
// lease panics.
func (l Lease[T]) Release() {
	c := l.end()
	c.pool.release(c)
}

// Discard closes the connection, running Config.Close on the calling
// goroutine, instead of returning it: use it for a connection found broken
// or left in an unknown protocol state. The pool dials a replacement if
// callers are waiting or MinIdle requires one. If Close panics, the slot is
// freed before the panic goes on. Calling Release or Discard again on the
// same lease panics.
func (l Lease[T]) Discard() {
	c := l.end()
	c.pool.retire(c, closeDiscard, false)
}

// end claims the lease for Release or Discard, once.
func (l Lease[T]) end() *conn[T] {
	c := l.c
	if c == nil {
		panic("pool: Release or Discard of a zero Lease")
	}
	if !c.gen.CompareAndSwap(l.gen, l.gen+1) {
		panic("pool: Release or Discard of a Lease that has already ended")
	}
	if c.leak != nil {
		c.leak.timer.Stop()
	}
	return c
}

// never is the expiry of a connection without a lifetime.
const never = time.Duration(1<<63 - 1)

// conn is a pooled connection, allocated once per dial.
type conn[T any] struct {
	value T
	pool  *Pool[T]
	// gen is the generation of the current or next lease; ending a lease
	// advances it, so stale leases are detected.
	gen atomic.Uint64
	// expires is the end of the connection's lifetime, since pool.epoch.
	expires time.Duration
	// idleSince is when the connection was last returned; protected by
	// pool.mu.
	idleSince time.Duration
	// reason is set by the sweep for connections it is about to close.
	reason closeReason
	// leak is nil unless Config.LeakThreshold is set.
	leak *leakState
}

// leakState tracks the current lease for leak reports. Its fields are
// protected by pool.mu.
type leakState struct {
	timer *time.Timer
	gen   uint64        // generation of the tracked lease
	at    time.Duration // when it was leased, since pool.epoch
	n     int
	pcs   [32]uintptr
}

// trackLeak records where c is being leased and arms its leak timer.
func (p *Pool[T]) trackLeak(c *conn[T], gen uint64) {
	var pcs [32]uintptr
	n := runtime.Callers(3, pcs[:])
	now := p.now()
	ls := c.leak
	p.mu.Lock()
	ls.gen, ls.at, ls.n, ls.pcs = gen, now, n, pcs
	if ls.timer == nil {
		ls.timer = time.AfterFunc(p.cfg.LeakThreshold, func() { p.reportLeak(c) })
	} else {
		ls.timer.Reset(p.cfg.LeakThreshold)
	}
	p.mu.Unlock()
}

// reportLeak runs on the leak timer's goroutine and calls OnLeak if the
// lease it was armed for is still out.
func (p *Pool[T]) reportLeak(c *conn[T]) {
	now := p.now()
	p.mu.Lock()
	ls := c.leak
	held := now - ls.at
	if p.closed || c.gen.Load() != ls.gen || held < p.cfg.LeakThreshold {
		// Ended, or ended and leased again: the new lease rearmed the timer.
		p.mu.Unlock()
		return
	}
	pcs, n := ls.pcs, ls.n
	info := LeakInfo{Acquired: p.epoch.Add(ls.at), Held: held}
	p.n.leak++
	p.wg.Add(1) // Close has not started waiting: p.closed is false.
	p.mu.Unlock()
	defer p.wg.Done()
	info.Stack = formatStack(pcs[:n])
	returned := false
	defer func() {
		if !returned {
			p.panicked("OnLeak", recover())
		}
	}()
	p.cfg.OnLeak(info)
	returned = true
}

// pkgPrefix prefixes the names of this package's functions.
var pkgPrefix = reflect.TypeFor[leakState]().PkgPath() + "."

// formatStack renders pcs, leaving out this package's own frames.
func formatStack(pcs []uintptr) string {
	var b strings.Builder
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, pkgPrefix) {
			b.WriteString(f.Function)
			b.WriteString("\n\t")
			b.WriteString(f.File)
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(f.Line))
			b.WriteByte('\n')
		}
		if !more {
			return b.String()
		}
	}
}
