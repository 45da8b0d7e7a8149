package batch

import (
	"context"
	"sync"
	"time"
)

// GroupOptions configure a [Group]. The zero value is valid; a Group made
// with [NewGroup] copies the options, so changing them later has no effect.
type GroupOptions struct {
	// TTL keeps a successful result for this long after its function
	// returned, so callers that arrive just after the call (the rest of a
	// herd) share it instead of starting another call. Errors are never
	// kept. Zero or negative: results are not kept, as in
	// x/sync/singleflight.
	TTL time.Duration

	// BaseContext returns the parent of the context a shared call runs
	// under, given the context of the caller that started it. The shared
	// context is cancelled (with cause [ErrAbandoned]) when every waiting
	// caller has left. Nil: context.Background(), so no caller's values,
	// deadline or cancellation reach the function. To carry the starting
	// caller's values (a trace span, a logger) without its cancellation,
	// set it to context.WithoutCancel; do not carry credentials this way,
	// since the result is shared with callers that have other ones. A nil
	// result means context.Background(); a panic (or runtime.Goexit) in
	// it fails the call as one in the function would.
	BaseContext func(caller context.Context) context.Context
}

// Group coalesces concurrent calls that have the same key: the first caller
// starts the function, later callers wait for its result. It is the
// context-aware, generic counterpart of x/sync/singleflight.Group.
//
// A Group is safe for concurrent use. The zero value is ready to use with
// default options; [NewGroup] sets others. A Group must not be copied after
// first use.
//
// Keys are the caller's to build. When the result depends on who asks
// (authenticated data), the key must include the user or tenant, or one
// caller's data is handed to another.
type Group[K comparable, V any] struct {
	opts GroupOptions
	now  func() time.Time // for tests; nil means time.Now

	mu    sync.Mutex     // protects everything below
	m     map[K]*call[V] // calls in flight and kept results; lazily made
	kept  []kept[K, V]   // kept results, oldest first (expiry order)
	stats GroupStats
}

// GroupStats is a snapshot of a [Group]'s counters and gauges.
type GroupStats struct {
	// Requests counts calls to Do.
	Requests uint64 `json:"requests"`
	// Calls counts executions of a function: the backend calls made.
	Calls uint64 `json:"calls"`
	// Shared counts Do calls answered by a function another caller
	// started: joined while in flight, or served from a kept result.
	Shared uint64 `json:"shared"`
	// Kept counts Do calls (among Shared) served from a result kept for
	// GroupOptions.TTL.
	Kept uint64 `json:"kept"`
	// Left counts waits that ended because the waiter's context ended
	// before the result was ready.
	Left uint64 `json:"left"`
	// Abandoned counts calls whose context was cancelled because every
	// waiter had left.
	Abandoned uint64 `json:"abandoned"`
	// Panics counts functions (or BaseContext hooks) that panicked or
	// called runtime.Goexit.
	Panics uint64 `json:"panics"`
	// InFlight is the number of functions running now.
	InFlight int `json:"in_flight"`
	// Waiting is the number of Do calls waiting for a result now, the
	// caller that started the call included.
	Waiting int `json:"waiting"`
	// Results is the number of results kept for GroupOptions.TTL now.
	Results int `json:"results"`
}

// call is one execution of a function and the callers waiting for it. It
// is kept small: one is allocated per call.
type call[V any] struct {
	wg sync.WaitGroup // done once the function has returned

	// Written before wg.Done and before done is closed; read after.
	val V
	err error

	// Protected by the group's mu.
	done     chan struct{}           // made by the first waiter that can leave; closed when finished
	cancel   context.CancelCauseFunc // nil when the function runs on the starter's goroutine; set before c is shared
	waiters  int32                   // callers still waiting, the starter included
	dups     int32                   // callers that joined while in flight
	finished bool                    // the function has returned
}

// kept is a result kept for the TTL, in expiry order.
type kept[K comparable, V any] struct {
	key     K
	c       *call[V]
	expires time.Time
}

// NewGroup returns a Group with the given options; nil options are the
// defaults, the same as a zero Group.
func NewGroup[K comparable, V any](opts *GroupOptions) *Group[K, V] {
	g := &Group[K, V]{}
	if opts != nil {
		g.opts = *opts
	}
	return g
}

// Do calls fn once for all concurrent callers with the same key and gives
// each the result. shared reports whether the result went to more than one
// caller (or came from a kept result).
//
// fn runs under a context of its own, not the caller's: it carries no
// caller's values (see GroupOptions.BaseContext) and is cancelled, with
// cause [ErrAbandoned], only when every caller waiting for the result has
// left. When ctx ends first, Do returns ctx.Err() at once for this caller
// only; the call goes on for the others, and a later Do with the same key
// joins it while it runs. Once every waiter has left, the key is free: the
// next Do starts a new call while the abandoned one winds down.
//
// When ctx can never be cancelled (ctx.Done() returns nil), the caller that
// starts a call runs fn on its own goroutine, as x/sync/singleflight does;
// otherwise fn runs on a goroutine of its own, which ends when fn returns.
//
// A panic in fn is recovered and every waiter gets a [*PanicError] holding
// the value and the stack; later calls with the key start afresh. If fn
// calls runtime.Goexit, the other waiters get [ErrGoexit].
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func(ctx context.Context) (V, error)) (v V, err error, shared bool) {
	ctxDone := ctx.Done()
	if ctxDone != nil {
		if err := ctx.Err(); err != nil {
			return v, err, false
		}
	}

	g.mu.Lock()
	g.stats.Requests++
	if len(g.kept) > 0 {
		g.expireLocked()
	}
	if c, ok := g.m[key]; ok {
		g.stats.Shared++
		if c.finished { // a kept result
			g.stats.Kept++
			g.mu.Unlock()
			return c.val, c.err, true
		}
		c.dups++
		c.waiters++
		g.stats.Waiting++
		return g.waitLocked(ctx, ctxDone, key, c, true)
	}

	c := &call[V]{waiters: 1}
	c.wg.Add(1)
	if g.m == nil {
		g.m = make(map[K]*call[V])
	}
	g.m[key] = c
	g.stats.Calls++
	g.stats.InFlight++
	g.stats.Waiting++

	if ctxDone != nil && g.opts.BaseContext == nil {
		// The common case of a starter that can leave: start fn on its own
		// goroutine without letting go of mu (fn's result needs mu to be
		// published, so the goroutine waits for the starter to be ready).
		callCtx, cancel := context.WithCancelCause(context.Background())
		c.cancel = cancel
		go g.runAsync(callCtx, key, c, fn)
		return g.waitLocked(ctx, ctxDone, key, c, false)
	}
	g.mu.Unlock()

	base := context.Background()
	if g.opts.BaseContext != nil {
		var ok bool
		if base, ok = g.baseContext(ctx, key, c); !ok {
			return v, c.err, c.dups > 0 // c finished with the hook's panic
		}
	}
	if ctxDone == nil {
		// The starter cannot leave, so it runs fn itself: the call cannot
		// be abandoned while it runs, and no goroutine is needed.
		g.run(base, key, c, fn)
		return c.val, c.err, c.dups > 0
	}
	callCtx, cancel := context.WithCancelCause(base)
	// Set before the goroutine starts and before the starter can leave, so
	// every later reader (under mu) sees it.
	c.cancel = cancel
	go g.runAsync(callCtx, key, c, fn)
	g.mu.Lock()
	return g.waitLocked(ctx, ctxDone, key, c, false)
}

// waitLocked waits for c on behalf of one caller and releases g.mu.
func (g *Group[K, V]) waitLocked(ctx context.Context, ctxDone <-chan struct{}, key K, c *call[V], joined bool) (v V, err error, shared bool) {
	if ctxDone == nil {
		g.mu.Unlock()
		c.wg.Wait()
		return c.val, c.err, true
	}
	if c.finished { // the starter's fn was quick
		g.mu.Unlock()
		return c.val, c.err, joined || c.dups > 0
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	done := c.done
	g.mu.Unlock()
	select {
	case <-done:
	case <-ctxDone:
		g.mu.Lock()
		if !c.finished {
			g.leaveLocked(key, c)
			g.mu.Unlock()
			return v, ctx.Err(), joined
		}
		g.mu.Unlock() // the result arrived as ctx ended: take it
	}
	// dups is not written once the call has finished.
	return c.val, c.err, joined || c.dups > 0
}

// leaveLocked records that one waiter of the unfinished call c has left, and
// abandons the call when it was the last.
func (g *Group[K, V]) leaveLocked(key K, c *call[V]) {
	c.waiters--
	g.stats.Waiting--
	g.stats.Left++
	if c.waiters > 0 {
		return
	}
	g.stats.Abandoned++
	if g.m[key] == c {
		delete(g.m, key) // the next caller starts afresh
	}
	if c.cancel != nil {
		c.cancel(ErrAbandoned)
	}
}

// baseContext calls the BaseContext hook (user code: not under mu) for the
// call c it starts. When the hook panics or calls runtime.Goexit, c finishes
// with that failure, so the callers that joined it are not left waiting and
// the key is free.
func (g *Group[K, V]) baseContext(ctx context.Context, key K, c *call[V]) (base context.Context, ok bool) {
	defer func() {
		if ok {
			return
		}
		if r := recover(); r != nil {
			c.err = newPanicError(r)
		} else {
			c.err = ErrGoexit
		}
		g.finish(key, c, false)
	}()
	base = g.opts.BaseContext(ctx)
	if base == nil {
		base = context.Background()
	}
	return base, true
}

// runAsync runs a call on a goroutine of its own; named so stacks read well.
func (g *Group[K, V]) runAsync(ctx context.Context, key K, c *call[V], fn func(context.Context) (V, error)) {
	g.run(ctx, key, c, fn)
}

// run calls fn, recovers a panic or Goexit, and publishes the result.
func (g *Group[K, V]) run(ctx context.Context, key K, c *call[V], fn func(context.Context) (V, error)) {
	returned, panicked := false, false
	defer func() {
		if !returned && !panicked {
			c.err = ErrGoexit // fn called runtime.Goexit
		}
		g.finish(key, c, returned)
	}()
	func() {
		defer func() {
			if !returned {
				if r := recover(); r != nil {
					c.err = newPanicError(r)
					panicked = true
				}
			}
		}()
		c.val, c.err = fn(ctx)
		returned = true
	}()
}

// finish publishes c's result to its waiters and keeps it for the TTL.
func (g *Group[K, V]) finish(key K, c *call[V], returned bool) {
	g.mu.Lock()
	c.finished = true
	g.stats.InFlight--
	g.stats.Waiting -= int(c.waiters)
	if !returned {
		g.stats.Panics++
	}
	if g.m[key] == c {
		if g.opts.TTL > 0 && c.err == nil {
			g.kept = append(g.kept, kept[K, V]{key, c, g.clock().Add(g.opts.TTL)})
			g.stats.Results++
		} else {
			delete(g.m, key)
		}
	}
	if c.done != nil {
		close(c.done)
	}
	cancel := c.cancel
	g.mu.Unlock()
	c.wg.Done()
	if cancel != nil {
		cancel(context.Canceled) // release the context; a no-op if abandoned
	}
}

// expireLocked drops kept results whose time is up.
func (g *Group[K, V]) expireLocked() {
	now := g.clock()
	n := 0
	for n < len(g.kept) && !now.Before(g.kept[n].expires) {
		k := g.kept[n]
		if g.m[k.key] == k.c { // not forgotten meanwhile
			delete(g.m, k.key)
			g.stats.Results--
		}
		n++
	}
	if n > 0 {
		clear(g.kept[:n]) // let the calls be collected
		g.kept = g.kept[n:]
		if len(g.kept) == 0 {
			g.kept = nil
		}
	}
}

func (g *Group[K, V]) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

// Forget makes the next Do with key start a new call, whether a call for
// key is in flight or its result is kept. Callers already waiting for a call
// in flight still get its result. Forget is safe for concurrent use.
func (g *Group[K, V]) Forget(key K) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.m[key]
	if !ok {
		return
	}
	delete(g.m, key)
	if c.finished {
		g.stats.Results-- // still queued; skipped when it expires
	}
}

// Stats returns a snapshot of the group's counters. It is safe for
// concurrent use and cheap enough to call from a metrics scrape.
func (g *Group[K, V]) Stats() GroupStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}
