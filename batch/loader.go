package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [LoaderOptions].
const (
	// DefaultWait is the default of LoaderOptions.Wait.
	DefaultWait = 2 * time.Millisecond
	// DefaultMaxBatch is the default of LoaderOptions.MaxBatch.
	DefaultMaxBatch = 100
	// DefaultTimeout is the default of LoaderOptions.Timeout.
	DefaultTimeout = 10 * time.Second
)

// LoaderOptions configure a [Loader] or a [ScopedLoader]. Nil options are
// valid and mean the defaults; the constructor copies them.
type LoaderOptions struct {
	// Wait is how long a batch collects keys after its first key before it
	// is fetched. Zero: [DefaultWait] (2ms). Negative: no delay, so a batch
	// holds only the keys that arrive before the fetch goroutine runs.
	Wait time.Duration

	// MaxBatch is the most keys in one batch; a batch that fills up is
	// fetched at once, without waiting out Wait. Zero: [DefaultMaxBatch]
	// (100). Negative: no limit.
	MaxBatch int

	// Timeout bounds each fetch: the fetch's context ends this long after
	// the batch was dispatched. Zero: [DefaultTimeout] (10s). Negative: no
	// timeout.
	Timeout time.Duration

	// Context is the parent of every fetch's context. Its values (a
	// database handle, a logger) reach the fetch function; cancelling it
	// cancels fetches. Nil: context.Background(). A caller's context never
	// reaches the fetch function: batches mix callers.
	Context context.Context

	// Cache keeps every key's result for the loader's lifetime, so a key
	// is fetched at most once: the DataLoader per-request cache. Use it
	// with a loader made per request (or per unit of work); a long-lived
	// loader with Cache grows without bound and serves stale data. As in
	// DataLoader, a key's own error (such as [ErrNotFound]) is cached like
	// a value, while failures that may be transient are not: an error for
	// the whole batch, a panic or runtime.Goexit, a broken contract
	// ([ErrBadFetch]) and context errors. False: results are shared only
	// by the callers that asked for the key while it was pending or being
	// fetched.
	Cache bool
}

func (o *LoaderOptions) withDefaults() LoaderOptions {
	var c LoaderOptions
	if o != nil {
		c = *o
	}
	if c.Wait == 0 {
		c.Wait = DefaultWait
	} else if c.Wait < 0 {
		c.Wait = 0
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Context == nil {
		c.Context = context.Background()
	}
	return c
}

// FetchFunc loads the values of distinct keys in one call to the backend.
//
// It returns values aligned with keys (values[i] is the value of keys[i])
// and either nil errors, errors aligned with keys (errs[i] is keys[i]'s
// error, [ErrNotFound] for a missing key), or one error for the whole
// batch (in a batch of one key, that is the key's own error). Any other length is reported to every caller of the batch as an
// error wrapping [ErrBadFetch], never as a misaligned value or a panic.
// [MapFetch] adapts a function that returns a map instead.
//
// ctx is the loader's (see LoaderOptions.Context and Timeout), never a
// caller's. The function may be called concurrently for different batches.
type FetchFunc[K comparable, V any] func(ctx context.Context, keys []K) (values []V, errs []error)

// ScopedFetchFunc is a [FetchFunc] that also gets the scope its keys belong
// to: every key of a batch has the same scope.
type ScopedFetchFunc[S, K comparable, V any] func(ctx context.Context, scope S, keys []K) (values []V, errs []error)

// KeyErrors is an error a [MapFetch] function returns to fail some keys and
// not others. Keys absent from it and from the value map get [ErrNotFound].
type KeyErrors[K comparable] map[K]error

// Error lists how many keys failed and one of the errors.
func (e KeyErrors[K]) Error() string {
	for k, err := range e {
		return fmt.Sprintf("batch: %d keys failed, e.g. %v: %v", len(e), k, err)
	}
	return "batch: no keys failed"
}

// MapFetch adapts a function that returns a map of the values it found into
// a [FetchFunc]. A key missing from the map gets [ErrNotFound]; an error of
// type [KeyErrors] fails the keys it names; any other error fails every key
// as a failure of the whole batch, which LoaderOptions.Cache never keeps.
func MapFetch[K comparable, V any](fetch func(ctx context.Context, keys []K) (map[K]V, error)) FetchFunc[K, V] {
	return func(ctx context.Context, keys []K) ([]V, []error) {
		found, err := fetch(ctx, keys)
		var keyErrs KeyErrors[K]
		if err != nil && !errors.As(err, &keyErrs) {
			return nil, []error{batchFailure{err}}
		}
		values := make([]V, len(keys))
		var errs []error
		for i, k := range keys {
			if kerr, ok := keyErrs[k]; ok && kerr != nil {
				errs = setErr(errs, len(keys), i, kerr)
				continue
			}
			v, ok := found[k]
			if !ok {
				errs = setErr(errs, len(keys), i, ErrNotFound)
				continue
			}
			values[i] = v
		}
		return values, errs
	}
}

// batchFailure marks the error of a whole batch in a one-element error
// slice, so it is not mistaken for the error of a batch's only key (which
// the cache would keep).
type batchFailure struct{ err error }

func (f batchFailure) Error() string { return f.err.Error() }
func (f batchFailure) Unwrap() error { return f.err }

func setErr(errs []error, n, i int, err error) []error {
	if errs == nil {
		errs = make([]error, n)
	}
	errs[i] = err
	return errs
}

// LoaderStats is a snapshot of a loader's counters and gauges.
type LoaderStats struct {
	// Loads counts keys asked for (Load, LoadThunk, each key of LoadMany).
	Loads uint64 `json:"loads"`
	// Hits counts loads answered without adding a key to a batch: from the
	// cache, or by joining the same key pending or being fetched.
	Hits uint64 `json:"hits"`
	// Batches counts calls of the fetch function.
	Batches uint64 `json:"batches"`
	// FullBatches counts batches dispatched because they reached MaxBatch.
	FullBatches uint64 `json:"full_batches"`
	// Keys counts keys fetched.
	Keys uint64 `json:"keys"`
	// Panics counts fetches that panicked or called runtime.Goexit.
	Panics uint64 `json:"panics"`
	// Pending is the number of keys waiting for their batch to be
	// dispatched now.
	Pending int `json:"pending"`
	// InFlight is the number of fetches running now.
	InFlight int `json:"in_flight"`
}

// Loader batches the keys that callers ask for within a short window into
// one call of a fetch function, the DataLoader pattern: N resolvers asking
// for N users make one query. Duplicate keys in a window are fetched once;
// each caller gets its key's value or error.
//
// The fetch runs under the loader's own context (LoaderOptions.Context,
// bounded by Timeout), never under the context of the caller that happened
// to come first, so one caller's cancellation, deadline or credentials never
// reach a batch shared with others. A caller's context only bounds its own
// wait. When batches must not mix callers (per-tenant credentials), use a
// [ScopedLoader].
//
// A Loader is safe for concurrent use. Make one with [NewLoader]; [Close]
// waits for the fetches it started.
type Loader[K comparable, V any] struct {
	core core[struct{}, K, V]
}

// NewLoader returns a loader that fetches with fetch. Nil options are the
// defaults.
func NewLoader[K comparable, V any](fetch FetchFunc[K, V], opts *LoaderOptions) (*Loader[K, V], error) {
	if fetch == nil {
		return nil, errors.New("batch: NewLoader: fetch function is nil")
	}
	l := &Loader[K, V]{}
	l.core.init(func(ctx context.Context, _ struct{}, keys []K) ([]V, []error) {
		return fetch(ctx, keys)
	}, opts)
	return l, nil
}

// Load returns the value of key, fetched in a batch with the keys other
// callers ask for within the window. ctx bounds only this caller's wait: when
// it ends, Load returns ctx.Err() and the batch goes on for the others.
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, error) {
	b, pos, err := l.core.enqueue(ctx, struct{}{}, key)
	if err != nil {
		var zero V
		return zero, err
	}
	return b.wait(ctx, pos)
}

// LoadThunk adds key to the current batch and returns a function that waits
// for its value (bounded by ctx), so one goroutine can ask for many keys
// before waiting for any. The function may be called more than once.
func (l *Loader[K, V]) LoadThunk(ctx context.Context, key K) func() (V, error) {
	return l.core.thunk(ctx, struct{}{}, key)
}

// LoadMany returns the values of keys, aligned with them. errs is nil when
// every key succeeded, else aligned with keys.
func (l *Loader[K, V]) LoadMany(ctx context.Context, keys []K) (values []V, errs []error) {
	return l.core.loadMany(ctx, struct{}{}, keys)
}

// Prime stores value for key as if it had been fetched, unless key is
// already cached, pending or being fetched; it reports whether it stored
// it. It does nothing and returns false without LoaderOptions.Cache.
func (l *Loader[K, V]) Prime(key K, value V) bool {
	return l.core.prime(struct{}{}, key, value)
}

// Clear drops key from the cache, so the next Load fetches it again. Callers
// already waiting for a fetch of key still get its result.
func (l *Loader[K, V]) Clear(key K) {
	l.core.clear(struct{}{}, key)
}

// Stats returns a snapshot of the loader's counters. Safe for concurrent
// use.
func (l *Loader[K, V]) Stats() LoaderStats {
	return l.core.statsSnapshot()
}

// Close stops the loader: later loads return [ErrClosed], a batch still
// collecting keys is dispatched at once, and Close waits until every fetch
// the loader started has returned (each is bounded by Timeout). Close is
// idempotent and safe to call concurrently; every call waits.
func (l *Loader[K, V]) Close() {
	l.core.close()
}

// ScopedLoader is a [Loader] whose batches are partitioned by a scope: a
// tenant, a user, a set of credentials. Keys of different scopes never share
// a batch, a cache entry or a fetch call, and the fetch function gets the
// scope so it can use that scope's credentials. Scopes cost nothing while
// idle: a scope's state exists only while it has keys pending, being fetched
// or (with LoaderOptions.Cache) cached.
//
// A ScopedLoader is safe for concurrent use. Make one with
// [NewScopedLoader].
type ScopedLoader[S, K comparable, V any] struct {
	core core[S, K, V]
}

// NewScopedLoader returns a scoped loader that fetches with fetch. Nil
// options are the defaults.
func NewScopedLoader[S, K comparable, V any](fetch ScopedFetchFunc[S, K, V], opts *LoaderOptions) (*ScopedLoader[S, K, V], error) {
	if fetch == nil {
		return nil, errors.New("batch: NewScopedLoader: fetch function is nil")
	}
	l := &ScopedLoader[S, K, V]{}
	l.core.init(fetch, opts)
	return l, nil
}

// Load is [Loader.Load] within scope.
func (l *ScopedLoader[S, K, V]) Load(ctx context.Context, scope S, key K) (V, error) {
	b, pos, err := l.core.enqueue(ctx, scope, key)
	if err != nil {
		var zero V
		return zero, err
	}
	return b.wait(ctx, pos)
}

// LoadThunk is [Loader.LoadThunk] within scope.
func (l *ScopedLoader[S, K, V]) LoadThunk(ctx context.Context, scope S, key K) func() (V, error) {
	return l.core.thunk(ctx, scope, key)
}

// LoadMany is [Loader.LoadMany] within scope.
func (l *ScopedLoader[S, K, V]) LoadMany(ctx context.Context, scope S, keys []K) (values []V, errs []error) {
	return l.core.loadMany(ctx, scope, keys)
}

// Prime is [Loader.Prime] within scope.
func (l *ScopedLoader[S, K, V]) Prime(scope S, key K, value V) bool {
	return l.core.prime(scope, key, value)
}

// Clear is [Loader.Clear] within scope.
func (l *ScopedLoader[S, K, V]) Clear(scope S, key K) {
	l.core.clear(scope, key)
}

// Stats is [Loader.Stats], summed over scopes.
func (l *ScopedLoader[S, K, V]) Stats() LoaderStats {
	return l.core.statsSnapshot()
}

// Close is [Loader.Close].
func (l *ScopedLoader[S, K, V]) Close() {
	l.core.close()
}

// core is the loader shared by Loader (with one empty scope) and
// ScopedLoader.
type core[S, K comparable, V any] struct {
	fetch ScopedFetchFunc[S, K, V]
	opts  LoaderOptions

	mu         sync.Mutex                         // protects everything below
	first      *loaderBatch[S, K, V]              // a batch still collecting keys, or nil
	collecting map[S]*loaderBatch[S, K, V]        // the other collecting batches, one per scope; lazily made
	entries    map[scopedKey[S, K]]entry[S, K, V] // keys pending, being fetched, or cached
	closed     bool
	stats      LoaderStats

	wg sync.WaitGroup // armed timers and running fetches
}

type scopedKey[S, K comparable] struct {
	scope S
	key   K
}

// entry locates a key's result: position pos of batch b.
type entry[S, K comparable, V any] struct {
	b   *loaderBatch[S, K, V]
	pos int
}

// loaderBatch is the keys of one fetch and, once done is closed, the result.
type loaderBatch[S, K comparable, V any] struct {
	scope      S
	keys       []K
	timer      *time.Timer
	dispatched bool // protected by core.mu

	// Written before ready is set and done is closed, read after.
	ready atomic.Bool // the results are in: lets cache hits skip the channel
	done  chan struct{}
	vals  []V
	errs  []error // nil or one per key
	err   error   // the whole batch's error
}

func (c *core[S, K, V]) init(fetch ScopedFetchFunc[S, K, V], opts *LoaderOptions) {
	c.fetch = fetch
	c.opts = opts.withDefaults()
	// Room for one full batch (up to 128 keys) up front: growing the map
	// while a batch collects keys costs more than the memory.
	c.entries = make(map[scopedKey[S, K]]entry[S, K, V], max(0, min(c.opts.MaxBatch, 128)))
}

// enqueue finds key's pending, running or cached result, or adds key to the
// scope's collecting batch.
func (c *core[S, K, V]) enqueue(ctx context.Context, scope S, key K) (*loaderBatch[S, K, V], int, error) {
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
	}
	sk := scopedKey[S, K]{scope, key}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, 0, ErrClosed
	}
	c.stats.Loads++
	if e, ok := c.entries[sk]; ok {
		c.stats.Hits++
		c.mu.Unlock()
		return e.b, e.pos, nil
	}
	b := c.first
	if b == nil || b.scope != scope {
		if b = c.collecting[scope]; b == nil {
			b = c.newBatchLocked(scope)
		}
	}
	pos := len(b.keys)
	if pos == cap(b.keys) {
		b.keys = c.growKeys(b.keys)
	}
	b.keys = append(b.keys, key)
	c.entries[sk] = entry[S, K, V]{b, pos}
	c.stats.Pending++
	if c.opts.MaxBatch > 0 && len(b.keys) >= c.opts.MaxBatch {
		c.stats.FullBatches++
		c.dispatchLocked(b)
	}
	c.mu.Unlock()
	return b, pos, nil
}

func (c *core[S, K, V]) newBatchLocked(scope S) *loaderBatch[S, K, V] {
	b := &loaderBatch[S, K, V]{scope: scope, done: make(chan struct{})}
	// One scope (always, for a Loader) needs no map.
	if c.first == nil {
		c.first = b
	} else {
		if c.collecting == nil {
			c.collecting = make(map[S]*loaderBatch[S, K, V])
		}
		c.collecting[scope] = b
	}
	c.wg.Add(1) // for the timer; released by fire or by a successful Stop
	b.timer = time.AfterFunc(c.opts.Wait, func() { c.fire(b) })
	return b
}

// dispatchLocked takes b out of collection and fetches it on a new
// goroutine.
func (c *core[S, K, V]) dispatchLocked(b *loaderBatch[S, K, V]) {
	c.detachLocked(b)
	if b.timer.Stop() {
		c.wg.Done() // the timer will not fire
	}
	c.wg.Add(1)
	go c.runBatch(b)
}

func (c *core[S, K, V]) detachLocked(b *loaderBatch[S, K, V]) {
	b.dispatched = true
	if c.first == b {
		c.first = nil
	} else {
		delete(c.collecting, b.scope)
	}
	c.stats.Pending -= len(b.keys)
	c.stats.Batches++
	c.stats.Keys += uint64(len(b.keys))
	c.stats.InFlight++
}

// fire runs when a batch's window is over, on the timer's goroutine.
func (c *core[S, K, V]) fire(b *loaderBatch[S, K, V]) {
	defer c.wg.Done()
	c.mu.Lock()
	if b.dispatched { // filled up, or flushed by Close, meanwhile
		c.mu.Unlock()
		return
	}
	c.detachLocked(b)
	c.mu.Unlock()
	c.execute(b)
}

// runBatch fetches a batch that filled up; named so stacks read well.
func (c *core[S, K, V]) runBatch(b *loaderBatch[S, K, V]) {
	defer c.wg.Done()
	c.execute(b)
}

// execute calls the fetch function for b and publishes the results.
func (c *core[S, K, V]) execute(b *loaderBatch[S, K, V]) {
	ctx := c.opts.Context
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	fetched := false
	defer func() {
		if !fetched { // the fetch called runtime.Goexit, which goes on after this
			b.err = ErrGoexit
			c.publish(b, true)
		}
	}()
	vals, errs, panicked := c.safeFetch(ctx, b)
	fetched = true
	if panicked != nil {
		b.err = panicked
	} else {
		b.settle(vals, errs)
	}
	c.publish(b, panicked != nil)
}

// publish hands b's results to its callers and drops the entries that
// must not outlive the fetch.
func (c *core[S, K, V]) publish(b *loaderBatch[S, K, V], panicked bool) {
	c.mu.Lock()
	c.stats.InFlight--
	if panicked {
		c.stats.Panics++
	}
	// Without the cache, a key's entry lives only while it is pending or
	// being fetched; with it, only results that may be transient go.
	for i, k := range b.keys {
		if c.opts.Cache && b.err == nil && (b.errs == nil || cacheable(b.errs[i])) {
			continue
		}
		sk := scopedKey[S, K]{b.scope, k}
		if e, ok := c.entries[sk]; ok && e.b == b {
			delete(c.entries, sk)
		}
	}
	c.mu.Unlock()
	b.ready.Store(true)
	close(b.done)
}

func (c *core[S, K, V]) safeFetch(ctx context.Context, b *loaderBatch[S, K, V]) (vals []V, errs []error, panicked *PanicError) {
	defer func() {
		if r := recover(); r != nil {
			panicked = newPanicError(r)
		}
	}()
	vals, errs = c.fetch(ctx, b.scope, b.keys)
	return vals, errs, nil
}

// settle checks what the fetch returned against the keys and records
// per-key results without ever misaligning them.
func (b *loaderBatch[S, K, V]) settle(vals []V, errs []error) {
	n := len(b.keys)
	if len(errs) == 1 {
		if f, ok := errs[0].(batchFailure); ok {
			b.err = f.err
			return
		}
	}
	switch {
	case len(errs) == 0:
		// No errors.
	case len(errs) == n:
		b.errs = errs
	case len(errs) == 1:
		if errs[0] != nil {
			b.err = errs[0]
			return
		}
	default:
		b.err = fmt.Errorf("%w: got %d errors for %d keys", ErrBadFetch, len(errs), n)
		return
	}
	if len(vals) == n {
		b.vals = vals
		return
	}
	// Values cannot be matched to keys. Keep per-key errors the fetch gave
	// and fail the others.
	bad := fmt.Errorf("%w: got %d values for %d keys", ErrBadFetch, len(vals), n)
	if b.errs == nil {
		b.err = bad
		return
	}
	fixed := make([]error, n)
	for i, err := range b.errs {
		if err == nil {
			err = bad
		}
		fixed[i] = err
	}
	b.errs = fixed
}

// wait returns the result at pos once b is fetched, or ctx.Err() when ctx
// ends first.
func (b *loaderBatch[S, K, V]) wait(ctx context.Context, pos int) (V, error) {
	if b.ready.Load() {
		return b.result(pos)
	}
	if d := ctx.Done(); d != nil {
		select {
		case <-b.done:
		case <-d:
			select {
			case <-b.done: // both ready: prefer the result
			default:
				var zero V
				return zero, ctx.Err()
			}
		}
	} else {
		<-b.done
	}
	return b.result(pos)
}

func (b *loaderBatch[S, K, V]) result(pos int) (V, error) {
	var v V
	if b.err != nil {
		return v, b.err
	}
	if pos < len(b.vals) {
		v = b.vals[pos]
	}
	if b.errs != nil && b.errs[pos] != nil {
		return v, b.errs[pos]
	}
	return v, nil
}

func (c *core[S, K, V]) thunk(ctx context.Context, scope S, key K) func() (V, error) {
	b, pos, err := c.enqueue(ctx, scope, key)
	if err != nil {
		return func() (V, error) {
			var zero V
			return zero, err
		}
	}
	if ctx.Done() == nil {
		// Smaller closure: nothing to wait for but the batch.
		return func() (V, error) {
			if !b.ready.Load() {
				<-b.done
			}
			return b.result(pos)
		}
	}
	return func() (V, error) { return b.wait(ctx, pos) }
}

func (c *core[S, K, V]) loadMany(ctx context.Context, scope S, keys []K) ([]V, []error) {
	type slot struct {
		b   *loaderBatch[S, K, V]
		pos int
	}
	slots := make([]slot, len(keys))
	var errs []error
	for i, k := range keys {
		b, pos, err := c.enqueue(ctx, scope, k)
		if err != nil {
			errs = setErr(errs, len(keys), i, err)
			continue
		}
		slots[i] = slot{b, pos}
	}
	vals := make([]V, len(keys))
	for i, s := range slots {
		if s.b == nil {
			continue
		}
		v, err := s.b.wait(ctx, s.pos)
		vals[i] = v
		if err != nil {
			errs = setErr(errs, len(keys), i, err)
		}
	}
	return vals, errs
}

// primed is the done channel of every primed entry.
var primed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *core[S, K, V]) prime(scope S, key K, value V) bool {
	if !c.opts.Cache {
		return false
	}
	sk := scopedKey[S, K]{scope, key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[sk]; ok || c.closed {
		return false
	}
	b := &loaderBatch[S, K, V]{scope: scope, keys: []K{key}, vals: []V{value}, done: primed, dispatched: true}
	b.ready.Store(true)
	c.entries[sk] = entry[S, K, V]{b, 0}
	return true
}

func (c *core[S, K, V]) clear(scope S, key K) {
	sk := scopedKey[S, K]{scope, key}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A pending key stays, since it is already in its batch's keys; a key
	// being fetched is forgotten, so the next load fetches it afresh.
	if e, ok := c.entries[sk]; ok && e.b.dispatched {
		delete(c.entries, sk)
	}
}

func (c *core[S, K, V]) statsSnapshot() LoaderStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *core[S, K, V]) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		if c.first != nil {
			c.dispatchLocked(c.first)
		}
		for _, b := range c.collecting {
			c.dispatchLocked(b)
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// growKeys makes room in a batch's keys: 8 at first, then four times as
// many, but never more than MaxBatch, so a full batch regrows at most twice
// and a small one stays small.
func (c *core[S, K, V]) growKeys(keys []K) []K {
	n := max(8, 4*cap(keys))
	if c.opts.MaxBatch > 0 {
		n = min(n, c.opts.MaxBatch)
	}
	grown := make([]K, len(keys), n)
	copy(grown, keys)
	return grown
}

// cacheable reports whether a key's error is data (not found, forbidden)
// that the cache keeps, rather than a failure to retry.
func cacheable(err error) bool {
	return err == nil || !(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBadFetch))
}
