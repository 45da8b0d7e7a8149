package wt

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

// dgramOut is a session's bounded outbound datagram queue: newest wins,
// stale datagrams are dropped when their turn comes, and it never blocks
// the caller or the streams.
type dgramOut struct {
	q      *sendq.Queue[[]byte]
	maxAge time.Duration // <0: none
	c      *counters
}

func newDgramOut(o *Options, c *counters) *dgramOut {
	q, err := sendq.New[[]byte](&sendq.Options{
		Policy:      sendq.DropOldest,
		MaxMessages: o.DatagramQueue,
		MaxBytes:    o.DatagramQueue * max(o.MaxDatagramSize, 1),
		OnDrop: func(_ any, why sendq.DropReason) {
			if why == sendq.DroppedOldest {
				c.dgFull.Add(1)
			}
		},
	})
	if err != nil {
		panic(err) // the options are fixed above and valid
	}
	return &dgramOut{q: q, maxAge: o.DatagramMaxAge, c: c}
}

func (d *dgramOut) push(b []byte) error {
	cp := append([]byte(nil), b...)
	if err := d.q.Push(context.Background(), sendq.Item[[]byte]{Value: cp, Size: len(cp)}); err != nil {
		return fmt.Errorf("wt: queue datagram: %w", err)
	}
	return nil
}

// fresh reports whether a dequeued datagram may still be sent, counting
// it as expired otherwise.
func (d *dgramOut) fresh(it sendq.Item[[]byte], now time.Time) bool {
	if d.maxAge >= 0 && now.Sub(it.Enqueued) > d.maxAge {
		d.c.dgExpired.Add(1)
		return false
	}
	return true
}

// dgramOverhead is what one buffered received datagram costs beyond its
// bytes (the slice header in the queue, allocator rounding), so that a
// flood of tiny datagrams is bounded too.
const dgramOverhead = 32

// dgramIn buffers the fallback's received datagrams for ReceiveDatagram,
// bounded in bytes (Options.FallbackDatagramBuffer); past it the oldest
// are dropped and counted. They arrived over TCP, which delivers what it
// held back in a burst after recovering a lost segment, so the bound is
// in bytes and large rather than a small count.
type dgramIn struct {
	mu    sync.Mutex
	q     [][]byte // q[head:] are waiting
	head  int
	bytes int // cost of q[head:]
	max   int
	wake  chan struct{} // one token: something may be waiting
	c     *counters
}

func newDgramIn(maxBytes int, c *counters) *dgramIn {
	return &dgramIn{max: maxBytes, wake: make(chan struct{}, 1), c: c}
}

func dgramCost(b []byte) int { return cap(b) + dgramOverhead }

// put is called by one goroutine (the session's reader). b is owned by
// the queue from here.
func (d *dgramIn) put(b []byte) {
	if cap(b) > 2*len(b)+64 {
		// A small datagram in a large read buffer: keep only its bytes.
		b = bytes.Clone(b)
	}
	n := dgramCost(b)
	d.mu.Lock()
	for d.head < len(d.q) && d.bytes+n > d.max {
		d.bytes -= dgramCost(d.q[d.head])
		d.popLocked()
		d.c.dgFull.Add(1)
	}
	d.q = append(d.q, b) // even one above max: the newest is always kept
	d.bytes += n
	d.mu.Unlock()
	d.signal()
}

func (d *dgramIn) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// popLocked removes q[head], compacting the slice so that it does not
// grow without bound.
func (d *dgramIn) popLocked() []byte {
	b := d.q[d.head]
	d.q[d.head] = nil
	d.head++
	switch {
	case d.head == len(d.q):
		d.q, d.head = d.q[:0], 0
	case d.head >= 256 && d.head*2 >= len(d.q):
		n := copy(d.q, d.q[d.head:])
		clear(d.q[n:])
		d.q, d.head = d.q[:n], 0
	}
	return b
}

func (d *dgramIn) tryGet() ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.head == len(d.q) {
		return nil, false
	}
	b := d.popLocked()
	d.bytes -= dgramCost(b)
	if d.head < len(d.q) {
		d.signal() // for another waiting reader
	}
	return b, true
}

func (d *dgramIn) get(ctx context.Context, done <-chan struct{}, cause func() error) ([]byte, error) {
	for {
		if b, ok := d.tryGet(); ok {
			d.c.dgRecv.Add(1)
			return b, nil
		}
		select {
		case <-d.wake:
		case <-ctx.Done():
			select {
			case <-done: // the session's own context: say why it ended
				return nil, cause()
			default:
			}
			return nil, ctx.Err()
		case <-done:
			return nil, cause()
		}
	}
}
