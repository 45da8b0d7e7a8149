package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ClientOptions configures a [Client]. A nil *ClientOptions is valid and
// means all defaults. NewClient copies the struct.
type ClientOptions struct {
	// HTTPClient makes the requests. Its Timeout must be zero (a stream is
	// long-lived). Defaults to a client on http.DefaultTransport.
	HTTPClient *http.Client
	// Header is added to every request (authorization, cookies).
	Header http.Header
	// LastEventID is the ID to resume from on the first connection (sent
	// as Last-Event-ID). Empty starts live.
	LastEventID string
	// Retry is the reconnection delay until the server sets one with a
	// retry field. Defaults to 3s.
	Retry time.Duration
	// MaxBackoff caps the delay, which doubles after each consecutive
	// failed attempt. Defaults to 30s. Every delay is jittered to a random
	// value in [delay/2, delay] so clients do not reconnect in step.
	MaxBackoff time.Duration
	// MaxAttempts is how many consecutive failed connection attempts end
	// the stream with the last error. Zero means never give up.
	MaxAttempts int
	// MaxEventSize bounds one event. Defaults to 1 MiB.
	MaxEventSize int
	// OnConnect, if set, is called with each successful response before
	// its events are read (its Header tells whether events were lost, see
	// HeaderLost). It must not read the body.
	OnConnect func(resp *http.Response)
	// OnError, if set, is told every error that leads to a reconnect: a
	// failed attempt or a broken stream. A stream the server ended
	// properly (as Server.Shutdown does) is reconnected without an error.
	OnError func(err error)
}

// ResponseError is the error for a response that cannot be a stream: a
// status other than 200 or a Content-Type other than text/event-stream.
// 5xx and 429 are retried; other statuses end the stream, as in browsers.
type ResponseError struct {
	StatusCode  int
	ContentType string
}

// Error describes the response.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("sse: response %d with Content-Type %q is not an event stream", e.StatusCode, e.ContentType)
}

// ClientStats is a snapshot of a client's counters.
type ClientStats struct {
	Connects    uint64 // successful connections
	Failures    uint64 // failed attempts and broken streams (not streams the server ended properly)
	Events      uint64 // events received
	LostReports uint64 // responses saying events were lost (HeaderLost)
}

// Client reads an event stream and reconnects when it breaks, resuming
// with Last-Event-ID. Its methods are safe for concurrent use, but one
// [Client.Events] loop at a time should run.
type Client struct {
	url string
	opt ClientOptions

	mu     sync.Mutex // protects lastID and retry
	lastID string
	retry  time.Duration

	connects, failures, events, lost atomic.Uint64
}

// NewClient returns a client for the stream at url. It does not connect;
// [Client.Events] and [Subscribe] do.
func NewClient(url string, opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.HTTPClient.Timeout != 0 {
		return nil, errors.New("sse: HTTPClient.Timeout would cut the stream; set it to 0 and bound the context instead")
	}
	if o.Retry <= 0 {
		o.Retry = 3 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxEventSize <= 0 {
		o.MaxEventSize = 1 << 20
	}
	o.Header = o.Header.Clone()
	if _, err := http.NewRequest(http.MethodGet, url, nil); err != nil {
		return nil, fmt.Errorf("sse: %w", err)
	}
	return &Client{url: url, opt: o, lastID: o.LastEventID, retry: o.Retry}, nil
}

// LastEventID returns the ID the client resumes from on its next
// connection.
func (c *Client) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{Connects: c.connects.Load(), Failures: c.failures.Load(), Events: c.events.Load(), LostReports: c.lost.Load()}
}

// Events connects and yields the stream's events, reconnecting after the
// server's retry delay (with backoff and jitter) when the stream breaks or
// ends, until ctx is done, the loop stops, or the stream cannot go on: a
// 204 No Content ends it quietly; any other error that ends it (a 4xx, a
// wrong Content-Type, MaxAttempts failures) is yielded once, with a zero
// Event, as the last value.
func (c *Client) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		failed := 0
		for ctx.Err() == nil {
			resp, err := c.connect(ctx)
			var wait time.Duration
			if err == nil {
				failed = 0
				stop := false
				err, stop = c.read(resp, yield)
				if stop {
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			var re *ResponseError
			if errors.As(err, &re) {
				switch {
				case re.StatusCode == http.StatusNoContent:
					return
				case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
					wait = retryAfter(resp)
				default:
					yield(Event{}, err)
					return
				}
			}
			if err != nil {
				c.failures.Add(1)
				failed++
				if c.opt.OnError != nil {
					c.opt.OnError(err)
				}
				if c.opt.MaxAttempts > 0 && failed >= c.opt.MaxAttempts {
					yield(Event{}, fmt.Errorf("sse: giving up after %d attempts: %w", failed, err))
					return
				}
			}
			c.mu.Lock()
			d := c.retry
			c.mu.Unlock()
			for i := 1; i < failed && d < c.opt.MaxBackoff; i++ {
				d *= 2
			}
			d = min(d, c.opt.MaxBackoff)
			d = d/2 + rand.N(d/2+1)
			t := time.NewTimer(max(d, wait))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// connect sends the request; a response that is not a stream is closed and
// returned in a *ResponseError (with resp for its headers).
func (c *Client) connect(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range c.opt.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if id := c.LastEventID(); id != "" {
		req.Header.Set("Last-Event-ID", id)
	}
	resp, err := c.opt.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return resp, &ResponseError{StatusCode: resp.StatusCode, ContentType: ct}
	}
	c.connects.Add(1)
	if resp.Header.Get(HeaderLost) == "true" {
		c.lost.Add(1)
	}
	if c.opt.OnConnect != nil {
		c.opt.OnConnect(resp)
	}
	return resp, nil
}

// read yields the events of one response until it ends. stop is true when
// the consumer stopped the loop.
func (c *Client) read(resp *http.Response, yield func(Event, error) bool) (err error, stop bool) {
	defer resp.Body.Close()
	d := NewDecoder(resp.Body, c.opt.MaxEventSize)
	d.lastID = c.LastEventID()
	d.idBuf = d.lastID
	defer func() {
		c.mu.Lock()
		c.lastID = d.LastEventID()
		if r := d.Retry(); r > 0 {
			c.retry = r
		}
		c.mu.Unlock()
	}()
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			// The server ended the response properly (the last chunk, or
			// END_STREAM on HTTP/2), as a graceful shutdown does: reconnect
			// after the retry delay, but it is no failure. A cut
			// connection reads as io.ErrUnexpectedEOF or a network error.
			return nil, false
		}
		if err != nil {
			return err, false
		}
		c.mu.Lock()
		c.lastID = ev.ID
		if ev.Retry > 0 {
			c.retry = ev.Retry
		}
		c.mu.Unlock()
		c.events.Add(1)
		if !yield(ev, nil) {
			return nil, true
		}
	}
}

func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	return 0
}

// Subscription is a running [Client] that delivers events on a channel.
type Subscription struct {
	// C receives the events in order; it is closed when the subscription
	// ends (Close, the context, or a terminal error: see Err).
	C <-chan Event
	// Client is the underlying client (LastEventID, Stats).
	Client *Client

	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

// Subscribe starts a client for url on a goroutine owned by the returned
// Subscription and delivers its events on C (buffered 64; the client waits
// while it is full, so read it). Close ends it.
func Subscribe(ctx context.Context, url string, opts *ClientOptions) (*Subscription, error) {
	c, err := NewClient(url, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan Event, 64)
	s := &Subscription{C: ch, Client: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(ch)
		for ev, err := range c.Events(ctx) {
			if err != nil {
				s.err = err
				return
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s, nil
}

// Err returns the error that ended the subscription, nil while it runs or
// when it was closed or its context ended.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription and waits for its goroutine. Idempotent.
func (s *Subscription) Close() error {
	s.cancel()
	<-s.done
	return nil
}
