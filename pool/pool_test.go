package pool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	var b fakeBackend
	tests := []struct {
		name   string
		modify func(*pool.Config[*fakeConn])
		want   string
	}{
		{"nil Dial", func(c *pool.Config[*fakeConn]) { c.Dial = nil }, "Dial is nil"},
		{"negative MaxSize", func(c *pool.Config[*fakeConn]) { c.MaxSize = -1 }, "MaxSize is negative"},
		{"negative MinIdle", func(c *pool.Config[*fakeConn]) { c.MinIdle = -1 }, "MinIdle is negative"},
		{"MinIdle above MaxSize", func(c *pool.Config[*fakeConn]) { c.MaxSize, c.MinIdle = 4, 5 }, "MinIdle (5) exceeds MaxSize (4)"},
		{"negative AcquireTimeout", func(c *pool.Config[*fakeConn]) { c.AcquireTimeout = -time.Second }, "AcquireTimeout is negative"},
		{"negative MaxConcurrentDials", func(c *pool.Config[*fakeConn]) { c.MaxConcurrentDials = -1 }, "MaxConcurrentDials is negative"},
		{"negative LeakThreshold", func(c *pool.Config[*fakeConn]) { c.LeakThreshold = -1 }, "LeakThreshold is negative"},
		{"LeakThreshold without OnLeak", func(c *pool.Config[*fakeConn]) { c.LeakThreshold = time.Second }, "OnLeak is nil"},
		{"jitter not below lifetime", func(c *pool.Config[*fakeConn]) { c.MaxLifetime, c.LifetimeJitter = time.Minute, time.Minute }, "LifetimeJitter"},
		{"jitter above default lifetime", func(c *pool.Config[*fakeConn]) { c.LifetimeJitter = 2 * time.Hour }, "LifetimeJitter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := b.config()
			tt.modify(&cfg)
			p, err := pool.New(cfg)
			if err == nil {
				p.Close()
				t.Fatal("New succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), "pool: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want one starting with \"pool: \" and containing %q", err, tt.want)
			}
		})
	}
}

func TestNewFillsDefaults(t *testing.T) {
	var b fakeBackend
	cfg := pool.Config[*fakeConn]{Dial: b.dial}
	p := newPool(t, cfg)
	got := pool.EffectiveConfig(p)
	if cfg.MaxSize != 0 || cfg.MaxLifetime != 0 || cfg.HealthCheckPeriod != 0 {
		t.Fatalf("New modified the caller's Config: %+v", cfg)
	}
	wantMax := max(4, runtime.GOMAXPROCS(0))
	checks := []struct {
		name      string
		got, want any
	}{
		{"MaxSize", got.MaxSize, wantMax},
		{"MinIdle", got.MinIdle, 0},
		{"MaxIdleTime", got.MaxIdleTime, 30 * time.Minute},
		{"MaxLifetime", got.MaxLifetime, time.Hour},
		{"LifetimeJitter", got.LifetimeJitter, 6 * time.Minute},
		{"CheckAfterIdle", got.CheckAfterIdle, time.Second},
		{"HealthCheckPeriod", got.HealthCheckPeriod, time.Minute},
		{"AcquireTimeout", got.AcquireTimeout, time.Duration(0)},
		{"DialTimeout", got.DialTimeout, 10 * time.Second},
		{"LeakThreshold", got.LeakThreshold, time.Duration(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestMaxConcurrentDialsDefault(t *testing.T) {
	var b fakeBackend
	tests := []struct {
		name         string
		maxSize, set int
		wantMaxDials int
	}{
		{"size 1", 1, 0, 1},
		{"size 4", 4, 0, 4},
		{"size 8", 8, 0, 4},
		{"size 32", 32, 0, 8},
		{"size 128", 128, 0, 32},
		{"explicit", 8, 3, 3},
		{"above MaxSize", 8, 100, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := b.config()
			cfg.MaxSize, cfg.MaxConcurrentDials = tt.maxSize, tt.set
			got := pool.EffectiveConfig(newPool(t, cfg)).MaxConcurrentDials
			if got != tt.wantMaxDials {
				t.Fatalf("MaxConcurrentDials = %d, want %d", got, tt.wantMaxDials)
			}
		})
	}
}

func TestIdleConnectionsAreReusedWarmestFirst(t *testing.T) {
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 3
	p := newPool(t, cfg)

	a, bb, c := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
	a.Release()
	bb.Release()
	c.Release()
	var got []int
	for range 3 {
		l := mustAcquire(t, p)
		got = append(got, l.Value().id)
		defer l.Release()
	}
	if want := []int{3, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("reuse order %v, want %v (last released first)", got, want)
	}
	if s := p.Stats(); s.DialCount != 3 || s.AcquireCount != 6 || s.InUse != 3 || s.Size != 3 {
		t.Fatalf("stats %+v, want 3 dials, 6 acquires, 3 in use", s)
	}
}

func TestWaitersAreServedInFIFOOrder(t *testing.T) {
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 1
	p := newPool(t, cfg)
	held := mustAcquire(t, p)

	const n = 8
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := p.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			l.Release()
		}()
		waitForWaiting(t, p, i+1)
	}
	held.Release()
	wg.Wait()
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("served in order %v, want %v", got, want)
	}
	// The first Acquire waited too, for the dial.
	if s := p.Stats(); s.WaitCount != n+1 || s.WaitDuration <= 0 || s.DialCount != 1 {
		t.Fatalf("stats %+v, want %d waits with a duration and one dial", s, n+1)
	}
}

// TestParkedWaitersAreNotStarvedByBargers parks waiters on a pool of one
// connection, then has a goroutine that never waits release and acquire
// the connection again and again, as a busy caller does. The releaser may
// keep the connection a few times (sparing a goroutine switch), but the
// parked waiters must be served in FIFO order, the i-th (from 0) after at
// most (i+1)*MaxBypass of the barger's acquires: counted, not timed.
func TestParkedWaitersAreNotStarvedByBargers(t *testing.T) {
	// On one P a woken waiter runs only once the barger blocks: the worst
	// case, where nothing but the pool's bound lets waiters in.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 1
	p := newPool(t, cfg)
	held := mustAcquire(t, p)

	const n = 4
	var (
		barges atomic.Int64 // acquires by the barging goroutine
		served atomic.Int64
		mu     sync.Mutex
		order  []int
		at     [n]int64 // barges when waiter i was served
		wg     sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			l, err := p.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			at[i] = barges.Load()
			mu.Unlock()
			served.Add(1)
			l.Release()
		})
		waitForWaiting(t, p, i+1)
	}
	const limit = 100 * n * pool.MaxBypass // far beyond the bound: starvation
	for served.Load() < n {
		if barges.Load() > limit {
			t.Errorf("waiters starved: %d of %d served after %d acquires by a barger", served.Load(), n, limit)
			break
		}
		held.Release()
		held = mustAcquire(t, p)
		barges.Add(1)
	}
	held.Release()
	wg.Wait()
	if want := []int{0, 1, 2, 3}; !slices.Equal(order, want) {
		t.Errorf("waiters served in order %v, want %v", order, want)
	}
	for i, a := range at {
		if bound := int64(i+1) * pool.MaxBypass; a > bound {
			t.Errorf("waiter %d served after %d acquires by the barger, want at most %d", i, a, bound)
		}
	}
	t.Logf("barger acquires when each waiter was served: %v", at)
	if s := p.Stats(); s.InUse != 0 || s.Waiting != 0 || s.Idle != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestAcquireCanceled(t *testing.T) {
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 1
	p := newPool(t, cfg)
	held := mustAcquire(t, p)
	defer held.Release()

	cause := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Acquire(ctx)
		errc <- err
	}()
	waitForWaiting(t, p, 1)
	cancel(cause)
	err := <-errc
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || errors.Is(err, pool.ErrExhausted) {
		t.Fatalf("err = %v, want context.Canceled with its cause, not ErrExhausted", err)
	}
	if !strings.HasPrefix(err.Error(), "pool: acquire: ") {
		t.Fatalf("err = %q, want the operation named", err)
	}
	if s := p.Stats(); s.CanceledAcquireCount != 1 || s.Waiting != 0 || s.TimeoutCount != 0 {
		t.Fatalf("stats %+v, want 1 canceled, nobody waiting", s)
	}

	// A context that is already done fails without waiting.
	if _, err := p.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with a done context: %v", err)
	}
	if s := p.Stats(); s.CanceledAcquireCount != 2 || s.AcquireCount != 1 {
		t.Fatalf("stats %+v, want 2 canceled", s)
	}
}

func TestAcquireTimesOutWithExhaustedError(t *testing.T) {
	tests := []struct {
		name           string
		acquireTimeout time.Duration
		ctxTimeout     time.Duration
		// other queues a caller without a deadline ahead of the one that
		// times out; AcquireTimeout would time it out too.
		other bool
	}{
		{"AcquireTimeout", 5 * time.Millisecond, 0, false},
		{"context deadline", 0, 5 * time.Millisecond, true},
		{"context deadline before AcquireTimeout", time.Hour, 5 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b fakeBackend
			cfg := b.config()
			cfg.MaxSize = 1
			cfg.AcquireTimeout = tt.acquireTimeout
			p := newPool(t, cfg)
			held := mustAcquire(t, p)

			others := 0
			otherErr := make(chan error, 1)
			if tt.other {
				others = 1
				go func() {
					l, err := p.Acquire(context.Background())
					if err == nil {
						l.Release()
					}
					otherErr <- err
				}()
				waitForWaiting(t, p, 1)
			}

			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			_, err := p.Acquire(ctx)
			var ee *pool.ExhaustedError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want *ExhaustedError", err)
			}
			if !errors.Is(err, pool.ErrExhausted) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want it to match ErrExhausted and context.DeadlineExceeded", err)
			}
			if ee.InUse != 1 || ee.Max != 1 || ee.Waiting != others || ee.Waited <= 0 {
				t.Fatalf("ExhaustedError %+v, want 1/1 in use, %d others waiting, a wait", ee, others)
			}
			msg := err.Error()
			for _, want := range []string{
				"pool: exhausted: 1/1 in use after waiting ",
				fmt.Sprintf(", %d others waiting; raise MaxSize or release leases sooner", others),
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if s := p.Stats(); s.TimeoutCount != 1 || s.CanceledAcquireCount != 0 || s.Waiting != others {
				t.Fatalf("stats %+v, want one timeout and %d others waiting", s, others)
			}
			held.Release()
			if tt.other {
				if err := <-otherErr; err != nil {
					t.Fatalf("the caller without a deadline: %v", err)
				}
			}
		})
	}
}

func TestTimeoutWhileDialingSaysSo(t *testing.T) {
	var b fakeBackend
	gate := make(chan struct{})
	b.setGate(gate)
	cfg := b.config()
	cfg.MaxSize = 4
	cfg.AcquireTimeout = 5 * time.Millisecond
	p := newPool(t, cfg)

	_, err := p.Acquire(context.Background())
	var ee *pool.ExhaustedError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExhaustedError", err)
	}
	if ee.InUse != 0 || ee.Dialing != 1 || !strings.Contains(err.Error(), "1 dials in flight") || !strings.Contains(err.Error(), "MaxConcurrentDials") {
		t.Fatalf("err = %q (%+v), want it to blame the dial in flight", err, ee)
	}
	close(gate)
	waitFor(t, "the dial to land in the idle set", func() bool { return p.Stats().Idle == 1 })
	l := mustAcquire(t, p)
	l.Release()
	if n := b.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want the abandoned dial reused", n)
	}
}

func TestDialForCallerWhoGaveUpIsNotWasted(t *testing.T) {
	tests := []struct {
		name       string
		nextCaller bool
	}{
		{"goes to the next waiter", true},
		{"goes to the idle set", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b fakeBackend
			gate := make(chan struct{})
			b.setGate(gate)
			cfg := b.config()
			cfg.MaxSize = 1
			p := newPool(t, cfg)

			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := p.Acquire(ctx)
				errc <- err
			}()
			waitFor(t, "a dial for the first caller", func() bool {
				s := p.Stats()
				return s.Waiting == 1 && s.Dialing == 1
			})
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("first caller: %v", err)
			}

			got := make(chan pool.Lease[*fakeConn], 1)
			if tt.nextCaller {
				go func() {
					l, err := p.Acquire(context.Background())
					if err != nil {
						t.Error(err)
					}
					got <- l
				}()
				waitForWaiting(t, p, 1)
				if s := p.Stats(); s.Dialing != 1 {
					t.Fatalf("stats %+v: the second caller started a dial of its own", s)
				}
			}
			close(gate)
			if tt.nextCaller {
				(<-got).Release()
			} else {
				waitFor(t, "the dial to land in the idle set", func() bool { return p.Stats().Idle == 1 })
				mustAcquire(t, p).Release()
			}
			if n := b.dials.Load(); n != 1 {
				t.Fatalf("%d dials, want 1", n)
			}
		})
	}
}

func TestDialErrorReachesCaller(t *testing.T) {
	var b fakeBackend
	boom := errors.New("connection refused")
	b.setDialErr(boom)
	cfg := b.config()
	cfg.MaxSize = 4
	cfg.MaxConcurrentDials = 1
	p := newPool(t, cfg)

	// Several callers at once: each gets an error, none hangs.
	const n = 5
	errc := make(chan error, n)
	for range n {
		go func() {
			_, err := p.Acquire(context.Background())
			errc <- err
		}()
	}
	for range n {
		err := <-errc
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "pool: dial: ") {
			t.Fatalf("err = %v, want the dial error wrapped", err)
		}
	}
	s := p.Stats()
	if s.Size != 0 || s.DialErrorCount != n || s.DialCount != n || s.Waiting != 0 {
		t.Fatalf("stats %+v, want %d failed dials and an empty pool", s, n)
	}

	b.setDialErr(nil)
	mustAcquire(t, p).Release()
}

func TestFailedCheckIsReplacedTransparently(t *testing.T) {
	var b fakeBackend
	var clock fakeClock
	cfg := b.config()
	cfg.MaxSize = 2
	cfg.CheckAfterIdle = time.Second
	p := newPoolWithClock(t, cfg, &clock)

	mustAcquire(t, p).Release()
	b.conn(1).bad.Store(true)

	// Idle for less than CheckAfterIdle: no check, so the broken connection
	// is handed out as it is.
	l := mustAcquire(t, p)
	if l.Value().id != 1 || b.checks.Load() != 0 {
		t.Fatalf("got conn %d after %d checks, want conn 1 unchecked", l.Value().id, b.checks.Load())
	}
	l.Release()

	clock.advance(2 * time.Second)
	l = mustAcquire(t, p)
	if l.Value().id != 2 || !b.conn(1).closed.Load() {
		t.Fatalf("got conn %d, want the broken conn 1 closed and conn 2 dialed", l.Value().id)
	}
	l.Release()
	if s := p.Stats(); s.ClosedHealth != 1 || s.Size != 1 || s.AcquireCount != 3 {
		t.Fatalf("stats %+v, want one health close and 3 acquires", s)
	}
}

func TestCheckAfterIdleNegativeNeverChecksOnAcquire(t *testing.T) {
	var b fakeBackend
	var clock fakeClock
	cfg := b.config()
	cfg.CheckAfterIdle = -1
	p := newPoolWithClock(t, cfg, &clock)
	mustAcquire(t, p).Release()
	clock.advance(time.Minute)
	mustAcquire(t, p).Release()
	if n := b.checks.Load(); n != 0 {
		t.Fatalf("%d checks, want none", n)
	}
}

func TestLifetimeIsEnforcedOnAcquireAndRelease(t *testing.T) {
	var b fakeBackend
	var clock fakeClock
	cfg := b.config()
	cfg.MaxLifetime = time.Hour
	cfg.LifetimeJitter = -1
	cfg.CheckAfterIdle = -1
	p := newPoolWithClock(t, cfg, &clock)

	mustAcquire(t, p).Release()
	clock.advance(time.Hour)
	l := mustAcquire(t, p)
	if l.Value().id != 2 || !b.conn(1).closed.Load() {
		t.Fatalf("got conn %d, want expired conn 1 closed on Acquire", l.Value().id)
	}
	clock.advance(time.Hour)
	l.Release()
	if !b.conn(2).closed.Load() {
		t.Fatal("expired conn 2 was not closed on Release")
	}
	if s := p.Stats(); s.ClosedLifetime != 2 || s.Size != 0 {
		t.Fatalf("stats %+v, want 2 lifetime closes and an empty pool", s)
	}
}

func TestLifetimeJitterSpreadsExpiry(t *testing.T) {
	var b fakeBackend
	var clock fakeClock
	cfg := b.config()
	cfg.MaxSize = 32
	cfg.MinIdle = 32
	cfg.MaxLifetime = time.Hour
	cfg.LifetimeJitter = 10 * time.Minute
	p := newPoolWithClock(t, cfg, &clock)
	waitFor(t, "32 idle connections", func() bool { return p.Stats().Idle == 32 })

	exp := pool.IdleExpiries(p)
	seen := make(map[time.Duration]bool)
	for _, e := range exp {
		if e <= 50*time.Minute || e > time.Hour {
			t.Fatalf("lifetime %v outside (50m, 1h]", e)
		}
		seen[e] = true
	}
	if len(seen) != len(exp) {
		t.Fatalf("%d distinct lifetimes among %d connections", len(seen), len(exp))
	}
	if spread := slices.Max(exp) - slices.Min(exp); spread < time.Minute {
		t.Fatalf("lifetimes spread over %v only", spread)
	}
}

func TestSweepClosesIdleAndBrokenConnections(t *testing.T) {
	var b fakeBackend
	var clock fakeClock
	cfg := b.config()
	cfg.MaxSize = 4
	cfg.MaxIdleTime = time.Minute
	cfg.CheckAfterIdle = time.Second
	p := newPoolWithClock(t, cfg, &clock)

	ls := []pool.Lease[*fakeConn]{mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)}
	ls[0].Release() // conn 1: will idle past MaxIdleTime
	clock.advance(59 * time.Second)
	ls[1].Release() // conn 2: will be checked and found broken
	ls[2].Release() // conn 3: will be checked and kept
	b.conn(2).bad.Store(true)
	clock.advance(2 * time.Second)

	pool.SweepNow(p)
	s := p.Stats()
	if s.ClosedIdle != 1 || s.ClosedHealth != 1 || s.Idle != 1 || s.Size != 1 {
		t.Fatalf("stats %+v, want one idle close, one health close, one survivor", s)
	}
	if !b.conn(1).closed.Load() || !b.conn(2).closed.Load() || b.conn(3).closed.Load() {
		t.Fatal("the sweep closed the wrong connections")
	}
}

// TestSweepServesWaiters has a caller wait while the sweep checks the only
// connection: when the check passes, the connection goes to the caller, not
// back to the idle set to wait for the next release.
func TestSweepServesWaiters(t *testing.T) {
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 1
	cfg.CheckAfterIdle = -1 // only the sweep checks, every idle connection
	var gated atomic.Bool
	inCheck, resume := make(chan struct{}), make(chan struct{})
	cfg.Check = func(ctx context.Context, c *fakeConn) error {
		if gated.Load() {
			inCheck <- struct{}{}
			<-resume
		}
		return b.check(ctx, c)
	}
	p := newPool(t, cfg)
	mustAcquire(t, p).Release()

	gated.Store(true)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		pool.SweepNow(p)
	}()
	<-inCheck // the sweep holds the only connection
	gated.Store(false)
	got := make(chan error, 1)
	go func() {
		// The deadline only keeps a broken pool from hanging the test.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		l, err := p.Acquire(ctx)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	waitForWaiting(t, p, 1)
	close(resume)
	<-swept
	if err := <-got; err != nil {
		t.Fatalf("Acquire waiting during the sweep: %v", err)
	}
	if s := p.Stats(); s.DialCount != 1 || s.WaitCount != 2 {
		t.Errorf("stats %+v, want 1 dial and 2 waits", s)
	}
}

func TestMaxIdleTime(t *testing.T) {
	t.Run("Acquire reuses a checked connection", func(t *testing.T) {
		var b fakeBackend
		var clock fakeClock
		cfg := b.config()
		cfg.MaxIdleTime = time.Minute
		p := newPoolWithClock(t, cfg, &clock)
		mustAcquire(t, p).Release()
		clock.advance(2 * time.Minute)
		l := mustAcquire(t, p)
		defer l.Release()
		if l.Value().id != 1 || b.checks.Load() != 1 {
			t.Fatalf("got conn %d after %d checks, want conn 1 checked and reused", l.Value().id, b.checks.Load())
		}
	})

	t.Run("the sweep keeps MinIdle", func(t *testing.T) {
		var b fakeBackend
		var clock fakeClock
		cfg := b.config()
		cfg.MaxSize = 3
		cfg.MinIdle = 1
		cfg.MaxIdleTime = time.Minute
		p := newPoolWithClock(t, cfg, &clock)
		settled := func() bool {
			s := p.Stats()
			return s.Dialing == 0 && s.Idle >= 1
		}
		waitFor(t, "MinIdle", settled)
		var held []pool.Lease[*fakeConn]
		for range 3 {
			held = append(held, mustAcquire(t, p))
			waitFor(t, "dials to settle", func() bool { return p.Stats().Dialing == 0 })
		}
		for _, l := range held {
			l.Release() // conn 3, released last, is the warmest
		}
		clock.advance(2 * time.Minute)
		pool.SweepNow(p)
		s := p.Stats()
		if s.ClosedIdle != 2 || s.Idle != 1 || !b.conn(1).closed.Load() || !b.conn(2).closed.Load() || b.conn(3).closed.Load() {
			t.Fatalf("stats %+v, want the two coldest closed and MinIdle kept", s)
		}
	})
}

func TestSweepDialsReplacementsBeforeClosing(t *testing.T) {
	tests := []struct {
		name       string
		maxSize    int
		wantEvents []string
	}{
		// Room for replacements: they are dialed before anything closes.
		{"room", 4, []string{"dial 1", "dial 2", "dial 3", "dial 4", "close 1", "close 2"}},
		// No room: MaxSize wins, so the stale ones close first.
		{"no room", 2, []string{"dial 1", "dial 2", "close 1", "close 2", "dial 3", "dial 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b fakeBackend
			var clock fakeClock
			cfg := b.config()
			cfg.MaxSize = tt.maxSize
			cfg.MinIdle = 2
			cfg.MaxConcurrentDials = 1 // dials in a known order
			cfg.MaxLifetime = time.Hour
			cfg.LifetimeJitter = -1
			p := newPoolWithClock(t, cfg, &clock)
			waitFor(t, "MinIdle", func() bool { return p.Stats().Idle == 2 })

			clock.advance(time.Hour)
			pool.SweepNow(p)
			waitFor(t, "MinIdle after the sweep", func() bool {
				s := p.Stats()
				return s.Idle == 2 && s.Dialing == 0
			})
			if got := b.eventLog(); !slices.Equal(got, tt.wantEvents) {
				t.Fatalf("events %v, want %v", got, tt.wantEvents)
			}
			if s := p.Stats(); s.ClosedLifetime != 2 || s.Size != 2 || b.maxOpen.Load() > int64(tt.maxSize) {
				t.Fatalf("stats %+v, max open %d", s, b.maxOpen.Load())
			}
		})
	}
}

func TestMinIdleIsKeptWithinMaxSize(t *testing.T) {
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 4
	cfg.MinIdle = 2
	p := newPool(t, cfg)
	waitFor(t, "MinIdle at start", func() bool { return p.Stats().Idle == 2 })

	var held []pool.Lease[*fakeConn]
	for range 3 {
		held = append(held, mustAcquire(t, p))
		waitFor(t, "dials to settle", func() bool { return p.Stats().Dialing == 0 })
	}
	s := p.Stats()
	if s.Size != 4 || s.InUse != 3 || s.Idle != 1 {
		t.Fatalf("stats %+v, want MinIdle refilled up to MaxSize only", s)
	}
	for _, l := range held {
		l.Release()
	}
	if m := b.maxOpen.Load(); m > 4 {
		t.Fatalf("%d connections open at once, MaxSize is 4", m)
	}
}

func TestBackgroundLoopRefillsMinIdle(t *testing.T) {
	var b fakeBackend
	b.setDialErr(errors.New("backend down"))
	cfg := b.config()
	cfg.MaxSize = 4
	cfg.MinIdle = 3
	cfg.HealthCheckPeriod = time.Millisecond
	p := newPool(t, cfg)
	waitFor(t, "failed warm-up dials", func() bool { return p.Stats().DialErrorCount >= 3 })

	b.setDialErr(nil) // the backend comes back; only the loop can notice
	waitFor(t, "MinIdle from the background loop", func() bool { return p.Stats().Idle == 3 })
}

func TestDrain(t *testing.T) {
	t.Run("waits for leases", func(t *testing.T) {
		var b fakeBackend
		cfg := b.config()
		cfg.MaxSize = 3
		p := newPool(t, cfg)
		out, idle := mustAcquire(t, p), mustAcquire(t, p)
		idle.Release()

		done := make(chan error, 1)
		go func() { done <- p.Drain(context.Background()) }()
		waitFor(t, "Drain to close the idle connection", func() bool { return b.conn(2).closed.Load() })
		if _, err := p.Acquire(context.Background()); !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("Acquire during Drain: %v, want ErrClosed", err)
		}
		select {
		case err := <-done:
			t.Fatalf("Drain returned %v with a lease out", err)
		default:
		}
		out.Release()
		if err := <-done; err != nil {
			t.Fatalf("Drain: %v", err)
		}
		if !b.conn(1).closed.Load() || b.open.Load() != 0 {
			t.Fatal("connections left open after Drain")
		}
		if s := p.Stats(); s.ClosedShutdown != 2 || s.Size != 0 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("fails waiters", func(t *testing.T) {
		var b fakeBackend
		cfg := b.config()
		cfg.MaxSize = 1
		p := newPool(t, cfg)
		held := mustAcquire(t, p)
		errc := make(chan error, 1)
		go func() {
			_, err := p.Acquire(context.Background())
			errc <- err
		}()
		waitForWaiting(t, p, 1)
		done := make(chan error, 1)
		go func() { done <- p.Drain(context.Background()) }()
		if err := <-errc; !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("waiter got %v, want ErrClosed", err)
		}
		held.Release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("context ends first", func(t *testing.T) {
		var b fakeBackend
		p := newPool(t, b.config())
		held := mustAcquire(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Drain(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Drain = %v, want context.Canceled", err)
		}
		if b.conn(1).closed.Load() {
			t.Fatal("Drain closed a leased connection")
		}
		held.Release()
		if !b.conn(1).closed.Load() {
			t.Fatal("connection released after Drain was not closed")
		}
	})
}

func TestClose(t *testing.T) {
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 3
	cfg.HealthCheckPeriod = time.Hour // a background goroutine to join
	p := newPool(t, cfg)
	released, discarded, idle := mustAcquire(t, p), mustAcquire(t, p), mustAcquire(t, p)
	idle.Release()

	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Close()
		}()
	}
	wg.Wait()
	p.Close() // idempotent

	if !b.conn(3).closed.Load() || b.conn(1).closed.Load() {
		t.Fatal("Close must close idle connections and leave leased ones open")
	}
	if _, err := p.Acquire(context.Background()); err != pool.ErrClosed {
		t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
	}
	released.Release()
	discarded.Discard()
	if b.open.Load() != 0 {
		t.Fatal("connections returned after Close were not closed")
	}
	if s := p.Stats(); s.Size != 0 || s.InUse != 0 || s.ClosedShutdown != 2 || s.ClosedDiscard != 1 {
		t.Fatalf("stats %+v", s)
	}
	mustPanic(t, "Release after Close of a released lease", released.Release)
}

func TestCloseCancelsDials(t *testing.T) {
	var b fakeBackend
	b.setGate(make(chan struct{})) // never opens: only Close ends the dial
	cfg := b.config()
	cfg.DialTimeout = -1
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := p.Acquire(context.Background())
		errc <- err
	}()
	waitFor(t, "a dial in flight", func() bool { return p.Stats().Dialing == 1 })
	p.Close()
	if err := <-errc; !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("waiter got %v, want ErrClosed", err)
	}
	if s := p.Stats(); s.Dialing != 0 || s.Size != 0 {
		t.Fatalf("stats %+v after Close", s)
	}
}

func TestLeaseMisusePanics(t *testing.T) {
	var b fakeBackend
	tests := []struct {
		name string
		run  func(t *testing.T, p *pool.Pool[*fakeConn])
	}{
		{"Release twice", func(t *testing.T, p *pool.Pool[*fakeConn]) {
			l := mustAcquire(t, p)
			l.Release()
			mustPanic(t, "second Release", l.Release)
		}},
		{"Discard after Release", func(t *testing.T, p *pool.Pool[*fakeConn]) {
			l := mustAcquire(t, p)
			l.Release()
			mustPanic(t, "Discard", l.Discard)
		}},
		{"Release after Discard", func(t *testing.T, p *pool.Pool[*fakeConn]) {
			l := mustAcquire(t, p)
			l.Discard()
			mustPanic(t, "Release", l.Release)
		}},
		{"Value after Release", func(t *testing.T, p *pool.Pool[*fakeConn]) {
			l := mustAcquire(t, p)
			l.Release()
			mustPanic(t, "Value", func() { l.Value() })
		}},
		{"zero Lease", func(t *testing.T, p *pool.Pool[*fakeConn]) {
			var l pool.Lease[*fakeConn]
			mustPanic(t, "Release", l.Release)
			mustPanic(t, "Value", func() { l.Value() })
		}},
		{"stale copy after the connection is leased again", func(t *testing.T, p *pool.Pool[*fakeConn]) {
			stale := mustAcquire(t, p)
			v := stale.Value()
			stale.Release()
			current := mustAcquire(t, p)
			if current.Value() != v {
				t.Fatal("test needs the same connection leased again")
			}
			mustPanic(t, "stale Release", stale.Release)
			mustPanic(t, "stale Discard", stale.Discard)
			// The current holder is unaffected.
			if s := p.Stats(); s.InUse != 1 {
				t.Fatalf("stats %+v: the stale lease released the current one", s)
			}
			_ = current.Value()
			current.Release()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := b.config()
			cfg.MaxSize = 1
			tt.run(t, newPool(t, cfg))
		})
	}
}

func TestDiscardDialsReplacementForWaiter(t *testing.T) {
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = 1
	p := newPool(t, cfg)
	l := mustAcquire(t, p)
	got := make(chan int, 1)
	go func() {
		l, err := p.Acquire(context.Background())
		if err != nil {
			t.Error(err)
			got <- 0
			return
		}
		got <- l.Value().id
		l.Release()
	}()
	waitForWaiting(t, p, 1)
	l.Discard()
	if id := <-got; id != 2 {
		t.Fatalf("waiter got conn %d, want a fresh conn 2", id)
	}
	if s := p.Stats(); s.ClosedDiscard != 1 || !b.conn(1).closed.Load() {
		t.Fatalf("stats %+v", s)
	}
}

func TestLeakIsReported(t *testing.T) {
	var b fakeBackend
	leaks := make(chan pool.LeakInfo, 1)
	cfg := b.config()
	cfg.LeakThreshold = time.Millisecond
	cfg.OnLeak = func(li pool.LeakInfo) { leaks <- li }
	p := newPool(t, cfg)

	start := time.Now()
	l := leakyHandler(t, p)
	li := <-leaks
	if li.Held < time.Millisecond || li.Acquired.Before(start.Add(-time.Second)) {
		t.Fatalf("LeakInfo %+v", li)
	}
	if !strings.Contains(li.Stack, "leakyHandler") || strings.Contains(li.Stack, "pool.(*Pool") {
		t.Fatalf("stack should start at the caller of Acquire:\n%s", li.Stack)
	}
	if s := p.Stats(); s.LeakCount != 1 {
		t.Fatalf("stats %+v", s)
	}
	l.Release()
}

//go:noinline
func leakyHandler(t *testing.T, p *pool.Pool[*fakeConn]) pool.Lease[*fakeConn] {
	return mustAcquire(t, p)
}

func TestStress(t *testing.T) {
	// 64 goroutines keep the pool exhausted (hand-offs to waiters); 4 leave
	// connections idle (the checked fast path).
	for _, goroutines := range []int{64, 4} {
		t.Run(fmt.Sprintf("goroutines=%d", goroutines), func(t *testing.T) {
			stress(t, goroutines)
		})
	}
}

func stress(t *testing.T, goroutines int) {
	const maxSize = 8
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}
	var b fakeBackend
	cfg := b.config()
	cfg.MaxSize = maxSize
	cfg.MinIdle = 2
	cfg.MaxConcurrentDials = 2
	cfg.CheckAfterIdle = time.Nanosecond
	cfg.MaxLifetime = 2 * time.Millisecond
	cfg.HealthCheckPeriod = time.Millisecond
	cfg.Check = func(ctx context.Context, c *fakeConn) error {
		if rand.IntN(50) == 0 {
			return errors.New("broken")
		}
		return b.check(ctx, c)
	}
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var ok atomic.Int64
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if (g+i)%13 == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(50))*time.Microsecond)
				}
				l, err := p.Acquire(ctx)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Acquire: %v", err)
						return
					}
					continue
				}
				c := l.Value()
				if !c.holder.CompareAndSwap(0, 1) {
					t.Errorf("conn %d leased twice at once", c.id)
					return
				}
				if c.closed.Load() {
					t.Errorf("conn %d handed out after Close", c.id)
					return
				}
				if i%16 == 0 {
					s := p.Stats()
					if s.Size > maxSize || s.Size != s.Idle+s.InUse+s.Dialing || s.InUse < 1 {
						t.Errorf("inconsistent stats %+v", s)
						return
					}
				}
				c.holder.Store(0)
				if rand.IntN(20) == 0 {
					l.Discard()
				} else {
					l.Release()
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	p.Close()

	s := p.Stats()
	if s.Size != 0 || s.InUse != 0 || s.Idle != 0 || s.Dialing != 0 || s.Waiting != 0 {
		t.Fatalf("stats after Close %+v", s)
	}
	if b.open.Load() != 0 || b.maxOpen.Load() > maxSize {
		t.Fatalf("%d connections open after Close, at most %d at once (MaxSize %d)", b.open.Load(), b.maxOpen.Load(), maxSize)
	}
	closed := s.ClosedIdle + s.ClosedLifetime + s.ClosedHealth + s.ClosedDiscard + s.ClosedShutdown
	if opened := s.DialCount - s.DialErrorCount; closed != opened {
		t.Fatalf("%d connections opened, %d closed: %+v", opened, closed, s)
	}
	if s.AcquireCount != ok.Load() {
		t.Fatalf("AcquireCount %d, want %d successful acquires", s.AcquireCount, ok.Load())
	}
	t.Logf("%d acquires (%d waited), %d timeouts, %d canceled, %d dials; closed: idle %d, lifetime %d, health %d, discard %d, shutdown %d",
		s.AcquireCount, s.WaitCount, s.TimeoutCount, s.CanceledAcquireCount, s.DialCount,
		s.ClosedIdle, s.ClosedLifetime, s.ClosedHealth, s.ClosedDiscard, s.ClosedShutdown)
}
