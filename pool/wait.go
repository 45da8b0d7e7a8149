package pool

import (
	"context"
	"time"
)

// Waiting. A caller that finds no idle connection (or must let waiters go
// first) queues a waiter. A release pushes the connection on the idle stack
// and wakes the first waiter, which leaves the queue as p.awake and takes an
// idle connection when it runs, or goes back to the front of the queue if
// none is left. Meanwhile running callers may take idle connections, which
// spares the goroutine switch a direct hand-off costs per release, and
// p.bypass counts those takes; at maxBypass they queue too. Invariant,
// under p.mu: if connections are idle and waiters queued, one is awake.
// Dial results and errors, and ErrClosed, are still handed to a waiter
// directly.

// maxBypass is how many connections callers that did not wait may take
// while a waiter is first in line, before they must queue behind it: a
// waiter is served after at most this many such takes once it is first.
const maxBypass = 16

// acquireSlow queues the caller and waits. It is called with p.mu held when
// no connection is idle or callers must queue behind the waiters, and
// unlocks it.
func (p *Pool[T]) acquireSlow(ctx context.Context) (Lease[T], error) {
	w, _ := p.waiterCache.Get().(*waiter[T])
	if w == nil {
		w = &waiter[T]{ch: make(chan waitResult[T], 1)}
	}
	if p.waiters.n == 0 && p.awake == nil {
		p.bypass = 0
	}
	p.waiters.pushBack(w)
	wake := p.wakeLocked()
	p.startDialsLocked()
	p.mu.Unlock()
	signal(wake)
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
	for {
		var r waitResult[T]
		if done == nil && timeout == nil {
			r = <-w.ch
		} else {
			got, timedOut := false, false
			select {
			case r = <-w.ch:
				got = true
			case <-done:
			case <-timeout:
				timedOut = true
			}
			if !got {
				if timeout != nil {
					w.timer.Stop()
				}
				return Lease[T]{}, p.abandon(ctx, w, timedOut)
			}
		}
		if r.c != nil || r.err != nil {
			if timeout != nil {
				w.timer.Stop()
			}
			return p.received(w, r)
		}
		// Woken: a connection is idle and we are first in line. The timer
		// runs on: a failed check does not extend AcquireTimeout.
		for {
			c, err := p.takeWoken(w)
			if c == nil && err == nil {
				break // taken meanwhile: queued again at the front
			}
			if err == nil {
				if p.ready(ctx, c) {
					if timeout != nil {
						w.timer.Stop()
					}
					return p.received(w, waitResult[T]{c: c, at: p.now()})
				}
				if ctx.Err() == nil {
					continue // failed its check: try again, still first in line
				}
				err = p.canceled(ctx)
			}
			if timeout != nil {
				w.timer.Stop()
			}
			p.waiterCache.Put(w)
			return Lease[T]{}, err
		}
	}
}

// takeWoken takes an idle connection for w, the waiter first in line,
// woken by wakeLocked or back after a connection failed its check. If none
// is idle any more, w goes back to the front of the queue and takeWoken
// returns nil and no error.
func (p *Pool[T]) takeWoken(w *waiter[T]) (*conn[T], error) {
	p.mu.Lock()
	if p.awake == w {
		p.awake = nil
	}
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if len(p.idle) == 0 {
		p.waiters.pushFront(w)
		p.startDialsLocked()
		p.mu.Unlock()
		return nil, nil
	}
	c := p.takeIdleLocked()
	p.bypass = 0
	next := p.wakeLocked()
	p.mu.Unlock()
	signal(next)
	return c, nil
}

// wakeLocked picks the waiter to tell that a connection is idle: the first
// in line, unless one is on its way already. It leaves the queue, and the
// caller must signal it once p.mu is unlocked. Between the wake and the
// waiter's arrival, callers that did not wait may take idle connections,
// up to maxBypass.
func (p *Pool[T]) wakeLocked() *waiter[T] {
	if p.awake != nil || len(p.idle) == 0 || p.waiters.n == 0 {
		return nil
	}
	w := p.waiters.popFront()
	p.awake = w
	return w
}

// signal completes wakeLocked.
func signal[T any](w *waiter[T]) {
	if w != nil {
		w.ch <- waitResult[T]{}
	}
}

// received ends a wait that got a connection or an error.
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
// next waiter or to the idle set, and so does a wake.
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
		// Handed a result, or woken, as we gave up: it is sent, or about to
		// be, after the sender unlocks.
		p.mu.Unlock()
		r := <-w.ch
		p.mu.Lock()
		err, handed = r.err, r.c
		if p.awake == w {
			p.awake = nil
			next = p.wakeLocked()
		}
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
				Waiting: p.waitingLocked(),
				Waited:  now - w.start,
				Err:     context.DeadlineExceeded,
			}
		}
	}
	p.mu.Unlock()
	p.waiterCache.Put(w)
	signal(next)
	if out != nil {
		p.retire(out, closeShutdown, false)
	}
	return err
}

// waitingLocked counts the callers waiting: queued, or woken and on their
// way to an idle connection.
func (p *Pool[T]) waitingLocked() int {
	n := p.waiters.n
	if p.awake != nil {
		n++
	}
	return n
}

// handOff completes a hand-over of c to w, which has left the queue, so
// nothing else sends to it, and whose channel has room for one result.
func handOff[T any](w *waiter[T], c *conn[T], now time.Duration) {
	if w != nil {
		w.ch <- waitResult[T]{c: c, at: now}
	}
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

// pushFront puts back a waiter that was first in line.
func (l *waitList[T]) pushFront(w *waiter[T]) {
	w.prev, w.next, w.queued = nil, l.head, true
	if l.head == nil {
		l.tail = w
	} else {
		l.head.prev = w
	}
	l.head = w
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
