package pool

import (
	"context"
	"runtime/debug"
)

// checkLeased runs Check for Acquire on c, which the caller holds, and
// reports whether c passed. If Check panics or calls runtime.Goexit, c is
// closed and its slot freed before the panic goes on to the caller.
func (p *Pool[T]) checkLeased(ctx context.Context, c *conn[T]) bool {
	returned := false
	defer func() {
		if !returned {
			p.countPanic()
			p.retire(c, closeHealth, true)
		}
	}()
	err := p.cfg.Check(ctx, c.value)
	returned = true
	return err == nil
}

// destroy closes c's value on the caller's goroutine, without p.mu held. A
// panic or Goexit in Config.Close is counted and goes on.
func (p *Pool[T]) destroy(c *conn[T]) {
	stopLeakTimer(c)
	if p.cfg.Close == nil {
		return
	}
	returned := false
	defer func() {
		if !returned {
			p.countPanic()
		}
	}()
	_ = p.cfg.Close(c.value)
	returned = true
}

// destroyOwned closes c's value for the pool's own work (sweep, shutdown, a
// dial that finished after Close), without p.mu held: a panic or Goexit in
// Config.Close is recovered and counted, so the work goes on.
func (p *Pool[T]) destroyOwned(c *conn[T]) {
	stopLeakTimer(c)
	if p.cfg.Close != nil {
		p.recovered("Close", func() { _ = p.cfg.Close(c.value) })
	}
}

func stopLeakTimer[T any](c *conn[T]) {
	if c.leak != nil && c.leak.timer != nil {
		c.leak.timer.Stop()
	}
}

// recovered runs f, a call of the named callback, on a goroutine of its
// own and waits for it: a panic in f is recovered there, and a
// runtime.Goexit ends that goroutine rather than the pool's. It returns
// the *PanicError, already counted, or nil if f returned.
func (p *Pool[T]) recovered(callback string, f func()) *PanicError {
	var pe *PanicError
	done := make(chan struct{})
	go func() {
		defer close(done)
		returned := false
		defer func() {
			if !returned {
				pe = p.panicked(callback, recover())
			}
		}()
		f()
		returned = true
	}()
	<-done
	return pe
}

// panicked counts a callback's panic with value v, or its Goexit when v is
// nil (since Go 1.21 panic(nil) recovers as a *runtime.PanicNilError), and
// describes it. Call it from the deferred function that recovered v.
func (p *Pool[T]) panicked(callback string, v any) *PanicError {
	p.countPanic()
	return &PanicError{Callback: callback, Value: v, Goexit: v == nil, Stack: string(debug.Stack())}
}

func (p *Pool[T]) countPanic() {
	p.mu.Lock()
	p.n.panics++
	p.mu.Unlock()
}
