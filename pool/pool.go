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
	awake    *waiter[T]    // woken to take an idle connection, out of the queue
	bypass   int           // connections taken by non-waiters since a waiter was served
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
// Config.CheckAfterIdle, or else a new one. At MaxSize it waits until a
// connection is released, ctx is done or Config.AcquireTimeout elapses.
//
// Callers that wait are served in FIFO order among themselves. A caller
// that finds a connection idle may take it ahead of them (as sync.Mutex
// lets a running goroutine barge), which spares a goroutine switch per
// release under contention, but at most 16 times in a row: then new
// callers queue behind the waiters until the first of them is served.
//
// A connection that fails Check or has outlived its lifetime is closed and
// replaced without an error. A dial error is returned, wrapped, to the
// caller that has waited longest. A timeout returns an *ExhaustedError that
// matches ErrExhausted and context.DeadlineExceeded; a cancelled ctx returns
// an error wrapping context.Canceled; a closed pool returns ErrClosed.
// Giving up does not cancel a dial in flight: its connection goes to the
// next caller or to the idle set.
//
// Check runs on the caller's goroutine. If it panics or calls
// runtime.Goexit, the connection is closed and its slot freed, and the
// panic or Goexit then goes on in the caller, unchanged, as if the caller
// had called Check itself; Stats.CallbackPanics counts it.
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
		queued := p.waiters.n > 0 || p.awake != nil
		if len(p.idle) == 0 || queued && p.bypass >= maxBypass {
			return p.acquireSlow(ctx)
		}
		if queued {
			p.bypass++
		}
		c := p.takeIdleLocked()
		p.mu.Unlock()
		if p.ready(ctx, c) {
			return p.lease(c), nil
		}
		if ctx.Err() != nil {
			return Lease[T]{}, p.canceled(ctx)
		}
	}
}

// takeIdleLocked takes the top of the idle stack for the caller.
func (p *Pool[T]) takeIdleLocked() *conn[T] {
	n := len(p.idle)
	c := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.inUse++
	p.acquires++
	if n-1 < p.cfg.MinIdle {
		p.refillLocked()
	}
	return c
}

// ready vets c, just taken from the idle set, before Acquire hands it out.
// It retires c and returns false if c has outlived its lifetime or failed
// Check.
func (p *Pool[T]) ready(ctx context.Context, c *conn[T]) bool {
	// MaxIdleTime is left to the sweep: after a quiet spell, a checked
	// connection serves better than a dial.
	now := p.now()
	reason := keep
	if now >= c.expires {
		reason = closeLifetime
	}
	if reason == keep && p.cfg.Check != nil && p.cfg.CheckAfterIdle >= 0 && now-c.idleSince >= p.cfg.CheckAfterIdle {
		if !p.checkLeased(ctx, c) {
			reason = closeHealth
		}
	}
	if reason == keep {
		return true
	}
	p.retire(c, reason, true)
	return false
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
	signal(w)
}

// putLocked pushes c, which nobody holds, on the idle stack and returns the
// waiter to wake, if any, for the caller to signal once it has unlocked
// p.mu: waking a goroutine is too slow to do under the lock. The connection
// is not handed to the waiter: the releasing goroutine, still running, may
// take it again (up to maxBypass times), which spares a goroutine switch
// per release when callers outnumber connections.
func (p *Pool[T]) putLocked(c *conn[T], now time.Duration) *waiter[T] {
	c.idleSince = now
	p.idle = append(p.idle, c)
	return p.wakeLocked()
}

// retire closes c, which was leased or being checked by Acquire, and then
// frees its slot, so the pool never holds more than MaxSize connections.
// undoAcquire takes back the count of an Acquire that did not hand c out.
// Config.Close runs on the caller's goroutine: if it panics, the slot is
// freed all the same and the panic goes on.
func (p *Pool[T]) retire(c *conn[T], reason closeReason, undoAcquire bool) {
	defer p.freeLeased(reason, undoAcquire)
	p.destroy(c)
}

// freeLeased frees the slot of a connection that retire closed.
func (p *Pool[T]) freeLeased(reason closeReason, undoAcquire bool) {
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

// replenishLocked starts the dials that waiters and MinIdle call for.
func (p *Pool[T]) replenishLocked() {
	p.startDialsLocked()
	p.refillLocked()
}

// startDialsLocked starts a dial for each waiter no dial in flight will
// serve, within MaxSize and MaxConcurrentDials.
func (p *Pool[T]) startDialsLocked() {
	for p.size < p.cfg.MaxSize && p.waiters.n > p.dialing+len(p.idle) && p.dialing < p.cfg.MaxConcurrentDials {
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
//
// A panic in Dial is recovered and fails the dial with a *PanicError; after
// a runtime.Goexit the dial fails the same way before the goroutine ends.
func (p *Pool[T]) dial(done *sync.WaitGroup) {
	defer p.wg.Done()
	if done != nil {
		defer done.Done()
	}
	ctx, cancel := p.boundedContext()
	var v T
	var err error
	returned := false
	defer func() {
		cancel()
		if !returned {
			err = p.panicked("Dial", recover())
		}
		p.dialed(v, err, done != nil)
	}()
	v, err = p.cfg.Dial(ctx)
	returned = true
}

// dialed places the result of a dial. paced means a sweep waits for it and
// paces the dials itself.
func (p *Pool[T]) dialed(v T, err error, paced bool) {
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
		if p.waiters.n > p.dialing+len(p.idle) {
			w := p.waiters.popFront()
			w.ch <- waitResult[T]{err: fmt.Errorf("pool: dial: %w", err)}
		}
		p.startDialsLocked()
	case p.closed:
		p.mu.Unlock()
		p.destroyOwned(c)
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
		// A new connection goes straight to the first waiter, ahead of
		// callers that did not wait: it was dialed for them.
		if p.awake == nil && p.waiters.n > 0 {
			w := p.waiters.popFront()
			p.inUse++
			p.acquires++
			p.bypass = 0
			defer handOff(w, c, now)
		} else {
			defer signal(p.putLocked(c, now))
		}
		// A dial slot is free: serve the next waiters, and keep warming up
		// to MinIdle unless a sweep is pacing the dials itself.
		p.startDialsLocked()
		if !paced {
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
		var err error
		if pe := p.recovered("Check", func() { err = p.cfg.Check(ctx, c.value) }); pe != nil {
			err = pe
		}
		cancel()
		if err != nil {
			dead = append(dead, c)
		} else {
			alive = append(alive, c)
		}
	}
	for _, c := range dead {
		p.destroyOwned(c)
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
	wake := p.wakeLocked()
	p.mu.Unlock()
	signal(wake)
	for _, c := range orphans {
		p.destroyOwned(c)
	}
	if len(stale) > 0 {
		p.replaceBeforeClosing()
	}
	for _, c := range stale {
		p.destroyOwned(c)
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
		Waiting: p.waitingLocked(),
		MaxSize: p.cfg.MaxSize,

		AcquireCount:         p.acquires,
		WaitCount:            p.waits.Load(),
		WaitDuration:         time.Duration(p.waitNanos.Load()),
		CanceledAcquireCount: p.n.canceled,
		TimeoutCount:         p.n.timeout,
		DialCount:            p.n.dial,
		DialErrorCount:       p.n.dialError,
		LeakCount:            p.n.leak,
		CallbackPanics:       p.n.panics,

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
// out; those connections are closed when released. A panic in Config.Close
// is recovered and counted, as for Close. Safe for concurrent use and to
// call more than once.
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
// working and never panic but for a lease already ended or a panic in
// Config.Close). A panic in Config.Close while closing idle connections is
// recovered and counted in Stats.CallbackPanics, so that Close closes the
// others all the same. Close returns once every goroutine the pool started
// has exited. It is idempotent: later
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
		p.destroyOwned(c)
	}
	p.mu.Lock()
	p.sweeping -= len(idle)
	p.size -= len(idle)
	p.n.closed[closeShutdown] += int64(len(idle))
	p.mu.Unlock()
}
