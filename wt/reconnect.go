package wt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ClientOptions configures a [Client]. A nil *ClientOptions is valid and
// means all defaults; it is copied, never changed.
type ClientOptions struct {
	// Dial configures every attempt (transport choice, TLS, session
	// options). Nil means the defaults of [DialOptions]. When its Broken
	// is nil the Client uses a [BrokenCache] of its own with the default
	// backoffs, so that with WebTransport broken (UDP blocked) only the
	// first attempt, and one per backoff, waits for WebTransport.
	Dial *DialOptions
	// DialTimeout bounds one attempt, the WebTransport try and the
	// fallback together. Defaults to 10s; negative is an error.
	DialTimeout time.Duration
	// MinBackoff is the first reconnect delay's upper bound. Defaults to
	// 100ms; negative is an error.
	MinBackoff time.Duration
	// MaxBackoff caps the delay's upper bound, which doubles per failed
	// attempt; each delay is uniformly random below it ("full jitter", so
	// clients dropped together do not return together). An attempt the
	// server refused with a Retry-After ([RefusedError]) waits at least
	// that long, but no longer than MaxBackoff. Defaults to 30s; negative
	// is an error.
	MaxBackoff time.Duration
	// OnError, if set, is told on the client's goroutine what went wrong
	// without a caller to return it to: a failed attempt and a handler
	// that panicked. Its own panics are recovered.
	OnError func(error)
}

// ClientStats is a snapshot of a Client's counters.
type ClientStats struct {
	// Sessions counts sessions opened, by transport.
	WebTransport, WebSocket int64
	// WebTransportSkipped counts attempts that went straight to the
	// fallback because WebTransport failed recently (see [BrokenCache]).
	WebTransportSkipped int64
	// Failures counts attempts that got no session.
	Failures int64
	// HandlerPanics counts handler runs that panicked or called
	// runtime.Goexit.
	HandlerPanics int64
	// Connected reports a session open now.
	Connected bool
}

// Client keeps a session open to a Server for a Go service: it dials
// (WebTransport first, then the fallback, as [Dial]), runs the handler for
// the session and, when the session ends, dials again after a backoff. A
// session that ends with a close code the server chose does not slow the
// next attempt; failed attempts double the backoff. It owns one
// goroutine, which Close joins.
type Client struct {
	url     string
	h       Handler
	o       ClientOptions
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex // protects sess
	sess    Session
	wt, ws  atomic.Int64
	skipped atomic.Int64
	fails   atomic.Int64
	panics  atomic.Int64
	current atomic.Bool
}

// ErrClientClosed is returned by Client.Close after the first call.
var ErrClientClosed = errors.New("wt: client closed")

// NewClient starts a Client for url running h for each session. It
// returns at once; the first session is dialled in the background.
func NewClient(url string, h Handler, opts *ClientOptions) (*Client, error) {
	if h == nil {
		return nil, errors.New("wt: NewClient needs a handler")
	}
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"DialTimeout", &o.DialTimeout, 10 * time.Second}, {"MinBackoff", &o.MinBackoff, 100 * time.Millisecond}, {"MaxBackoff", &o.MaxBackoff, 30 * time.Second}} {
		if *f.v < 0 {
			return nil, fmt.Errorf("wt: ClientOptions.%s is negative (%v); use 0 for the default", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	var d DialOptions
	if o.Dial != nil {
		d = *o.Dial
	}
	o.Dial = &d
	if d.Broken == nil {
		d.Broken, _ = NewBrokenCache(nil) // the defaults are valid
	}
	if _, err := o.Dial.sessionOptions(); err != nil {
		return nil, err
	}
	c := &Client{url: url, h: h, o: o, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	return c, nil
}

func (o *DialOptions) sessionOptions() (Options, error) {
	if o == nil {
		return (*Options)(nil).resolve()
	}
	return o.Session.resolve()
}

func (c *Client) run() {
	defer close(c.done)
	backoff := c.o.MinBackoff
	for c.ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(c.ctx, c.o.DialTimeout)
		s, info, err := Dial(dctx, c.url, c.o.Dial)
		cancel()
		if info.FallbackReason == FallbackBroken {
			c.skipped.Add(1)
		}
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.fails.Add(1)
			c.report(err)
			var re *RefusedError
			if errors.As(err, &re) && re.RetryAfter > 0 {
				// At least the server's Retry-After, at most MaxBackoff,
				// jittered above it so that refused clients spread out.
				wait := min(re.RetryAfter, c.o.MaxBackoff)
				if !c.sleepAtLeast(wait, min(backoff, c.o.MaxBackoff-wait)) {
					return
				}
			} else if !c.sleep(backoff) {
				return
			}
			backoff = min(backoff*2, c.o.MaxBackoff)
			continue
		}
		backoff = c.o.MinBackoff
		if info.Transport == TransportWebTransport {
			c.wt.Add(1)
		} else {
			c.ws.Add(1)
		}
		c.serve(s)
		if !c.sleep(backoff) {
			return
		}
	}
}

// serve runs the handler for one session and closes it.
func (c *Client) serve(s Session) {
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		_ = s.Close(CodeNormal, "client closing")
		return
	}
	c.sess = s
	c.current.Store(true)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sess = nil
		c.current.Store(false)
		c.mu.Unlock()
	}()
	ok := false
	func() {
		defer func() {
			if !ok {
				recover()
			}
		}()
		c.h(s.Context(), s)
		ok = true
	}()
	if !ok {
		c.panics.Add(1)
		c.report(errors.New("wt: client handler panicked or called runtime.Goexit"))
		_ = s.Close(CodeInternalError, "handler failed")
		return
	}
	_ = s.Close(CodeNormal, "")
}

func (c *Client) report(err error) {
	if c.o.OnError == nil {
		return
	}
	defer func() { _ = recover() }() // its own panics are recovered, as documented
	c.o.OnError(err)
}

// sleep waits a random time below d; false when the client closed.
func (c *Client) sleep(d time.Duration) bool { return c.sleepAtLeast(0, d) }

// sleepAtLeast waits least plus a random time below jitter; false when the
// client closed.
func (c *Client) sleepAtLeast(least, jitter time.Duration) bool {
	d := least + 1
	if jitter > 0 {
		d += rand.N(jitter)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		WebTransport:        c.wt.Load(),
		WebSocket:           c.ws.Load(),
		WebTransportSkipped: c.skipped.Load(),
		Failures:            c.fails.Load(),
		HandlerPanics:       c.panics.Load(),
		Connected:           c.current.Load(),
	}
}

// Close stops reconnecting, closes the current session (CodeNormal,
// "client closing") and waits for the handler and the goroutine.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		<-c.done
		return ErrClientClosed
	}
	c.cancel()
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		_ = s.Close(CodeNormal, "client closing")
	}
	<-c.done
	return nil
}
