package sendq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Policy is what a queue does with a normal-lane item that does not fit.
type Policy uint8

const (
	// Inherit, the zero Policy, means "use the queue's policy" in
	// Item.Policy and [DropOldest] in Options.Policy.
	Inherit Policy = iota
	// DropOldest evicts the oldest normal-lane items until the new one
	// fits: a live feed where fresh data matters most.
	DropOldest
	// DropNewest refuses the new item: Push returns [ErrDropped].
	DropNewest
	// Block makes the producer wait for room up to Options.BlockTimeout;
	// then the consumer is treated as slow and the queue fails with
	// [ErrSlowConsumer].
	Block
	// Disconnect fails the queue with [ErrSlowConsumer] at once.
	Disconnect
	// CoalesceByKey replaces a queued normal-lane item with the same
	// non-empty Item.Key in place (it keeps its position and its enqueue
	// time, so the oldest age still shows how long the consumer has not
	// read); an item whose key is not queued is added, evicting the oldest
	// items like DropOldest if it does not fit. Coalescing happens whether
	// or not the queue is full: positions and prices need only the latest.
	CoalesceByKey
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case Inherit:
		return "inherit"
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	case Block:
		return "block"
	case Disconnect:
		return "disconnect"
	case CoalesceByKey:
		return "coalesce-by-key"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ErrClosed is returned by Push after Close or CloseWithError, and by Next
// once a gracefully closed queue is empty.
var ErrClosed = errors.New("sendq: queue closed")

// ErrDropped is returned by Push when the item was not queued under the
// DropNewest policy. The queue stays usable.
var ErrDropped = errors.New("sendq: queue full, message dropped (policy drop-newest); the consumer is slower than the producers")

// ErrTooLarge is returned by Push for an item larger than the bytes bound
// of its lane; it could never fit. The queue stays usable.
var ErrTooLarge = errors.New("sendq: message larger than the queue's byte bound; raise MaxBytes (or PriorityMaxBytes) or send smaller messages")

// ErrSlowConsumer is the cause a queue fails with when its consumer cannot
// keep up (policy Disconnect, a Block timeout, a full priority lane). Push
// and Next return it (wrapped with detail) and Done is closed; the
// connection should be closed.
var ErrSlowConsumer = errors.New("sendq: slow consumer")

// DropReason says why an item left the queue without being delivered.
type DropReason uint8

const (
	// DroppedOldest: evicted by DropOldest or CoalesceByKey to make room.
	DroppedOldest DropReason = iota + 1
	// DroppedNewest: refused by DropNewest.
	DroppedNewest
	// Coalesced: replaced by a newer item with the same key.
	Coalesced
	// DroppedTooLarge: refused by ErrTooLarge.
	DroppedTooLarge
	// DroppedOnFailure: discarded because the queue failed.
	DroppedOnFailure
)

// Item is one queued message.
type Item[T any] struct {
	// Value is what the consumer writes.
	Value T
	// Size is the item's weight against the byte bounds, usually the
	// length of the encoded message. Negative counts as zero.
	Size int
	// Key identifies items that replace each other under CoalesceByKey.
	// Empty means the item is never coalesced.
	Key string
	// Priority puts the item in the priority lane: never dropped by a
	// policy, delivered before normal items.
	Priority bool
	// Policy overrides the queue's policy for this item (a per-topic
	// policy). Inherit, the zero value, uses Options.Policy.
	Policy Policy

	// Enqueued is when the item entered the queue: set by Push unless the
	// caller set it (a fan-out reads the clock once for all its queues);
	// for a coalesced item, when its slot first entered.
	Enqueued time.Time
}

// Clock is the time source of a queue; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// After is time.After: the channel receives once d has passed.
	// stop releases the timer early.
	After(d time.Duration) (c <-chan time.Time, stop func())
}

// Options configures a queue. A nil *Options is valid and means all
// defaults. New copies the struct; changing it later has no effect.
type Options struct {
	// Policy for normal-lane items that do not fit. Defaults to DropOldest.
	Policy Policy
	// MaxMessages bounds the normal lane. Defaults to 256.
	MaxMessages int
	// MaxBytes bounds the sum of Item.Size in the normal lane. Defaults to
	// 1 MiB.
	MaxBytes int
	// PriorityMaxMessages bounds the priority lane. Defaults to 64.
	PriorityMaxMessages int
	// PriorityMaxBytes bounds the priority lane's bytes. Defaults to
	// 256 KiB.
	PriorityMaxBytes int
	// BlockTimeout is how long a producer waits under Block. Defaults to
	// 5s.
	BlockTimeout time.Duration
	// HighWatermark is the fill fraction (0..1] at which OnLagging(true)
	// is called. Defaults to 0.75.
	HighWatermark float64
	// LowWatermark is the fill fraction [0..HighWatermark) at or below
	// which OnLagging(false) is called. Defaults to 0.25.
	LowWatermark float64
	// OnLagging, if set, is called when the consumer starts (true) and
	// stops (false) lagging; see the package doc. It runs on the pushing or
	// consuming goroutine without the queue's lock held, so it may call the
	// queue (say, push a priority "you are lagging" notice), but it should
	// be quick. Calls never overlap and alternate true, false, true, ….
	OnLagging func(lagging bool)
	// OnDrop, if set, is called for every item that leaves the queue
	// undelivered, on the goroutine that caused it, without the queue's
	// lock held. Nil means drops are only counted in Stats.
	OnDrop func(value any, reason DropReason)
	// Clock defaults to the real time.
	Clock Clock
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Policy == Inherit {
		c.Policy = DropOldest
	}
	if c.Policy > CoalesceByKey {
		return c, fmt.Errorf("sendq: unknown policy %v", c.Policy)
	}
	if c.MaxMessages <= 0 {
		c.MaxMessages = 256
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.PriorityMaxMessages <= 0 {
		c.PriorityMaxMessages = 64
	}
	if c.PriorityMaxBytes <= 0 {
		c.PriorityMaxBytes = 256 << 10
	}
	if c.BlockTimeout <= 0 {
		c.BlockTimeout = 5 * time.Second
	}
	if c.HighWatermark == 0 {
		c.HighWatermark = 0.75
	}
	if c.LowWatermark == 0 && (o == nil || o.HighWatermark == 0) {
		c.LowWatermark = 0.25
	}
	if c.HighWatermark <= 0 || c.HighWatermark > 1 || c.LowWatermark < 0 || c.LowWatermark >= c.HighWatermark {
		return c, fmt.Errorf("sendq: watermarks must satisfy 0 <= low < high <= 1, got low %v high %v", c.LowWatermark, c.HighWatermark)
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	return c, nil
}

// Stats is a snapshot of a queue.
type Stats struct {
	Depth         int           // items in the normal lane
	Bytes         int           // bytes in the normal lane
	PriorityDepth int           // items in the priority lane
	PriorityBytes int           // bytes in the priority lane
	OldestAge     time.Duration // age of the oldest queued item, 0 when empty
	Lagging       bool          // fill reached HighWatermark (or an item did not fit) and has not come down to LowWatermark

	Pushed          uint64 // items accepted by Push
	Delivered       uint64 // items returned by Next/TryNext
	DroppedOldest   uint64 // evicted to make room
	DroppedNewest   uint64 // refused by DropNewest
	Coalesced       uint64 // replaced by a newer item with the same key
	DroppedTooLarge uint64 // refused with ErrTooLarge
	Discarded       uint64 // queued items thrown away when the queue failed
	Blocked         uint64 // Pushes that had to wait under Block
	Failed          bool   // the queue failed (slow consumer or CloseWithError)
}

// Queue is a bounded outbound queue for one connection. Any number of
// goroutines may Push; one goroutine (the connection's writer) should call
// Next. All methods are safe for concurrent use.
type Queue[T any] struct {
	opt Options

	mu        sync.Mutex // protects everything below
	normal    ring[T]
	keys      map[string]uint64 // coalescing key -> absolute seq in normal
	nbytes    int
	prio      ring[T]
	pbytes    int
	lagging   bool // current state
	reported  bool // last state passed to OnLagging
	notifying bool // a goroutine is running OnLagging
	closed    bool // no more pushes
	err       error
	ready     chan struct{} // closed when an item arrives or the queue closes; nil until Next waits
	space     chan struct{} // closed and replaced when room appears or the queue closes; nil until a producer waits
	readyW    bool          // someone waits on ready: replace it on signal
	spaceW    bool          // someone waits on space
	done      chan struct{} // closed on failure or when a closed queue is drained; nil until Done is called
	doneOnce  bool          // the queue is done (done, if made, is closed)
	st        Stats
}

// New returns an empty queue; a nil opts means defaults. It returns an
// error for invalid options (unknown policy, inconsistent watermarks).
func New[T any](opts *Options) (*Queue[T], error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	// The rings, the key map and the space and done channels are made on
	// first use: an idle connection's queue costs only the struct.
	return &Queue[T]{
		opt:    o,
		normal: ring[T]{max: o.MaxMessages},
		prio:   ring[T]{max: o.PriorityMaxMessages},
	}, nil
}

type drop[T any] struct {
	v T
	r DropReason
}

func (q *Queue[T]) fillLocked(extraMsgs, extraBytes int) float64 {
	m := float64(q.normal.n+extraMsgs) / float64(q.opt.MaxMessages)
	b := float64(q.nbytes+extraBytes) / float64(q.opt.MaxBytes)
	return max(m, b)
}

// Push queues it, applying the policy if it does not fit. It returns nil
// when the item was queued (for DropOldest and CoalesceByKey, possibly at
// the cost of older items); [ErrDropped] or [ErrTooLarge] when it was not
// and the queue is still usable; an error wrapping [ErrSlowConsumer] when
// the queue failed because of this push; [ErrClosed] (or the failure
// cause) on a closed queue. Only Block waits: for room, for
// Options.BlockTimeout, or until ctx is done, in which case it returns
// ctx.Err() with nothing queued and the queue unchanged.
func (q *Queue[T]) Push(ctx context.Context, it Item[T]) error {
	if it.Size < 0 {
		it.Size = 0
	}
	pol := it.Policy
	if pol == Inherit {
		pol = q.opt.Policy
	}
	var drops []drop[T]
	defer func() { q.report(drops) }()
	var deadline <-chan time.Time
	var stopTimer func()
	defer func() {
		if stopTimer != nil {
			stopTimer()
		}
	}()
	blocked, timedOut := false, false

	q.mu.Lock()
	for {
		if q.closed {
			err := q.closedErrLocked()
			q.mu.Unlock()
			return err
		}
		if it.Priority {
			if it.Size > q.opt.PriorityMaxBytes {
				q.st.DroppedTooLarge++
				q.mu.Unlock()
				drops = append(drops, drop[T]{it.Value, DroppedTooLarge})
				return ErrTooLarge
			}
			if q.prio.n < q.prio.cap() && q.pbytes+it.Size <= q.opt.PriorityMaxBytes {
				if it.Enqueued.IsZero() {
					it.Enqueued = q.opt.Clock.Now()
				}
				q.prio.push(it)
				q.pbytes += it.Size
				q.st.Pushed++
				q.signalReadyLocked()
				q.mu.Unlock()
				return nil
			}
			if q.needLagLocked() {
				continue
			}
			err := fmt.Errorf("%w: priority lane full (%d messages, %d bytes); raise PriorityMaxMessages/PriorityMaxBytes", ErrSlowConsumer, q.prio.n, q.pbytes)
			drops = q.failLocked(err, drops)
			q.mu.Unlock()
			return err
		}

		if it.Size > q.opt.MaxBytes {
			q.st.DroppedTooLarge++
			q.mu.Unlock()
			drops = append(drops, drop[T]{it.Value, DroppedTooLarge})
			return ErrTooLarge
		}
		// Coalesce in place.
		if pol == CoalesceByKey && it.Key != "" {
			if seq, ok := q.keys[it.Key]; ok {
				old := q.normal.at(seq)
				// A larger replacement that does not fit evicts from the
				// head, possibly the slot itself (then it is appended).
				retry := false
				for ok && q.nbytes-old.Size+it.Size > q.opt.MaxBytes {
					if retry = q.needLagLocked(); retry {
						break
					}
					d := q.popNormalLocked()
					q.st.DroppedOldest++
					drops = append(drops, drop[T]{d.Value, DroppedOldest})
					seq, ok = q.keys[it.Key]
					old = q.normal.at(seq)
				}
				if retry {
					continue
				}
				if ok {
					drops = append(drops, drop[T]{old.Value, Coalesced})
					q.nbytes += it.Size - old.Size
					it.Enqueued = old.Enqueued
					*old = it
					q.st.Coalesced++
					q.st.Pushed++
					q.signalReadyLocked()
					q.mu.Unlock()
					return nil
				}
			}
		}
		fits := q.normal.n < q.normal.cap() && q.nbytes+it.Size <= q.opt.MaxBytes
		if !fits && q.needLagLocked() {
			continue // OnLagging(true) ran; look again
		}
		if !fits {
			switch pol {
			case DropNewest:
				q.st.DroppedNewest++
				q.mu.Unlock()
				drops = append(drops, drop[T]{it.Value, DroppedNewest})
				return ErrDropped
			case Disconnect:
				err := fmt.Errorf("%w: send queue full (%d messages, %d bytes; policy disconnect)", ErrSlowConsumer, q.normal.n, q.nbytes)
				drops = q.failLocked(err, drops)
				q.mu.Unlock()
				return err
			case Block:
				if timedOut {
					err := fmt.Errorf("%w: producer blocked for %v (policy block); raise BlockTimeout or MaxMessages", ErrSlowConsumer, q.opt.BlockTimeout)
					drops = q.failLocked(err, drops)
					q.mu.Unlock()
					return err
				}
				if !blocked {
					blocked = true
					q.st.Blocked++
					deadline, stopTimer = q.opt.Clock.After(q.opt.BlockTimeout)
				}
				if q.space == nil {
					q.space = make(chan struct{})
				}
				space := q.space
				q.spaceW = true
				q.mu.Unlock()
				select {
				case <-space:
				case <-ctx.Done():
					return ctx.Err()
				case <-deadline:
					// Room may have appeared as the timer fired: look once
					// more before giving up.
					timedOut = true
				}
				q.mu.Lock()
				continue
			default: // DropOldest, CoalesceByKey
				for q.normal.n > 0 && (q.normal.n >= q.normal.cap() || q.nbytes+it.Size > q.opt.MaxBytes) {
					old := q.popNormalLocked()
					q.st.DroppedOldest++
					drops = append(drops, drop[T]{old.Value, DroppedOldest})
				}
			}
		}
		if it.Enqueued.IsZero() {
			it.Enqueued = q.opt.Clock.Now()
		}
		seq := q.normal.push(it)
		if pol == CoalesceByKey && it.Key != "" {
			if q.keys == nil {
				q.keys = make(map[string]uint64)
			}
			q.keys[it.Key] = seq
		}
		q.nbytes += it.Size
		q.st.Pushed++
		if !q.lagging && q.fillLocked(0, 0) >= q.opt.HighWatermark {
			q.lagging = true
		}
		q.signalReadyLocked()
		q.mu.Unlock()
		return nil
	}
}

// PushBatch pushes items in order with the same outcome as calling
// [Queue.Push] for each (policy, drops, watermarks, OnLagging and OnDrop
// calls), but under one lock acquisition, with one clock read and with one
// wakeup of a waiting consumer for the lot: a fan-out that has several
// messages for each of many queues pays per queue rather than per
// message, and the consumer finds them all at once. An item that Push
// would have to wait for, fail the queue on or call OnLagging for first
// (Block, Disconnect, the priority lane, a coalescing key, a first
// OnLagging call) goes through Push itself, in its place in the order.
//
// It returns how many items were queued and, if a push failed the queue
// or found it closed, that error (wrapping ErrSlowConsumer, ErrClosed or
// the failure cause, or ctx.Err() under Block); the items after it are not
// pushed. [ErrDropped] and [ErrTooLarge] for single items are not
// returned: they are counted in Stats and reported to OnDrop. items is not
// retained or modified.
func (q *Queue[T]) PushBatch(ctx context.Context, items []Item[T]) (queued int, err error) {
	var drops []drop[T]
	var now time.Time
	locked, pushed := false, false
	for i := range items {
		it := items[i]
		if it.Size < 0 {
			it.Size = 0
		}
		pol := it.Policy
		if pol == Inherit {
			pol = q.opt.Policy
		}
		if !locked {
			q.mu.Lock()
			locked = true
			// Room for the rest at once, not by doubling item by item
			// (a consumer that went idle released the slots).
			if !q.closed {
				q.normal.reserve(len(items) - i)
			}
		}
		mark := len(drops)
		if handled, ok := q.fastPushLocked(&it, pol, &drops, &now); handled {
			if ok {
				queued++
				pushed = true
			}
			if q.opt.OnLagging != nil && q.lagging != q.reported {
				// Push would tell OnLagging now, after the earlier
				// items' drops and before this one's.
				if pushed {
					q.signalReadyLocked()
					pushed = false
				}
				q.mu.Unlock()
				locked = false
				q.dropped(drops[:mark])
				q.report(drops[mark:])
				drops = drops[:0]
			}
			continue
		}
		// Push handles this one exactly as on its own.
		if pushed {
			q.signalReadyLocked()
			pushed = false
		}
		q.mu.Unlock()
		locked = false
		q.report(drops)
		drops = drops[:0]
		switch err := q.Push(ctx, it); {
		case err == nil:
			queued++
		case errors.Is(err, ErrDropped), errors.Is(err, ErrTooLarge):
		default:
			return queued, err
		}
	}
	if locked {
		if pushed {
			q.signalReadyLocked()
		}
		q.mu.Unlock()
		q.report(drops)
	}
	return queued, nil
}

// fastPushLocked does for it what Push would when that needs no waiting,
// no failing and no OnLagging call first, and reports whether it did
// (handled) and whether it was queued (ok). It does not signal the
// consumer. *now is the batch's clock read, made on first use.
func (q *Queue[T]) fastPushLocked(it *Item[T], pol Policy, drops *[]drop[T], now *time.Time) (handled, ok bool) {
	if q.closed || it.Priority || pol == CoalesceByKey && it.Key != "" {
		return false, false
	}
	if it.Size > q.opt.MaxBytes {
		q.st.DroppedTooLarge++
		*drops = append(*drops, drop[T]{it.Value, DroppedTooLarge})
		return true, false
	}
	if fits := q.normal.n < q.normal.cap() && q.nbytes+it.Size <= q.opt.MaxBytes; !fits {
		if pol == Block || pol == Disconnect || q.opt.OnLagging != nil && !q.reported {
			return false, false
		}
		q.lagging = true // as needLagLocked, with OnLagging already told
		if pol == DropNewest {
			q.st.DroppedNewest++
			*drops = append(*drops, drop[T]{it.Value, DroppedNewest})
			return true, false
		}
		// DropOldest, or CoalesceByKey for an item without a key.
		for q.normal.n > 0 && (q.normal.n >= q.normal.cap() || q.nbytes+it.Size > q.opt.MaxBytes) {
			old := q.popNormalLocked()
			q.st.DroppedOldest++
			*drops = append(*drops, drop[T]{old.Value, DroppedOldest})
		}
	}
	if it.Enqueued.IsZero() {
		if now.IsZero() {
			*now = q.opt.Clock.Now()
		}
		it.Enqueued = *now
	}
	q.normal.push(*it)
	q.nbytes += it.Size
	q.st.Pushed++
	if !q.lagging && q.fillLocked(0, 0) >= q.opt.HighWatermark {
		q.lagging = true
	}
	return true, true
}

// needLagLocked marks the queue lagging and, if OnLagging has not been told
// yet, tells it (dropping and retaking the lock) and returns true so the
// caller re-examines the queue. Called with q.mu held; returns with it held.
func (q *Queue[T]) needLagLocked() bool {
	q.lagging = true
	if q.opt.OnLagging == nil || q.reported {
		return false
	}
	q.mu.Unlock()
	ran := q.notifyLagging()
	q.mu.Lock()
	// If another goroutine is inside OnLagging, it reports this change
	// when it returns; do not spin waiting for it.
	return ran
}

// notifyLagging tells OnLagging about a change of the lagging state. Only
// one goroutine calls OnLagging at a time, and not under a lock: a call
// made while another is running (from another goroutine, or from inside
// OnLagging itself) returns at once, and the running one reports any
// further change when the callback returns. Calls therefore alternate and
// end on the current state, and OnLagging may call the queue.
func (q *Queue[T]) notifyLagging() (ran bool) {
	if q.opt.OnLagging == nil {
		return false
	}
	q.mu.Lock()
	if q.notifying {
		q.mu.Unlock()
		return false
	}
	q.notifying = true
	for q.lagging != q.reported {
		state := q.lagging
		q.reported = state
		q.mu.Unlock()
		q.opt.OnLagging(state)
		q.mu.Lock()
	}
	q.notifying = false
	q.mu.Unlock()
	return true
}

func (q *Queue[T]) report(drops []drop[T]) {
	q.notifyLagging()
	q.dropped(drops)
}

// dropped tells OnDrop about drops.
func (q *Queue[T]) dropped(drops []drop[T]) {
	if q.opt.OnDrop != nil {
		for _, d := range drops {
			q.opt.OnDrop(d.v, d.r)
		}
	}
}

func (q *Queue[T]) closedErrLocked() error {
	if q.err != nil {
		return q.err
	}
	return ErrClosed
}

// Signals allocate a new channel only when someone is waiting, so the
// common push/next path does not allocate.
func (q *Queue[T]) signalReadyLocked() {
	if q.readyW {
		q.readyW = false
		close(q.ready)
		q.ready = nil // the next waiter makes a new one
	}
}

func (q *Queue[T]) signalSpaceLocked() {
	if q.spaceW {
		q.spaceW = false
		close(q.space)
		q.space = nil // the next waiter makes a new one
	}
}

func (q *Queue[T]) popNormalLocked() Item[T] {
	seq := q.normal.head
	it := q.normal.pop()
	q.nbytes -= it.Size
	if it.Key != "" {
		if s, ok := q.keys[it.Key]; ok && s == seq {
			delete(q.keys, it.Key)
		}
	}
	return it
}

// failLocked discards everything, records err and wakes every waiter.
func (q *Queue[T]) failLocked(err error, drops []drop[T]) []drop[T] {
	for q.prio.n > 0 {
		drops = append(drops, drop[T]{q.prio.pop().Value, DroppedOnFailure})
		q.st.Discarded++
	}
	for q.normal.n > 0 {
		drops = append(drops, drop[T]{q.popNormalLocked().Value, DroppedOnFailure})
		q.st.Discarded++
	}
	q.pbytes = 0
	q.err = err
	q.closed = true
	q.st.Failed = true
	q.signalReadyLocked()
	q.signalSpaceLocked()
	q.finishLocked()
	return drops
}

func (q *Queue[T]) finishLocked() {
	if !q.doneOnce {
		q.doneOnce = true
		if q.done != nil {
			close(q.done)
		}
	}
}

// Next returns the next item, priority lane first, waiting until there is
// one. It returns [ErrClosed] once a gracefully closed queue is empty, the
// failure cause at once for a failed queue, and ctx.Err() when ctx is done
// (the queue is unchanged). Meant for one writer goroutine.
func (q *Queue[T]) Next(ctx context.Context) (Item[T], error) {
	for {
		it, ok, ready, err := q.take(true)
		if ok || err != nil {
			return it, err
		}
		select {
		case <-ready:
		case <-ctx.Done():
			var zero Item[T]
			return zero, ctx.Err()
		}
	}
}

// TryNext returns the next item without waiting; ok is false when none is
// queued (or the queue is closed or failed). A writer uses it after Next to
// batch what is already queued into one flush.
func (q *Queue[T]) TryNext() (it Item[T], ok bool) {
	it, ok, _, _ = q.take(false)
	return it, ok
}

// Poll is TryNext that also says why nothing was returned: err is
// [ErrClosed] once a gracefully closed queue is drained, the failure cause
// for a failed queue, and nil while the queue is open and empty. A writer
// that runs only while there is work uses it with [Queue.Ready].
func (q *Queue[T]) Poll() (it Item[T], ok bool, err error) {
	it, ok, _, err = q.take(false)
	return it, ok, err
}

// Release gives back the slots of an empty queue: a consumer that goes
// idle calls it, so an idle connection holds no slots. The next Push
// allocates a small block again and grows it as needed. Next calls it
// before it waits.
func (q *Queue[T]) Release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.normal.release()
	q.prio.release()
}

// ReadyChan returns a channel that is closed when an item arrives or the
// queue closes, for a consumer that waits on other events too; check
// Ready after taking it, since it does not fire for what is already
// queued.
func (q *Queue[T]) ReadyChan() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ready == nil {
		q.ready = make(chan struct{})
	}
	q.readyW = true
	return q.ready
}

// Ready reports whether Poll would return an item or an error, without
// taking anything: a writer that stops when idle checks it after marking
// itself stopped, so a Push that raced with its last Poll is not missed.
func (q *Queue[T]) Ready() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.prio.n > 0 || q.normal.n > 0 || q.closed
}

func (q *Queue[T]) take(wait bool) (it Item[T], ok bool, ready <-chan struct{}, err error) {
	q.mu.Lock()
	switch {
	case q.prio.n > 0:
		it = q.prio.pop()
		q.pbytes -= it.Size
		ok = true
	case q.normal.n > 0:
		it = q.popNormalLocked()
		ok = true
	case q.closed:
		err = q.closedErrLocked()
		q.finishLocked()
	default:
		if wait {
			q.normal.release()
			q.prio.release()
			if q.ready == nil {
				q.ready = make(chan struct{})
			}
			ready = q.ready
			q.readyW = true
		}
	}
	if ok {
		q.st.Delivered++
		q.signalSpaceLocked()
		if q.lagging && q.fillLocked(0, 0) <= q.opt.LowWatermark {
			q.lagging = false
		}
		if q.closed && q.prio.n == 0 && q.normal.n == 0 {
			q.finishLocked()
		}
	}
	lagChange := q.lagging != q.reported
	q.mu.Unlock()
	if lagChange {
		q.notifyLagging()
	}
	return it, ok, ready, err
}

// Close closes the queue gracefully: Push returns [ErrClosed], blocked
// producers give up with ErrClosed, and Next drains what is queued before
// returning ErrClosed. It is idempotent and does not wait for the consumer.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.signalReadyLocked()
	q.signalSpaceLocked()
	if q.prio.n == 0 && q.normal.n == 0 {
		q.finishLocked()
	}
}

// CloseWithError fails the queue with err (ErrClosed if nil): what is
// queued is discarded (reported to OnDrop), and Push and Next return err.
// It is idempotent; after the first Close or CloseWithError the queue's
// cause no longer changes, except that a gracefully closed queue may still
// be failed to discard its remaining items.
func (q *Queue[T]) CloseWithError(err error) {
	if err == nil {
		err = ErrClosed
	}
	var drops []drop[T]
	q.mu.Lock()
	if q.err == nil {
		drops = q.failLocked(err, drops)
	}
	q.mu.Unlock()
	q.report(drops)
}

// Done is closed when the queue has failed, or was closed and drained.
func (q *Queue[T]) Done() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.done == nil {
		q.done = make(chan struct{})
		if q.doneOnce {
			close(q.done)
		}
	}
	return q.done
}

// Err returns the failure cause, ErrClosed after a graceful Close, or nil
// while the queue is open.
func (q *Queue[T]) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		return nil
	}
	return q.closedErrLocked()
}

// Stats returns a snapshot. Cheap: one lock, no allocation.
func (q *Queue[T]) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.st
	s.Depth, s.Bytes = q.normal.n, q.nbytes
	s.PriorityDepth, s.PriorityBytes = q.prio.n, q.pbytes
	s.Lagging = q.lagging
	var oldest time.Time
	if q.normal.n > 0 {
		oldest = q.normal.at(q.normal.head).Enqueued
	}
	if q.prio.n > 0 {
		if p := q.prio.at(q.prio.head).Enqueued; oldest.IsZero() || p.Before(oldest) {
			oldest = p
		}
	}
	if !oldest.IsZero() {
		s.OldestAge = q.opt.Clock.Now().Sub(oldest)
	}
	return s
}

// ring is a FIFO of at most max items addressed by absolute sequence
// numbers, so a coalescing key can point at its item while the head moves.
// Its buffer is allocated on the first push and doubles up to max, so a
// queue costs memory in proportion to what it holds, not to its bound.
type ring[T any] struct {
	buf  []Item[T]
	max  int    // bound on n
	head uint64 // seq of the first item
	n    int
}

// ringMinSlots is the first allocation.
const ringMinSlots = 8

func (r *ring[T]) cap() int { return r.max }

func (r *ring[T]) at(seq uint64) *Item[T] { return &r.buf[seq%uint64(len(r.buf))] }

func (r *ring[T]) push(it Item[T]) uint64 {
	if r.n == len(r.buf) {
		r.grow()
	}
	seq := r.head + uint64(r.n)
	*r.at(seq) = it
	r.n++
	return seq
}

// grow doubles the buffer (up to max), keeping every item at its seq.
func (r *ring[T]) grow() {
	r.resize(min(max(2*len(r.buf), ringMinSlots), r.max))
}

// resize moves the items to a buffer of c slots (c >= n), each at its seq.
func (r *ring[T]) resize(c int) {
	nb := make([]Item[T], c)
	for s := r.head; s < r.head+uint64(r.n); s++ {
		nb[s%uint64(c)] = *r.at(s)
	}
	r.buf = nb
}

// reserve grows the buffer (by doublings, up to max) so that k more items
// fit without growing again.
func (r *ring[T]) reserve(k int) {
	if r.n+k <= len(r.buf) || len(r.buf) >= r.max {
		return
	}
	c := max(len(r.buf), ringMinSlots)
	for c < r.n+k && c < r.max {
		c *= 2
	}
	r.resize(min(c, r.max))
}

// release drops the buffer of an empty ring.
func (r *ring[T]) release() {
	if r.n == 0 {
		r.buf = nil
	}
}

// slots is the allocated capacity, for tests.
func (r *ring[T]) slots() int { return len(r.buf) }

func (r *ring[T]) pop() Item[T] {
	p := r.at(r.head)
	it := *p
	*p = Item[T]{} // release references
	r.head++
	r.n--
	return it
}
