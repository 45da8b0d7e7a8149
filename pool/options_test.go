package pool_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

// Every numeric Config field without a meaning for negative values is
// rejected by New with an error naming the field and the value.
func TestConfigNegativeIsAnErrorNamingTheField(t *testing.T) {
	var b fakeBackend
	for _, tc := range []struct {
		set  func(*pool.Config[*fakeConn])
		want string
	}{
		{func(c *pool.Config[*fakeConn]) { c.MaxSize = -1 }, "pool: Config.MaxSize is negative (-1)"},
		{func(c *pool.Config[*fakeConn]) { c.MinIdle = -2 }, "pool: Config.MinIdle is negative (-2)"},
		{func(c *pool.Config[*fakeConn]) { c.AcquireTimeout = -time.Second }, "pool: Config.AcquireTimeout is negative (-1s); use 0"},
		{func(c *pool.Config[*fakeConn]) { c.MaxConcurrentDials = -3 }, "pool: Config.MaxConcurrentDials is negative (-3)"},
		{func(c *pool.Config[*fakeConn]) { c.LeakThreshold = -time.Second }, "pool: Config.LeakThreshold is negative (-1s); use 0"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cfg := b.config()
			tc.set(&cfg)
			p, err := pool.New(cfg)
			if err == nil {
				p.Close()
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

// Every Config field whose comment gives negative values a meaning
// switches the limit off.
func TestConfigNegativeDisables(t *testing.T) {
	const long = 10000 * time.Hour
	t.Run("MaxIdleTime keeps idle connections", func(t *testing.T) {
		var b fakeBackend
		var clock fakeClock
		cfg := b.config()
		cfg.MaxIdleTime, cfg.MaxLifetime = -1, -1
		p := newPoolWithClock(t, cfg, &clock)
		mustAcquire(t, p).Release()
		clock.advance(long)
		pool.SweepNow(p)
		if s := p.Stats(); s.Idle != 1 || s.ClosedIdle != 0 {
			t.Fatalf("stats %+v, want the idle connection kept", s)
		}
	})
	t.Run("MaxLifetime keeps old connections", func(t *testing.T) {
		var b fakeBackend
		var clock fakeClock
		cfg := b.config()
		cfg.MaxLifetime = -1
		p := newPoolWithClock(t, cfg, &clock)
		mustAcquire(t, p).Release()
		clock.advance(long)
		l := mustAcquire(t, p)
		defer l.Release()
		if l.Value().id != 1 || p.Stats().ClosedLifetime != 0 {
			t.Fatalf("got conn %d, stats %+v; want conn 1 reused", l.Value().id, p.Stats())
		}
	})
	t.Run("LifetimeJitter gives every connection MaxLifetime", func(t *testing.T) {
		var b fakeBackend
		var clock fakeClock
		cfg := b.config()
		cfg.MaxSize, cfg.MinIdle = 8, 8
		cfg.MaxLifetime, cfg.LifetimeJitter = time.Hour, -1
		p := newPoolWithClock(t, cfg, &clock)
		waitFor(t, "8 idle connections", func() bool { return p.Stats().Idle == 8 })
		for _, e := range pool.IdleExpiries(p) {
			if e != time.Hour {
				t.Fatalf("expiries %v, want every one at 1h", pool.IdleExpiries(p))
			}
		}
	})
	t.Run("CheckAfterIdle never checks on Acquire", func(t *testing.T) {
		var b fakeBackend
		var clock fakeClock
		cfg := b.config()
		cfg.CheckAfterIdle = -1
		p := newPoolWithClock(t, cfg, &clock)
		mustAcquire(t, p).Release()
		clock.advance(long)
		mustAcquire(t, p).Release()
		if n := b.checks.Load(); n != 0 {
			t.Fatalf("%d checks, want none", n)
		}
	})
	t.Run("HealthCheckPeriod runs no background sweep", func(t *testing.T) {
		var b fakeBackend
		for _, tc := range []struct {
			period time.Duration
			want   bool
		}{{0, true}, {time.Hour, true}, {-1, false}} {
			cfg := b.config()
			cfg.HealthCheckPeriod = tc.period
			p := newPool(t, cfg)
			if got := pool.HasSweepLoop(p); got != tc.want {
				t.Errorf("HealthCheckPeriod %v: sweep loop %v, want %v", tc.period, got, tc.want)
			}
		}
	})
	t.Run("DialTimeout leaves dials unbounded", func(t *testing.T) {
		for _, tc := range []struct {
			timeout      time.Duration
			wantDeadline bool
		}{{0, true}, {time.Minute, true}, {-1, false}} {
			var b fakeBackend
			var deadline atomic.Bool
			cfg := b.config()
			cfg.DialTimeout = tc.timeout
			cfg.Dial = func(ctx context.Context) (*fakeConn, error) {
				_, ok := ctx.Deadline()
				deadline.Store(ok)
				return b.dial(ctx)
			}
			p := newPool(t, cfg)
			mustAcquire(t, p).Release()
			if deadline.Load() != tc.wantDeadline {
				t.Errorf("DialTimeout %v: dial context has a deadline: %v, want %v", tc.timeout, deadline.Load(), tc.wantDeadline)
			}
		}
	})
}
