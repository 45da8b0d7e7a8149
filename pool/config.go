package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Config configures a Pool. Only Dial is required: every other field's zero
// value selects the documented default. New copies the Config, so changing
// it afterwards does not affect the pool.
type Config[T any] struct {
	// Dial creates a connection. The pool calls it on a goroutine of its own
	// with a context that is cancelled by Close and bounded by DialTimeout,
	// never with the context of the Acquire call that caused the dial: a
	// caller that gives up does not waste a dial in flight. A panic or
	// runtime.Goexit in Dial is recovered and fails the dial with a
	// *PanicError. Required.
	Dial func(ctx context.Context) (T, error)

	// Close closes a connection the pool is done with: expired, failed its
	// check, discarded, or left over when the pool closes. It runs on the
	// goroutine that gives the connection up and its error is ignored. A
	// panic or runtime.Goexit in Close never leaks the connection's slot:
	// on a caller's goroutine (Release, Discard, Acquire after a failed
	// check) it goes on to the caller once the slot is freed; in the
	// background sweep, a dial that finished after Close, and the closing
	// of idle connections by Close and Drain, it is recovered, so that
	// the work goes on. Either way Stats.CallbackPanics counts it.
	// Nil means connections need no closing.
	Close func(T) error

	// Check reports whether an idle connection is still usable. Acquire
	// calls it, with the caller's context, before handing out a connection
	// that has been idle for at least CheckAfterIdle, and the background
	// loop calls it on such idle connections every HealthCheckPeriod. A
	// connection that fails is closed and replaced without the caller
	// seeing an error. It should be cheap: ConnAlive needs no round trip.
	// A panic or runtime.Goexit in Check counts as a failed check: the
	// connection is closed and its slot freed; in Acquire, on the caller's
	// goroutine, the panic then goes on to the caller, while the background
	// sweep recovers it. Stats.CallbackPanics counts it.
	// Nil means connections are never checked.
	Check func(ctx context.Context, conn T) error

	// MaxSize caps the number of connections, leased, idle and being
	// dialed together. Defaults to max(4, GOMAXPROCS); negative is an error.
	MaxSize int

	// MinIdle is the number of idle connections the pool keeps ready: it
	// dials them when it is created, after an Acquire or a close leaves
	// fewer, and on each background sweep, never exceeding MaxSize.
	// Defaults to 0; negative or more than MaxSize is an error.
	MinIdle int

	// MaxIdleTime lets the background sweep close connections idle this
	// long, coldest first, while more than MinIdle are idle, so that the
	// pool shrinks after a burst. Acquire does not enforce it: after a quiet
	// spell a checked connection serves better than a dial. Defaults to 30
	// minutes; negative means idle connections are kept.
	MaxIdleTime time.Duration

	// MaxLifetime is the age at which a connection is closed instead of
	// reused, checked on Acquire, on Release and on the background sweep.
	// It lets a backend's connections move to new instances after a deploy
	// or a DNS change. Defaults to 1 hour; negative means no limit.
	MaxLifetime time.Duration

	// LifetimeJitter spreads expiry so that connections dialed together are
	// not all closed and redialed together: each connection's lifetime is
	// MaxLifetime minus a random duration in [0, LifetimeJitter), so
	// MaxLifetime stays an upper bound. Defaults to MaxLifetime/10;
	// negative means no jitter; at least MaxLifetime is an error.
	LifetimeJitter time.Duration

	// CheckAfterIdle is how long a connection must have been idle before
	// Acquire runs Check on it; a connection in steady use is not checked.
	// Defaults to 1 second (as pgxpool does); use a tiny positive value such
	// as time.Nanosecond to check on every Acquire; negative means Acquire
	// never runs Check (the background sweep still does).
	CheckAfterIdle time.Duration

	// HealthCheckPeriod is the interval of the background sweep that closes
	// expired idle connections, checks idle ones and refills MinIdle.
	// Defaults to 1 minute; negative means no background goroutine (expiry
	// is then enforced on Acquire and Release only).
	HealthCheckPeriod time.Duration

	// AcquireTimeout bounds how long Acquire waits for a connection, on top
	// of the context's deadline: whichever comes first ends the wait with
	// an *ExhaustedError. Defaults to 0, which means the context alone
	// bounds the wait; negative is an error.
	AcquireTimeout time.Duration

	// MaxConcurrentDials caps the dials in flight, so that a backend that
	// restarts under load is not hit by a dial storm of MaxSize handshakes
	// at once. Defaults to MaxSize/4 but at least min(MaxSize, 4); values
	// above MaxSize act as MaxSize; negative is an error.
	MaxConcurrentDials int

	// DialTimeout bounds each Dial, and each Check run by the background
	// sweep. Acquire waits for dials but does not cancel them, so without a
	// bound a dial to a black-holed address would hold a slot for the
	// operating system's connect timeout. Defaults to 10 seconds; negative
	// means dials are bounded only by Close.
	DialTimeout time.Duration

	// LeakThreshold reports a lease held longer than this through OnLeak,
	// once per lease, with the stack of the goroutine that acquired it.
	// Capturing the stack costs about a microsecond per Acquire, so it is
	// meant for finding a leak rather than for always-on monitoring.
	// Defaults to 0, which disables it; negative is an error.
	LeakThreshold time.Duration

	// OnLeak receives leak reports when LeakThreshold is positive. It runs
	// on a goroutine of the pool's own that Close waits for, so it should
	// return promptly; a panic or runtime.Goexit in it is recovered and
	// counted in Stats.CallbackPanics. Required when LeakThreshold is
	// positive.
	OnLeak func(LeakInfo)
}

// LeakInfo describes a lease held longer than Config.LeakThreshold.
type LeakInfo struct {
	// Acquired is when the lease was handed out.
	Acquired time.Time
	// Held is how long it had been held when reported.
	Held time.Duration
	// Stack is the acquiring goroutine's stack at the Acquire call,
	// innermost frame first, one "function\n\tfile:line" entry per frame.
	Stack string
}

const (
	defaultMaxIdleTime       = 30 * time.Minute
	defaultMaxLifetime       = time.Hour
	defaultCheckAfterIdle    = time.Second
	defaultHealthCheckPeriod = time.Minute
	defaultDialTimeout       = 10 * time.Second
)

// withDefaults returns a validated copy of c with every zero field set to its
// default.
func (c Config[T]) withDefaults() (Config[T], error) {
	if c.Dial == nil {
		return c, errors.New("pool: Config.Dial is nil")
	}
	switch {
	case c.MaxSize < 0:
		return c, fmt.Errorf("pool: Config.MaxSize is negative (%d)", c.MaxSize)
	case c.MinIdle < 0:
		return c, fmt.Errorf("pool: Config.MinIdle is negative (%d)", c.MinIdle)
	case c.AcquireTimeout < 0:
		return c, fmt.Errorf("pool: Config.AcquireTimeout is negative (%v); use 0 to rely on the context", c.AcquireTimeout)
	case c.MaxConcurrentDials < 0:
		return c, fmt.Errorf("pool: Config.MaxConcurrentDials is negative (%d)", c.MaxConcurrentDials)
	case c.LeakThreshold < 0:
		return c, fmt.Errorf("pool: Config.LeakThreshold is negative (%v); use 0 to disable leak reports", c.LeakThreshold)
	case c.LeakThreshold > 0 && c.OnLeak == nil:
		return c, errors.New("pool: Config.LeakThreshold is set but Config.OnLeak is nil")
	}
	if c.MaxSize == 0 {
		c.MaxSize = max(4, runtime.GOMAXPROCS(0))
	}
	if c.MinIdle > c.MaxSize {
		return c, fmt.Errorf("pool: Config.MinIdle (%d) exceeds MaxSize (%d)", c.MinIdle, c.MaxSize)
	}
	if c.MaxConcurrentDials == 0 {
		c.MaxConcurrentDials = max(c.MaxSize/4, min(c.MaxSize, 4))
	}
	c.MaxConcurrentDials = min(c.MaxConcurrentDials, c.MaxSize)
	c.MaxIdleTime = orDefault(c.MaxIdleTime, defaultMaxIdleTime)
	c.MaxLifetime = orDefault(c.MaxLifetime, defaultMaxLifetime)
	c.CheckAfterIdle = orDefault(c.CheckAfterIdle, defaultCheckAfterIdle)
	c.HealthCheckPeriod = orDefault(c.HealthCheckPeriod, defaultHealthCheckPeriod)
	c.DialTimeout = orDefault(c.DialTimeout, defaultDialTimeout)
	if c.LifetimeJitter == 0 && c.MaxLifetime > 0 {
		c.LifetimeJitter = c.MaxLifetime / 10
	}
	if c.MaxLifetime > 0 && c.LifetimeJitter >= c.MaxLifetime {
		return c, fmt.Errorf("pool: Config.LifetimeJitter (%v) must be less than MaxLifetime (%v)", c.LifetimeJitter, c.MaxLifetime)
	}
	return c, nil
}

// orDefault returns def for zero; negative durations mean "disabled" and are
// kept as they are.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
