package pool

import (
	"crypto/tls"
	"net"
	"syscall"
	"time"
)

// NewWithClock is New with a fake monotonic clock, in use before any
// goroutine of the pool starts.
func NewWithClock[T any](cfg Config[T], clock func() time.Duration) (*Pool[T], error) {
	return newPool(cfg, clock)
}

// SweepNow runs one background sweep and returns when it is done: on the
// sweep goroutine if there is one, else on the caller's.
func SweepNow[T any](p *Pool[T]) {
	if p.sweepReq == nil {
		p.sweep()
		return
	}
	done := make(chan struct{})
	select {
	case p.sweepReq <- done:
		<-done
	case <-p.ctx.Done():
	}
}

// EffectiveConfig returns the pool's Config with defaults filled in.
func EffectiveConfig[T any](p *Pool[T]) Config[T] { return p.cfg }

// IdleExpiries returns when each idle connection's lifetime ends, on the
// pool's clock, coldest first.
func IdleExpiries[T any](p *Pool[T]) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]time.Duration, len(p.idle))
	for i, c := range p.idle {
		out[i] = c.expires
	}
	return out
}

// Peek reports, without consuming anything, whether data or an EOF is
// waiting on c's socket (the one under a *tls.Conn).
func Peek(c net.Conn) (pending bool, err error) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return false, err
	}
	return peek(rc)
}

// MaxBypass is how many connections callers that did not wait may take
// while a waiter is first in line.
const MaxBypass = maxBypass

// HasSweepLoop reports whether p runs the background sweep goroutine.
func HasSweepLoop[T any](p *Pool[T]) bool { return p.sweepReq != nil }
