// Package history is the bounded, cursor-read message log behind each topic
// of the pubsub brokers: publishers append without ever waiting, each
// subscriber reads at its own cursor, and one that falls behind the log's
// bounds is told how much it missed.
package history

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ID is a parsed "<ms>-<seq>" message ID.
type ID struct{ MS, Seq uint64 }

// ParseID parses "<ms>-<seq>" or "<ms>" (seq 0), the Redis Streams format.
func ParseID(s string) (ID, bool) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return ID{}, false
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return ID{}, false
		}
	}
	return ID{ms, seq}, true
}

// String formats the ID as "<ms>-<seq>".
func (id ID) String() string {
	b := make([]byte, 0, 24)
	b = strconv.AppendUint(b, id.MS, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, id.Seq, 10)
	return string(b)
}

// Compare returns -1, 0 or +1.
func (id ID) Compare(o ID) int {
	switch {
	case id.MS < o.MS:
		return -1
	case id.MS > o.MS:
		return 1
	case id.Seq < o.Seq:
		return -1
	case id.Seq > o.Seq:
		return 1
	}
	return 0
}

// Entry is one logged message.
type Entry struct {
	ID    ID
	IDStr string // ID formatted once for every subscriber
	Data  []byte
	Time  time.Time
}

// ErrClosed is returned by Cursor.Next after Log.Close.
var ErrClosed = errors.New("history: closed")

// Limits bound a log; zero fields are unbounded except MaxMessages, which
// must be positive.
type Limits struct {
	MaxMessages int
	MaxBytes    int
	MaxAge      time.Duration
}

// Log is one topic's retained messages. Safe for concurrent use.
type Log struct {
	lim Limits
	now func() time.Time

	mu       sync.Mutex // protects everything below
	buf      []Entry
	head     uint64 // absolute index of the oldest retained entry
	n        int
	bytes    int
	floor    ID // every message at or below floor that was ever logged may be gone
	subs     int
	closed   bool
	sig      chan struct{} // closed and replaced on append when waiters
	sigW     bool
	appended uint64
	evicted  uint64
}

// New returns an empty log whose floor is floor: subscribers from an ID
// below it are told they may have lost messages. The ring grows as
// messages arrive (up to lim.MaxMessages), so a log that only has
// subscribers costs no buffer.
func New(lim Limits, now func() time.Time, floor ID) *Log {
	return &Log{lim: lim, now: now, floor: floor, sig: make(chan struct{})}
}

func (l *Log) at(i uint64) *Entry { return &l.buf[i%uint64(len(l.buf))] }

// growLocked makes room for one more entry below MaxMessages, doubling the
// ring (from 8) and re-laying the retained entries by absolute index.
func (l *Log) growLocked() {
	if l.n < len(l.buf) || len(l.buf) >= l.lim.MaxMessages {
		return
	}
	size := min(max(2*len(l.buf), 8), l.lim.MaxMessages)
	buf := make([]Entry, size)
	for i := l.head; i < l.head+uint64(l.n); i++ {
		buf[i%uint64(size)] = *l.at(i)
	}
	l.buf = buf
}

func (l *Log) evictLocked() {
	e := l.at(l.head)
	if e.ID.Compare(l.floor) > 0 {
		l.floor = e.ID
	}
	l.bytes -= len(e.Data)
	*e = Entry{}
	l.head++
	l.n--
	l.evicted++
}

// pruneLocked drops entries older than MaxAge.
func (l *Log) pruneLocked() {
	if l.lim.MaxAge <= 0 {
		return
	}
	cut := l.now().Add(-l.lim.MaxAge)
	for l.n > 0 && l.at(l.head).Time.Before(cut) {
		l.evictLocked()
	}
}

// Append logs e (its ID must be greater than every logged ID) and wakes
// waiting cursors. It never waits. Appending to a closed log is a no-op.
func (l *Log) Append(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.pruneLocked()
	l.growLocked()
	for l.n > 0 && (l.n >= len(l.buf) || (l.lim.MaxBytes > 0 && l.bytes+len(e.Data) > l.lim.MaxBytes)) {
		l.evictLocked()
	}
	*l.at(l.head + uint64(l.n)) = e
	l.n++
	l.bytes += len(e.Data)
	l.appended++
	if l.sigW {
		l.sigW = false
		close(l.sig)
		l.sig = make(chan struct{})
	}
}

// Prune drops expired entries and reports whether the log is empty with no
// cursors, so its owner may forget it; it returns the floor to carry on.
// An empty log gives its ring back.
func (l *Log) Prune() (idle bool, last ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked()
	if l.n == 0 {
		l.buf = nil
	}
	return l.n == 0 && l.subs == 0, l.floor
}

// Last returns the ID of the newest entry, or the floor when empty.
func (l *Log) Last() ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return l.floor
	}
	return l.at(l.head + uint64(l.n) - 1).ID
}

// Stats returns retained messages and bytes, appended and evicted totals.
func (l *Log) Stats() (msgs, bytes int, appended, evicted uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.bytes, l.appended, l.evicted
}

// Close wakes every cursor; Next then returns ErrClosed.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.sig)
	}
}

// Cursor reads a log. Not safe for concurrent Next calls; Close may be
// called from any goroutine.
type Cursor struct {
	l      *Log
	next   uint64
	closed chan struct{}
	once   sync.Once
}

// Subscribe returns a cursor positioned after from (or at the end when
// live is true) and whether from is below the log's floor (messages after
// it may have been discarded).
func (l *Log) Subscribe(from ID, live bool) (*Cursor, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked()
	c := &Cursor{l: l, closed: make(chan struct{})}
	l.subs++
	end := l.head + uint64(l.n)
	if live {
		c.next = end
		return c, false
	}
	// Binary search for the first entry with ID > from.
	lo, hi := l.head, end
	for lo < hi {
		mid := lo + (hi-lo)/2
		if l.at(mid).ID.Compare(from) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	c.next = lo
	return c, from.Compare(l.floor) < 0
}

// LagError reports that a cursor fell behind the log's bounds.
type LagError struct{ Missed uint64 }

func (e *LagError) Error() string { return "history: lagged" }

// Next returns the next entry, waiting for one. A cursor whose next entry
// was evicted gets a *LagError with the number missed and is moved to the
// oldest retained entry.
func (c *Cursor) Next(ctx context.Context) (Entry, error) {
	l := c.l
	for {
		l.mu.Lock()
		select {
		case <-c.closed:
			l.mu.Unlock()
			return Entry{}, ErrClosed
		default:
		}
		l.pruneLocked()
		if c.next < l.head {
			missed := l.head - c.next
			c.next = l.head
			l.mu.Unlock()
			return Entry{}, &LagError{Missed: missed}
		}
		if c.next < l.head+uint64(l.n) {
			e := *l.at(c.next)
			c.next++
			l.mu.Unlock()
			return e, nil
		}
		if l.closed {
			l.mu.Unlock()
			return Entry{}, ErrClosed
		}
		l.sigW = true
		sig := l.sig
		l.mu.Unlock()
		select {
		case <-sig:
		case <-c.closed:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		}
	}
}

// Close detaches the cursor; a Next in progress returns ErrClosed. It is
// idempotent.
func (c *Cursor) Close() {
	c.once.Do(func() {
		close(c.closed)
		c.l.mu.Lock()
		c.l.subs--
		c.l.mu.Unlock()
	})
}
