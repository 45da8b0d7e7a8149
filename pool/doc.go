// Package pool reuses established connections, so that requests stop paying
// for a TCP and TLS handshake each.
//
// A Pool[T] holds connections of any type T: net.Conn, a database or
// protocol client, a gRPC channel. It sizes itself between MinIdle and
// MaxSize, validates connections that have been idle before handing them
// out, health-checks idle ones in the background, retires them after a
// jittered lifetime, times out waiting callers with an error that says what
// to change, and drains gracefully.
//
// # Quick start
//
//	cfg := pool.TCP(addr, &pool.TCPOptions{TLS: tlsConfig}) // addr "db.internal:5432"
//	cfg.MaxSize = 32
//	cfg.AcquireTimeout = 50 * time.Millisecond
//	p, err := pool.New(cfg)
//	if err != nil {
//		return err
//	}
//	defer p.Close()
//
//	lease, err := p.Acquire(ctx)
//	if err != nil {
//		return err // *pool.ExhaustedError says by how much the pool is short
//	}
//	if err := talk(lease.Value()); err != nil {
//		lease.Discard() // broken or in an unknown state: close, don't reuse
//		return err
//	}
//	lease.Release()
//
// For any other type, fill Config yourself: Dial is required; Close, Check
// and every limit are optional and documented with their defaults.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. Here [Config] (passed by value) and [TCPOptions] (nil
// valid) are the options: a negative MaxIdleTime, MaxLifetime,
// LifetimeJitter, CheckAfterIdle, HealthCheckPeriod or DialTimeout turns
// that limit off, and [New] rejects a negative MaxSize, MinIdle,
// AcquireTimeout, MaxConcurrentDials or LeakThreshold with an error naming
// the field: "pool: Config.MaxSize is negative (-1)".
//
// # Acquiring
//
// Idle connections are reused last-in first-out, so the warmest one serves
// the next request and surplus connections age out through MaxIdleTime.
// When none is idle and the pool is below MaxSize, Acquire dials; at
// MaxSize it waits. Callers that wait are served in FIFO order. A release
// does not hand the connection to the first waiter but wakes it, so a
// caller that is running, often the releaser itself, may take the
// connection first and spare a goroutine switch; after 16 such takes in a
// row, new callers queue behind the waiters until the first is served, so
// no waiter is starved. A new connection goes to the first waiter. Dials
// run on the pool's own goroutines, at most MaxConcurrentDials at a time,
// and are not tied to the caller that caused them: if that caller gives
// up, the new connection goes to the next waiter or to the idle set
// instead of being thrown away.
//
// A connection idle for at least CheckAfterIdle is passed to Check before
// it is handed out; one that fails is closed and another is taken or
// dialed, without an error for the caller. TCP's Check, ConnAlive, costs
// one non-blocking system call and no round trip.
//
// # Leases
//
// Acquire returns a Lease, a small value that does not allocate. End each
// lease with exactly one Release or Discard; a second one panics, even
// through a stale copy after the connection has been leased again, so a
// bug cannot hand one caller's connection to another. With LeakThreshold
// and OnLeak set, leases held too long are reported with the stack of the
// Acquire call.
//
// # Callbacks that panic
//
// A panic or runtime.Goexit in Dial, Check, Close or OnLeak never leaks a
// connection's slot. Where the pool runs the callback on a goroutine of its
// own (dials, the background sweep, OnLeak, the closing of idle
// connections by Close and Drain), it recovers the panic, counts it in
// Stats.CallbackPanics and treats the connection as broken; a dial that
// panicked fails with a *PanicError. Where the callback runs on the
// caller's goroutine (Check in Acquire, Close in Release or Discard), the
// pool closes the connection and frees its slot, counts the panic, and
// lets it go on to the caller unchanged, as if the caller had called the
// callback itself.
//
// # Monitoring
//
// Stats returns gauges and counters. Watch Stats.Utilization (InUse over
// MaxSize): callers start waiting at 1, before any of them times out. A
// timeout returns an *ExhaustedError with the counts behind it, matching
// both ErrExhausted and context.DeadlineExceeded.
//
// # Shutting down
//
// Drain stops handing out connections and waits, up to its context, for
// leases to come back; Close closes at once and leaves leased connections
// to be closed on release. Both wait for every goroutine the pool started.
//
// # Caveats
//
// Limits are enforced on Acquire, Release and the background sweep, not by
// timers per connection: an idle connection can outlive MaxLifetime or
// MaxIdleTime by up to HealthCheckPeriod. Config.Close
// runs on the goroutine that gives a connection up (a Release of an expired
// connection, a Discard), so keep it quick. ConnAlive probes the socket only
// on Linux and reports connections alive elsewhere.
package pool
