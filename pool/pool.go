package pool

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a pool of connections of type T. Create it with New; it is safe
// for concurrent use. Close or Drain it when done: it owns goroutines.
type Pool[T any] struct {
	cfg   Config[T] // with defaults filled; read-only after New
	epoch time.Time
	clock func() time.Duration // test hook; nil means time.Since(epoch)

	ctx       context.Context // parent of dials and sweep checks; cancelled by shutdown
	cancel    context.CancelFunc
	wg        sync.WaitGroup // sweep loop, dials, leak reports; joined by Close
	closeOnce sync.Once
	sweepReq  chan chan struct{} // test hook: run a sweep now; nil without a sweep loop

	waiterCache sync.Pool // of *waiter[T]

	// Counted by the waiting goroutine, after the pool lock.
	waits, waitNanos atomic.Int64

	_ [64]byte // keeps the hot fields below off the atomics' cache line

	// The fields Acquire and Release touch share a cache line with mu.
	mu       sync.Mutex // protects everything below
	closed   bool
	inUse    int        // leased, or being checked by Acquire
	acquires int64      // Stats.AcquireCount
	idle     []*conn[T] // a stack: the most recently released on top
	waiters  waitList[T]
	size     int           // idle + sweeping + inUse + dialing
	dialing  int           // dials in flight
	sweeping int           // idle connections taken out by the sweep or shutdown
	drained  chan struct{} // closed when inUse drops to 0 after shutdown; made by Drain
	n        counters
}

// New returns a pool configured by cfg, which it copies, filling defaults.
// It returns an error for an invalid Config. It dials nothing itself except
// MinIdle connections, in the background.
func New[T any](cfg Config[T]) (*Pool[T], error) {
	return newPool(cfg, nil)
}

func newPool[T any](cfg Config[T], clock func() time.Duration) (*Pool[T], error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool[T]{
		cfg:    cfg,
		epoch:  time.Now(),
		clock:  clock,
		ctx:    ctx,
		cancel: cancel,
		idle:   make([]*conn[T], 0, min(cfg.MaxSize, 256)),
	}
	if cfg.HealthCheckPeriod > 0 {
		p.sweepReq = make(chan chan struct{})
		p.wg.Add(1)
		go p.sweepLoop()
	}
	p.mu.Lock()
	p.refillLocked()
	p.mu.Unlock()
	return p, nil
}

// now returns the monotonic time since p.epoch.
func (p *Pool[T]) now() time.Duration {
	if p.clock != nil {
		return p.clock()
	}
	return time.Since(p.epoch)
}

// Acquire returns a lease on a connection: the most recently released idle
// one, after running Config.Check on it if it has been idle for
// Config.CheckAfterIdle, or else a new one. At MaxSize it waits, in strict
// FIFO order with other callers, until a connection is released, ctx is
// done or Config.AcquireTimeout elapses.
//
// A connection that fails Check or has outlived its lifetime is closed and
// replaced without an error. A dial error is returned, wrapped, to the
// caller that has waited longest. A timeout returns an *ExhaustedError that
// matches ErrExhausted and context.DeadlineExceeded; a cancelled ctx returns
// an error wrapping context.Canceled; a closed pool returns ErrClosed.
// Giving up does not cancel a dial in flight: its connection goes to the
// next caller or to the idle set.
//
// Acquire allocates nothing when an idle connection is ready. It is safe
// for concurrent use.
func (p *Pool[T]) Acquire(ctx context.Context) (Lease[T], error) {
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return Lease[T]{}, p.canceled(ctx)
		default:
		}
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return Lease[T]{}, ErrClosed
		}
		n := len(p.idle)
		if n == 0 {
			return p.acquireSlow(ctx)
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.inUse++
		p.acquires++
		if n-1 < p.cfg.MinIdle {
			p.refillLocked()
		}
		p.mu.Unlock()

		// MaxIdleTime is left to the sweep: after a quiet spell, a checked
		// connection serves better than a dial.
		now := p.now()
		reason := keep
		if now >= c.expires {
			reason = closeLifetime
		}
		if reason == keep && p.cfg.Check != nil && p.cfg.CheckAfterIdle >= 0 && now-c.idleSince >= p.cfg.CheckAfterIdle {
			if p.cfg.Check(ctx, c.value) != nil {
				reason = closeHealth
			}
		}
		if reason == keep {
			return p.lease(c), nil
		}
		p.retire(c, reason, true)
		if ctx.Err() != nil {
			return Lease[T]{}, p.canceled(ctx)
		}
	}
}

// acquireSlow queues the caller and waits. It is called with p.mu held and
// no idle connection, and unlocks it.
func (p *Pool[T]) acquireSlow(ctx context.Context) (Lease[T], error) {
	w, _ := p.waiterCache.Get().(*waiter[T])
	if w == nil {
		w = &waiter[T]{ch: make(chan waitResult[T], 1)}
	}
	p.waiters.pushBack(w)
	p.startDialsLocked()
	p.mu.Unlock()
	w.start = p.now()

	var timeout <-chan time.Time
	if d := p.cfg.AcquireTimeout; d > 0 {
		if w.timer == nil {
			w.timer = time.NewTimer(d)
		} else {
			w.timer.Reset(d)
		}
		timeout = w.timer.C
	}
	done := ctx.Done()
	if done == nil && timeout == nil {
		return p.received(w, <-w.ch)
	}
	timedOut := false
	select {
	case r := <-w.ch:
		if timeout != nil {
			w.timer.Stop()
		}
		return p.received(w, r)
	case <-done:
	case <-timeout:
		timedOut = true
	}
	if timeout != nil {
		w.timer.Stop()
	}
	return Lease[T]{}, p.abandon(ctx, w, timedOut)
}

// received ends a wait that got a result.
func (p *Pool[T]) received(w *waiter[T], r waitResult[T]) (Lease[T], error) {
	start := w.start
	p.waiterCache.Put(w)
	if r.err != nil {
		return Lease[T]{}, r.err
	}
	p.waits.Add(1)
	p.waitNanos.Add(int64(max(r.at-start, 0)))
	return p.lease(r.c), nil
}

// abandon takes w out of the queue after its caller gave up and returns the
// error for the caller. A connection handed over meanwhile goes on to the
// next waiter or to the idle set.
func (p *Pool[T]) abandon(ctx context.Context, w *waiter[T], timedOut bool) error {
	now := p.now()
	var (
		err         error
		handed, out *conn[T]
		next        *waiter[T]
	)
	p.mu.Lock()
	if w.queued {
		p.waiters.remove(w)
	} else {
		// Handed a result as we gave up: it is sent, or about to be, after
		// the sender unlocks.
		p.mu.Unlock()
		r := <-w.ch
		p.mu.Lock()
		err, handed = r.err, r.c
	}
	if handed != nil {
		p.acquires--
		if p.closed {
			out = handed
		} else {
			p.inUse--
			next = p.putLocked(handed, now)
		}
	}
	if err == nil {
		if !timedOut && ctx.Err() == context.Canceled {
			p.n.canceled++
			err = ctxError(ctx)
		} else {
			p.n.timeout++
			err = &ExhaustedError{
				InUse:   p.inUse,
				Max:     p.cfg.MaxSize,
				Dialing: p.dialing,
				Waiting: p.waiters.n,
				Waited:  now - w.start,
				Err:     context.DeadlineExceeded,
			}
		}
	}
	p.mu.Unlock()
	p.waiterCache.Put(w)
	handOff(next, handed, now)
	if out != nil {
		p.retire(out, closeShutdown, false)
	}
	return err
}

// canceled counts and returns the error for a ctx found done before or
// instead of waiting.
func (p *Pool[T]) canceled(ctx context.Context) error {
	p.mu.Lock()
	p.n.canceled++
	p.mu.Unlock()
	return ctxError(ctx)
}

func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("pool: acquire: %w: %w", err, cause)
	}
	return fmt.Errorf("pool: acquire: %w", err)
}

// lease makes the Lease for c, which the caller now holds.
func (p *Pool[T]) lease(c *conn[T]) Lease[T] {
	gen := c.gen.Load()
	if c.leak != nil {
		p.trackLeak(c, gen)
	}
	return Lease[T]{c: c, gen: gen}
}

// release takes back a leased connection.
func (p *Pool[T]) release(c *conn[T]) {
	now := p.now()
	if now >= c.expires {
		p.retire(c, closeLifetime, false)
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.retire(c, closeShutdown, false)
		return
	}
	p.inUse--
	w := p.putLocked(c, now)
	p.mu.Unlock()
	handOff(w, c, now)
}

// putLocked gives c, which nobody holds, to the longest waiter, or else
// pushes it on the idle stack. The caller must hand c to the waiter it
// returns, if any, with handOff once it has unlocked p.mu: waking a
// goroutine is too slow to do under the lock.
func (p *Pool[T]) putLocked(c *conn[T], now time.Duration) *waiter[T] {
	if w := p.waiters.popFront(); w != nil {
		p.inUse++
		p.acquires++
		return w
	}
	c.idleSince = now
	p.idle = append(p.idle, c)
	return nil
}

// handOff completes putLocked. w has left the queue, so nothing else sends
// to it, and its channel has room for one result.
func handOff[T any](w *waiter[T], c *conn[T], now time.Duration) {
	if w != nil {
		w.ch <- waitResult[T]{c: c, at: now}
	}
}

// retire closes c, which was leased or being checked by Acquire, and then
// frees its slot, so the pool never holds more than MaxSize connections.
// undoAcquire takes back the count of an Acquire that did not hand c out.
func (p *Pool[T]) retire(c *conn[T], reason closeReason, undoAcquire bool) {
	p.destroy(c)
	p.mu.Lock()
	if undoAcquire {
		p.acquires--
	}
	p.inUse--
	if p.inUse == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
	p.size--
	p.n.closed[reason]++
	p.replenishLocked()
	p.mu.Unlock()
}

// destroy closes c's value. It is called without p.mu held.
func (p *Pool[T]) destroy(c *conn[T]) {
	if c.leak != nil && c.leak.timer != nil {
		c.leak.timer.Stop()
	}
	if p.cfg.Close != nil {
		_ = p.cfg.Close(c.value)
	}
}

// replenishLocked starts the dials that waiters and MinIdle call for.
func (p *Pool[T]) replenishLocked() {
	p.startDialsLocked()
	p.refillLocked()
}

// startDialsLocked starts a dial for each waiter no dial in flight will
// serve, within MaxSize and MaxConcurrentDials.
func (p *Pool[T]) startDialsLocked() {
	for p.size < p.cfg.MaxSize && p.waiters.n > p.dialing && p.dialing < p.cfg.MaxConcurrentDials {
		p.startDialLocked(nil)
	}
}

// refillLocked starts dials until idle connections and dials in flight
// make MinIdle, within MaxSize and MaxConcurrentDials.
func (p *Pool[T]) refillLocked() {
	for !p.closed && len(p.idle)+p.sweeping+p.dialing < p.cfg.MinIdle && p.size < p.cfg.MaxSize && p.dialing < p.cfg.MaxConcurrentDials {
		p.startDialLocked(nil)
	}
}

// startDialLocked reserves a slot and dials on a goroutine of the pool's.
// done, if not nil, is signalled once the connection is placed.
func (p *Pool[T]) startDialLocked(done *sync.WaitGroup) {
	p.size++
	p.dialing++
	p.wg.Add(1)
	if done != nil {
		done.Add(1)
	}
	go p.dial(done)
}

// dial runs Config.Dial and hands the connection to the longest waiter or
// to the idle set, whoever caused the dial. A dial error goes to the
// longest waiter if the remaining dials no longer cover every waiter.
func (p *Pool[T]) dial(done *sync.WaitGroup) {
	defer p.wg.Done()
	if done != nil {
		defer done.Done()
	}
	ctx, cancel := p.boundedContext()
	v, err := p.cfg.Dial(ctx)
	cancel()
	var c *conn[T]
	if err == nil {
		c = &conn[T]{value: v, pool: p, expires: never}
		if p.cfg.LeakThreshold > 0 {
			c.leak = &leakState{}
		}
	}
	now := p.now()
	p.mu.Lock()
	p.n.dial++
	switch {
	case err != nil:
		p.dialing--
		p.size--
		p.n.dialError++
		if p.waiters.n > p.dialing {
			w := p.waiters.popFront()
			w.ch <- waitResult[T]{err: fmt.Errorf("pool: dial: %w", err)}
		}
		p.startDialsLocked()
	case p.closed:
		p.mu.Unlock()
		p.destroy(c)
		p.mu.Lock()
		p.dialing--
		p.size--
		p.n.closed[closeShutdown]++
	default:
		p.dialing--
		if lt := p.cfg.MaxLifetime; lt > 0 {
			if j := p.cfg.LifetimeJitter; j > 0 {
				lt -= time.Duration(rand.Int64N(int64(j)))
			}
			c.expires = now + lt
		}
		w := p.putLocked(c, now)
		defer handOff(w, c, now)
		// A dial slot is free: serve the next waiters, and keep warming up
		// to MinIdle unless a sweep is pacing the dials itself.
		p.startDialsLocked()
		if done == nil {
			p.refillLocked()
		}
	}
	p.mu.Unlock()
}

// boundedContext returns the context for a dial or a background check.
func (p *Pool[T]) boundedContext() (context.Context, context.CancelFunc) {
	if d := p.cfg.DialTimeout; d > 0 {
		return context.WithTimeout(p.ctx, d)
	}
	return p.ctx, func() {}
}

// sweepLoop is the background goroutine: one sweep per HealthCheckPeriod.
func (p *Pool[T]) sweepLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.HealthCheckPeriod)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.sweep()
		case done := <-p.sweepReq:
			p.sweep()
			close(done)
		}
	}
}

// sweep closes expired idle connections and those idle for MaxIdleTime
// beyond MinIdle, checks the others that have idled for CheckAfterIdle, and
// refills MinIdle. Replacements for expired connections are dialed, where
// MaxSize leaves room, before the expired ones are closed.
func (p *Pool[T]) sweep() {
	now := p.now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	// Expired connections go; of those idle for MaxIdleTime, the coldest
	// go (the stack's bottom), as long as MinIdle stay.
	remain := len(p.idle)
	for _, c := range p.idle {
		c.reason = keep
		if now >= c.expires {
			c.reason = closeLifetime
			remain--
		}
	}
	var stale, due []*conn[T]
	kept := p.idle[:0]
	for _, c := range p.idle {
		if c.reason == keep && p.cfg.MaxIdleTime > 0 && now-c.idleSince >= p.cfg.MaxIdleTime && remain > p.cfg.MinIdle {
			c.reason = closeIdle
			remain--
		}
		switch {
		case c.reason != keep:
			stale = append(stale, c)
		case p.cfg.Check != nil && now-c.idleSince >= max(p.cfg.CheckAfterIdle, 0):
			due = append(due, c)
		default:
			kept = append(kept, c)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	p.sweeping += len(stale) + len(due)
	p.mu.Unlock()

	alive := due[:0]
	var dead []*conn[T]
	for _, c := range due {
		ctx, cancel := p.boundedContext()
		err := p.cfg.Check(ctx, c.value)
		cancel()
		if err != nil {
			dead = append(dead, c)
		} else {
			alive = append(alive, c)
		}
	}
	for _, c := range dead {
		p.destroy(c)
	}

	p.mu.Lock()
	p.sweeping -= len(due)
	p.size -= len(dead)
	p.n.closed[closeHealth] += int64(len(dead))
	var orphans []*conn[T]
	if p.closed {
		orphans = alive
		p.sweeping += len(alive)
	} else {
		// They have idled longest: back to the cold end of the stack.
		p.idle = slices.Insert(p.idle, 0, alive...)
	}
	p.mu.Unlock()
	for _, c := range orphans {
		p.destroy(c)
	}
	if len(stale) > 0 {
		p.replaceBeforeClosing()
	}
	for _, c := range stale {
		p.destroy(c)
	}
	p.mu.Lock()
	p.sweeping -= len(stale) + len(orphans)
	p.size -= len(stale) + len(orphans)
	for _, c := range stale {
		p.n.closed[c.reason]++
	}
	p.n.closed[closeShutdown] += int64(len(orphans))
	if !p.closed {
		p.replenishLocked()
	}
	p.mu.Unlock()
}

// replaceBeforeClosing dials connections until MinIdle is met, MaxSize is
// reached or a dial fails, and returns when they are in place.
func (p *Pool[T]) replaceBeforeClosing() {
	for {
		var ready sync.WaitGroup
		p.mu.Lock()
		started := false
		for !p.closed && len(p.idle)+p.dialing < p.cfg.MinIdle && p.size < p.cfg.MaxSize && p.dialing < p.cfg.MaxConcurrentDials {
			p.startDialLocked(&ready)
			started = true
		}
		failures := p.n.dialError
		p.mu.Unlock()
		if !started {
			return
		}
		ready.Wait()
		p.mu.Lock()
		failed := p.n.dialError != failures
		p.mu.Unlock()
		if failed {
			return
		}
	}
}

// Stats returns a snapshot of the pool's gauges and counters. It is cheap
// and safe for concurrent use.
func (p *Pool[T]) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Size:    p.size,
		Idle:    len(p.idle) + p.sweeping,
		InUse:   p.inUse,
		Dialing: p.dialing,
		Waiting: p.waiters.n,
		MaxSize: p.cfg.MaxSize,

		AcquireCount:         p.acquires,
		WaitCount:            p.waits.Load(),
		WaitDuration:         time.Duration(p.waitNanos.Load()),
		CanceledAcquireCount: p.n.canceled,
		TimeoutCount:         p.n.timeout,
		DialCount:            p.n.dial,
		DialErrorCount:       p.n.dialError,
		LeakCount:            p.n.leak,

		ClosedIdle:     p.n.closed[closeIdle],
		ClosedLifetime: p.n.closed[closeLifetime],
		ClosedHealth:   p.n.closed[closeHealth],
		ClosedDiscard:  p.n.closed[closeDiscard],
		ClosedShutdown: p.n.closed[closeShutdown],
	}
}

// Drain shuts the pool down gracefully: from the call on, Acquire returns
// ErrClosed, to waiting callers too, and idle connections are closed. It
// then waits until every lease has been released or discarded, or ctx is
// done, and finishes with Close. It returns ctx.Err() if leases were still
// out; those connections are closed when released. Safe for concurrent use
// and to call more than once.
func (p *Pool[T]) Drain(ctx context.Context) error {
	p.shutdown()
	var drained chan struct{}
	p.mu.Lock()
	if p.inUse > 0 {
		if p.drained == nil {
			p.drained = make(chan struct{})
		}
		drained = p.drained
	}
	p.mu.Unlock()
	var err error
	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	p.Close()
	return err
}

// Close closes the pool at once: Acquire returns ErrClosed, to waiting
// callers too, idle connections are closed, dials in flight are cancelled,
// and leased connections are closed when released (Release and Discard keep
// working and never panic but for a lease already ended). Close returns
// once every goroutine the pool started has exited. It is idempotent: later
// and concurrent calls wait for the first to finish and do nothing else.
func (p *Pool[T]) Close() {
	p.closeOnce.Do(func() {
		p.shutdown()
		p.wg.Wait()
	})
}

// shutdown marks the pool closed, fails waiters, cancels dials and closes
// idle connections. It is idempotent.
func (p *Pool[T]) shutdown() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.cancel()
		for w := p.waiters.popFront(); w != nil; w = p.waiters.popFront() {
			w.ch <- waitResult[T]{err: ErrClosed}
		}
	}
	idle := p.idle
	p.idle = nil
	p.sweeping += len(idle)
	p.mu.Unlock()
	if len(idle) == 0 {
		return
	}
	for _, c := range idle {
		p.destroy(c)
	}
	p.mu.Lock()
	p.sweeping -= len(idle)
	p.size -= len(idle)
	p.n.closed[closeShutdown] += int64(len(idle))
	p.mu.Unlock()
}

// waiter is an Acquire call waiting for a connection. Waiters are reused
// through Pool.waiterCache.
type waiter[T any] struct {
	prev, next *waiter[T]         // protected by Pool.mu
	queued     bool               // protected by Pool.mu
	start      time.Duration      // when the wait began; owned by the waiting goroutine
	ch         chan waitResult[T] // buffered: one result per wait, sent with Pool.mu held
	timer      *time.Timer        // for AcquireTimeout, made on first use
}

type waitResult[T any] struct {
	c   *conn[T]
	err error
	at  time.Duration // when c was handed over
}

// waitList is a FIFO of waiters, a doubly linked list so that a caller who
// gives up leaves in constant time.
type waitList[T any] struct {
	head, tail *waiter[T]
	n          int
}

func (l *waitList[T]) pushBack(w *waiter[T]) {
	w.prev, w.next, w.queued = l.tail, nil, true
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.n++
}

func (l *waitList[T]) popFront() *waiter[T] {
	w := l.head
	if w != nil {
		l.remove(w)
	}
	return w
}

func (l *waitList[T]) remove(w *waiter[T]) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	l.n--
}
