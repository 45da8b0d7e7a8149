package pool

import "time"

// Stats is a snapshot of a Pool's gauges and counters, returned by
// Pool.Stats. Counters only grow over the pool's life. Size is always
// Idle + InUse + Dialing.
type Stats struct {
	// Size is the number of connections: idle, leased or being dialed.
	Size int
	// Idle is the number of idle connections, including any the background
	// sweep is checking or about to close at this moment.
	Idle int
	// InUse is the number of leased connections, including any that Acquire
	// is checking before handing out.
	InUse int
	// Dialing is the number of dials in flight.
	Dialing int
	// Waiting is the number of Acquire calls waiting for a connection.
	Waiting int
	// MaxSize is Config.MaxSize.
	MaxSize int

	// AcquireCount counts successful Acquire calls.
	AcquireCount int64
	// WaitCount counts successful Acquire calls that had to wait.
	WaitCount int64
	// WaitDuration is the total time those calls waited.
	WaitDuration time.Duration
	// CanceledAcquireCount counts Acquire calls that ended because their
	// context was done, except deadlines that passed while waiting, which
	// TimeoutCount counts.
	CanceledAcquireCount int64
	// TimeoutCount counts Acquire calls that returned an *ExhaustedError.
	TimeoutCount int64
	// DialCount counts dials that finished, successful or not.
	DialCount int64
	// DialErrorCount counts dials that failed.
	DialErrorCount int64
	// LeakCount counts leases reported to Config.OnLeak.
	LeakCount int64
	// CallbackPanics counts panics and runtime.Goexit calls in Config
	// callbacks (Dial, Check, Close, OnLeak), on the pool's goroutines,
	// where they are recovered, and on callers' goroutines, where they go
	// on to the caller once the slot is freed. Each one is a bug in the
	// callback; see PanicError.
	CallbackPanics int64

	// ClosedIdle counts connections closed after MaxIdleTime.
	ClosedIdle int64
	// ClosedLifetime counts connections closed after their lifetime.
	ClosedLifetime int64
	// ClosedHealth counts connections closed because Check failed.
	ClosedHealth int64
	// ClosedDiscard counts connections closed by Lease.Discard.
	ClosedDiscard int64
	// ClosedShutdown counts connections closed by Close or Drain, or
	// released after them.
	ClosedShutdown int64
}

// Utilization returns InUse/MaxSize, from 0 to 1. It is the leading
// indicator to watch: at 1 callers wait, and the next thing they see is an
// *ExhaustedError.
func (s Stats) Utilization() float64 {
	if s.MaxSize == 0 {
		return 0
	}
	return float64(s.InUse) / float64(s.MaxSize)
}

// closeReason says why a connection is closed; it selects a Stats counter.
type closeReason uint8

const (
	keep closeReason = iota
	closeIdle
	closeLifetime
	closeHealth
	closeDiscard
	closeShutdown
)

// counters are the Stats counters, protected by Pool.mu.
type counters struct {
	canceled, timeout     int64
	dial, dialError, leak int64
	panics                int64
	closed                [closeShutdown + 1]int64
}
