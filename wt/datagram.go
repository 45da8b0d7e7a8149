package wt

import (
	"context"
	"fmt"
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

// dgramIn buffers received datagrams for ReceiveDatagram; when full the
// oldest is dropped.
type dgramIn struct {
	ch chan []byte
	c  *counters
}

func newDgramIn(n int, c *counters) *dgramIn { return &dgramIn{ch: make(chan []byte, n), c: c} }

// put is called by one goroutine (the session's reader).
func (d *dgramIn) put(b []byte) {
	for {
		select {
		case d.ch <- b:
			return
		default:
		}
		select {
		case <-d.ch:
			d.c.dgFull.Add(1)
		default:
		}
	}
}

func (d *dgramIn) get(ctx context.Context, done <-chan struct{}, cause func() error) ([]byte, error) {
	select {
	case b := <-d.ch:
		d.c.dgRecv.Add(1)
		return b, nil
	default:
	}
	select {
	case b := <-d.ch:
		d.c.dgRecv.Add(1)
		return b, nil
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
