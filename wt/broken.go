package wt

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// FallbackBroken is DialInfo.FallbackReason (and the FallbackParam sent to
// the server) for a dial that did not try WebTransport because a
// [BrokenCache] remembers it failing for this origin.
const FallbackBroken = "webtransport-broken"

// maxBrokenOrigins bounds a BrokenCache; past it, expired entries and
// then the soonest to expire are forgotten.
const maxBrokenOrigins = 1024

// BrokenOptions configures a [BrokenCache]. A nil *BrokenOptions is valid
// and means all defaults (those of httpx's HTTP/3 racing); it is copied.
type BrokenOptions struct {
	// Backoff is how long dials to an origin skip WebTransport after its
	// attempt failed or timed out; each further failure after a backoff
	// doubles it. Defaults to 5m; negative is an error.
	Backoff time.Duration
	// MaxBackoff caps the doubling. Defaults to 48h; negative, or less
	// than Backoff, is an error.
	MaxBackoff time.Duration
}

// BrokenStats is a snapshot of a BrokenCache's counters.
type BrokenStats struct {
	// Marks counts WebTransport failures that started a backoff.
	Marks int64
	// Skips counts dials that went straight to the fallback.
	Skips int64
	// Origins is how many origins the cache remembers now (at most 1024).
	Origins int
}

// BrokenCache remembers the origins (host:port) whose WebTransport attempt
// failed or timed out, so that dials sharing it ([DialOptions.Broken], a
// [Client]) go straight to the WebSocket fallback for a backoff instead of
// paying DialOptions.WebTransportTimeout each time (UDP blocked on the
// path shows up only as that timeout). After the backoff WebTransport is
// tried again; a success forgets the origin. A refusal with 503 or a
// Retry-After ([RefusedError]) is the server's limits, not a broken path,
// and is not remembered. It remembers at most 1024 origins. Safe for
// concurrent use.
type BrokenCache struct {
	o            BrokenOptions
	now          func() time.Time // for tests
	mu           sync.Mutex
	m            map[string]*brokenOrigin
	marks, skips atomic.Int64
}

type brokenOrigin struct {
	until    time.Time
	failures int // backoffs so far, for the doubling
}

// NewBrokenCache returns an empty BrokenCache.
func NewBrokenCache(opts *BrokenOptions) (*BrokenCache, error) {
	var o BrokenOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Backoff < 0:
		return nil, fmt.Errorf("wt: BrokenOptions.Backoff is negative (%v); use 0 for the default", o.Backoff)
	case o.MaxBackoff < 0:
		return nil, fmt.Errorf("wt: BrokenOptions.MaxBackoff is negative (%v); use 0 for the default", o.MaxBackoff)
	}
	if o.Backoff == 0 {
		o.Backoff = 5 * time.Minute
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(48*time.Hour, o.Backoff)
	}
	if o.MaxBackoff < o.Backoff {
		return nil, fmt.Errorf("wt: BrokenOptions.MaxBackoff %v is below Backoff %v; raise it", o.MaxBackoff, o.Backoff)
	}
	return &BrokenCache{o: o, now: time.Now, m: make(map[string]*brokenOrigin)}, nil
}

// skip reports whether WebTransport to origin is in its backoff, counting
// the skip.
func (b *BrokenCache) skip(origin string) bool {
	b.mu.Lock()
	e := b.m[origin]
	broken := e != nil && b.now().Before(e.until)
	b.mu.Unlock()
	if broken {
		b.skips.Add(1)
	}
	return broken
}

// failed records a failed WebTransport attempt to origin, unless err is
// the server's refusal rather than a broken path.
func (b *BrokenCache) failed(origin string, err error) {
	var re *RefusedError
	if errors.As(err, &re) && (re.StatusCode == http.StatusServiceUnavailable || re.RetryAfter > 0) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	e := b.m[origin]
	if e == nil {
		if len(b.m) >= maxBrokenOrigins {
			b.evictLocked(now)
		}
		e = &brokenOrigin{}
		b.m[origin] = e
	} else if now.Before(e.until) {
		return // a concurrent dial already marked it
	}
	d := b.o.Backoff
	for i := 0; i < e.failures && d < b.o.MaxBackoff; i++ {
		d *= 2
	}
	e.until = now.Add(min(d, b.o.MaxBackoff))
	e.failures++
	b.marks.Add(1)
}

// evictLocked forgets the expired origins, or else the soonest to expire.
func (b *BrokenCache) evictLocked(now time.Time) {
	var soonest string
	for k, e := range b.m {
		if !now.Before(e.until) {
			delete(b.m, k)
		} else if soonest == "" || e.until.Before(b.m[soonest].until) {
			soonest = k
		}
	}
	if len(b.m) >= maxBrokenOrigins {
		delete(b.m, soonest)
	}
}

// worked forgets origin after a WebTransport session.
func (b *BrokenCache) worked(origin string) {
	b.mu.Lock()
	delete(b.m, origin)
	b.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (b *BrokenCache) Stats() BrokenStats {
	b.mu.Lock()
	n := len(b.m)
	b.mu.Unlock()
	return BrokenStats{Marks: b.marks.Load(), Skips: b.skips.Load(), Origins: n}
}
