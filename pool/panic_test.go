package pool_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

// TestCallbackPanicNeverLeaksASlot makes each callback panic, or call
// runtime.Goexit, in each place the pool runs it. On the caller's goroutine
// the panic or Goexit reaches the caller; on the pool's own it is
// recovered. Either way the process survives, the slot is freed, the panic
// is counted, and the pool keeps serving.
func TestCallbackPanicNeverLeaksASlot(t *testing.T) {
	type env struct {
		t     *testing.T
		p     *pool.Pool[*fakeConn]
		b     *fakeBackend
		clock *fakeClock
		arm   func(callback string) // arms the trap for this subtest's mode
	}
	tests := []struct {
		name string
		// config adjusts the fake backend's config.
		config func(cfg *pool.Config[*fakeConn], e *env)
		// run makes the callback misbehave and returns how the call on the
		// caller's goroutine ended (nil if no caller call misbehaves).
		run func(e *env) *outcome
		// reraised: the caller's call panics or exits as the callback did.
		reraised bool
		// closed: run closes the pool, so no later Acquire succeeds.
		closed bool
	}{
		{
			name: "Check on Acquire",
			run: func(e *env) *outcome {
				mustAcquire(e.t, e.p).Release()
				e.clock.advance(time.Second) // idle long enough to be checked
				e.arm("Check")
				o := isolated(func() { e.p.Acquire(context.Background()) })
				return &o
			},
			reraised: true,
		},
		{
			name: "Close on Acquire after a failed check",
			run: func(e *env) *outcome {
				l := mustAcquire(e.t, e.p)
				l.Value().bad.Store(true)
				l.Release()
				e.clock.advance(time.Second)
				e.arm("Close")
				o := isolated(func() { e.p.Acquire(context.Background()) })
				return &o
			},
			reraised: true,
		},
		{
			name: "Close on Discard",
			run: func(e *env) *outcome {
				l := mustAcquire(e.t, e.p)
				e.arm("Close")
				o := isolated(l.Discard)
				return &o
			},
			reraised: true,
		},
		{
			name: "Close on Release after the lifetime",
			config: func(cfg *pool.Config[*fakeConn], _ *env) {
				cfg.MaxLifetime = time.Hour
				cfg.LifetimeJitter = -1
			},
			run: func(e *env) *outcome {
				l := mustAcquire(e.t, e.p)
				e.clock.advance(2 * time.Hour)
				e.arm("Close")
				o := isolated(l.Release)
				return &o
			},
			reraised: true,
		},
		{
			name: "Dial on Acquire",
			run: func(e *env) *outcome {
				e.arm("Dial")
				_, err := e.p.Acquire(context.Background())
				var pe *pool.PanicError
				if !errors.As(err, &pe) || pe.Callback != "Dial" {
					e.t.Fatalf("Acquire returned %v, want an error wrapping a *pool.PanicError for Dial", err)
				}
				return nil
			},
		},
		{
			name: "Dial on MinIdle refill",
			config: func(cfg *pool.Config[*fakeConn], e *env) {
				cfg.MinIdle = 1
				e.arm("Dial") // before New, which starts the refill
			},
			run: func(e *env) *outcome {
				waitFor(e.t, "the refill dial", func() bool { return e.p.Stats().DialCount == 1 })
				return nil
			},
		},
		{
			name: "Check on the background sweep",
			config: func(cfg *pool.Config[*fakeConn], _ *env) {
				cfg.HealthCheckPeriod = time.Hour // a sweep goroutine, run by SweepNow
			},
			run: func(e *env) *outcome {
				mustAcquire(e.t, e.p).Release()
				e.clock.advance(time.Minute)
				e.arm("Check")
				pool.SweepNow(e.p)
				return nil
			},
		},
		{
			name: "Close on the background sweep",
			config: func(cfg *pool.Config[*fakeConn], _ *env) {
				cfg.HealthCheckPeriod = time.Hour
			},
			run: func(e *env) *outcome {
				l := mustAcquire(e.t, e.p)
				l.Value().bad.Store(true)
				l.Release()
				e.clock.advance(time.Minute)
				e.arm("Close")
				pool.SweepNow(e.p)
				return nil
			},
		},
		{
			name: "Close on Close",
			run: func(e *env) *outcome {
				mustAcquire(e.t, e.p).Release()
				e.arm("Close")
				o := isolated(e.p.Close)
				return &o
			},
			closed: true,
		},
		{
			name: "Close on Drain",
			run: func(e *env) *outcome {
				mustAcquire(e.t, e.p).Release()
				e.arm("Close")
				o := isolated(func() {
					if err := e.p.Drain(context.Background()); err != nil {
						e.t.Errorf("Drain: %v", err)
					}
				})
				return &o
			},
			closed: true,
		},
		{
			name: "Dial cancelled by Close",
			config: func(cfg *pool.Config[*fakeConn], e *env) {
				cfg.Dial = func(ctx context.Context) (*fakeConn, error) {
					<-ctx.Done()
					e.b.spring("Dial")
					return nil, ctx.Err()
				}
			},
			run: func(e *env) *outcome {
				e.arm("Dial")
				acquired := make(chan error, 1)
				go func() {
					_, err := e.p.Acquire(context.Background())
					acquired <- err
				}()
				waitForWaiting(e.t, e.p, 1)
				o := isolated(e.p.Close)
				if err := <-acquired; !errors.Is(err, pool.ErrClosed) {
					e.t.Errorf("Acquire: %v, want ErrClosed", err)
				}
				return &o
			},
			closed: true,
		},
		{
			name: "Close of a dial that finished after Close",
			config: func(cfg *pool.Config[*fakeConn], e *env) {
				dial := cfg.Dial
				cfg.Dial = func(ctx context.Context) (*fakeConn, error) {
					<-ctx.Done() // finish only once the pool is closed
					return dial(context.Background())
				}
			},
			run: func(e *env) *outcome {
				go e.p.Acquire(context.Background()) // gets ErrClosed
				waitForWaiting(e.t, e.p, 1)
				e.arm("Close")
				o := isolated(e.p.Close)
				return &o
			},
			closed: true,
		},
	}
	for _, tt := range tests {
		for _, goexit := range []bool{false, true} {
			mode := "panic"
			if goexit {
				mode = "Goexit"
			}
			t.Run(fmt.Sprintf("%s/%s", tt.name, mode), func(t *testing.T) {
				b := &fakeBackend{}
				e := &env{t: t, b: b, clock: &fakeClock{}}
				e.arm = func(callback string) { b.setTrap(callback, goexit) }
				cfg := b.config()
				cfg.CheckAfterIdle = time.Nanosecond
				if tt.config != nil {
					tt.config(&cfg, e)
				}
				e.p = newPoolWithClock(t, cfg, e.clock)
				o := tt.run(e)
				if b.trap.Load() != nil {
					t.Fatal("the callback was not called")
				}
				if o != nil {
					switch {
					case !tt.reraised && !o.returned:
						t.Errorf("the call panicked (%v) or exited, want it to return", o.panicked)
					case tt.reraised && !goexit && o.panicked != errCallbackBug:
						t.Errorf("the call ended with %+v, want the callback's panic", *o)
					case tt.reraised && goexit && !o.goexit:
						t.Errorf("the call ended with %+v, want runtime.Goexit to go on", *o)
					}
				}
				// Every case is synchronous: the panic has been dealt with.
				if tt.closed {
					e.p.Close()
				}
				s := e.p.Stats()
				if s.CallbackPanics != 1 {
					t.Errorf("CallbackPanics = %d, want 1", s.CallbackPanics)
				}
				if s.InUse != 0 || s.Dialing != 0 || s.Size != s.Idle {
					t.Errorf("slot leaked: %+v", s)
				}
				if tt.closed {
					if s.Size != 0 {
						t.Errorf("Size = %d after Close, want 0", s.Size)
					}
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				l, err := e.p.Acquire(ctx)
				if err != nil {
					t.Fatalf("Acquire after the panic: %v (%+v)", err, e.p.Stats())
				}
				l.Release()
			})
		}
	}
}

// TestCallbackPanicOnLeakReport makes OnLeak panic or call runtime.Goexit
// on the pool's timer goroutine: it is recovered and counted.
func TestCallbackPanicOnLeakReport(t *testing.T) {
	for _, goexit := range []bool{false, true} {
		t.Run(fmt.Sprintf("goexit=%v", goexit), func(t *testing.T) {
			b := &fakeBackend{}
			cfg := b.config()
			cfg.LeakThreshold = time.Millisecond
			cfg.OnLeak = func(pool.LeakInfo) { misbehave(goexit) }
			p := newPool(t, cfg)
			l := mustAcquire(t, p)
			waitFor(t, "the leak report", func() bool { return p.Stats().CallbackPanics == 1 })
			l.Release()
			if s := p.Stats(); s.LeakCount != 1 || s.InUse != 0 {
				t.Errorf("after the report: %+v", s)
			}
			mustAcquire(t, p).Release()
		})
	}
}
