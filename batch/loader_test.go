package batch_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

// never is a window long enough that batches in these tests are dispatched
// by MaxBatch or Close, never by the clock.
const never = time.Hour

// recorder is a fetch function that records its batches.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
}

func (r *recorder) fetch(_ context.Context, keys []int) ([]string, []error) {
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(keys))
	r.mu.Unlock()
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = "v" + strconv.Itoa(k)
	}
	return vals, nil
}

func (r *recorder) get() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func newLoader[K comparable, V any](t *testing.T, fetch batch.FetchFunc[K, V], opts *batch.LoaderOptions) *batch.Loader[K, V] {
	t.Helper()
	l, err := batch.NewLoader(fetch, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// loadAll loads keys concurrently, one goroutine each, and returns the
// results in key order.
func loadAll[V any](l *batch.Loader[int, V], ctx context.Context, keys []int) ([]V, []error) {
	vals := make([]V, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], errs[i] = l.Load(ctx, k)
		}()
	}
	wg.Wait()
	return vals, errs
}

func TestLoaderBatches(t *testing.T) {
	var rec recorder
	l := newLoader(t, rec.fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 10})
	keys := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	vals, errs := loadAll(l, context.Background(), keys)
	for i, k := range keys {
		if errs[i] != nil || vals[i] != "v"+strconv.Itoa(k) {
			t.Fatalf("key %d: %q, %v", k, vals[i], errs[i])
		}
	}
	b := rec.get()
	if len(b) != 1 || len(b[0]) != 10 {
		t.Fatalf("batches = %v, want one of 10 keys", b)
	}
	if st := l.Stats(); st.Batches != 1 || st.FullBatches != 1 || st.Keys != 10 || st.Loads != 10 || st.Pending != 0 || st.InFlight != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLoaderDedup(t *testing.T) {
	var rec recorder
	keys := []int{1, 1, 2, 1, 2, 3}
	var l *batch.Loader[int, string]
	// The fetch waits until every load has joined, so a duplicate cannot
	// arrive after the batch finished and start a batch of its own.
	l = newLoader(t, func(ctx context.Context, ks []int) ([]string, []error) {
		waitFor(func() bool { return l.Stats().Loads == uint64(len(keys)) })
		return rec.fetch(ctx, ks)
	}, &batch.LoaderOptions{Wait: never, MaxBatch: 3})
	vals, errs := loadAll(l, context.Background(), keys)
	for i, k := range keys {
		if errs[i] != nil || vals[i] != "v"+strconv.Itoa(k) {
			t.Fatalf("key %d: %q, %v", k, vals[i], errs[i])
		}
	}
	b := rec.get()
	if len(b) != 1 {
		t.Fatalf("batches = %v, want one", b)
	}
	got := slices.Sorted(slices.Values(b[0]))
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("batch keys = %v, want each key once", b[0])
	}
	if st := l.Stats(); st.Hits != 3 {
		t.Fatalf("stats = %+v, want 3 hits", st)
	}
}

func TestLoaderWindow(t *testing.T) {
	var rec recorder
	l := newLoader(t, rec.fetch, &batch.LoaderOptions{Wait: time.Millisecond})
	v, err := l.Load(context.Background(), 5)
	if v != "v5" || err != nil {
		t.Fatalf("Load = %q, %v", v, err)
	}
	l2 := newLoader(t, rec.fetch, &batch.LoaderOptions{Wait: -1})
	if v, err := l2.Load(context.Background(), 6); v != "v6" || err != nil {
		t.Fatalf("Load with no delay = %q, %v", v, err)
	}
}

func TestLoaderMapFetch(t *testing.T) {
	fetch := batch.MapFetch(func(_ context.Context, keys []int) (map[int]string, error) {
		m := map[int]string{}
		errs := batch.KeyErrors[int]{}
		for _, k := range keys {
			switch {
			case k%3 == 0:
				// missing
			case k%3 == 1:
				m[k] = "v" + strconv.Itoa(k)
			default:
				errs[k] = fmt.Errorf("key %d is broken", k)
			}
		}
		return m, errs
	})
	l := newLoader(t, fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 3})
	vals, errs := loadAll(l, context.Background(), []int{3, 4, 5})
	if !errors.Is(errs[0], batch.ErrNotFound) {
		t.Errorf("missing key: %v, want ErrNotFound", errs[0])
	}
	if vals[1] != "v4" || errs[1] != nil {
		t.Errorf("found key: %q, %v", vals[1], errs[1])
	}
	if errs[2] == nil || errs[2].Error() != "key 5 is broken" {
		t.Errorf("failed key: %v", errs[2])
	}

	whole := errors.New("database down")
	down := batch.MapFetch(func(context.Context, []int) (map[int]string, error) { return nil, whole })
	l2 := newLoader(t, down, &batch.LoaderOptions{Wait: never, MaxBatch: 2})
	_, errs = loadAll(l2, context.Background(), []int{1, 2})
	if errs[0] != whole || errs[1] != whole {
		t.Errorf("batch error: %v", errs)
	}
}

// TestLoaderBadFetch: a fetch function that returns slices of the wrong
// length gives per-key errors, never a panic or a misaligned value.
func TestLoaderBadFetch(t *testing.T) {
	perKey := errors.New("per key")
	tests := []struct {
		name   string
		vals   []string
		errs   []error
		wantOK []bool // which of the 3 keys succeed
	}{
		{name: "short values", vals: []string{"a", "b"}, wantOK: []bool{false, false, false}},
		{name: "long values", vals: []string{"a", "b", "c", "d"}, wantOK: []bool{false, false, false}},
		{name: "nil values", wantOK: []bool{false, false, false}},
		{name: "two errors for three keys", vals: []string{"a", "b", "c"}, errs: []error{nil, perKey}, wantOK: []bool{false, false, false}},
		{name: "one nil error", vals: []string{"a", "b", "c"}, errs: []error{nil}, wantOK: []bool{true, true, true}},
		{name: "aligned errors, short values", vals: []string{"a"}, errs: []error{nil, perKey, nil}, wantOK: []bool{false, false, false}},
		{name: "all failed, no values", errs: []error{perKey, perKey, perKey}, wantOK: []bool{false, false, false}},
		{name: "aligned", vals: []string{"a", "b", "c"}, errs: []error{nil, perKey, nil}, wantOK: []bool{true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetch := func(context.Context, []int) ([]string, []error) { return tt.vals, tt.errs }
			l := newLoader(t, fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 3})
			th := []func() (string, error){
				l.LoadThunk(context.Background(), 0),
				l.LoadThunk(context.Background(), 1),
				l.LoadThunk(context.Background(), 2),
			}
			for i, f := range th {
				v, err := f()
				if ok := err == nil; ok != tt.wantOK[i] {
					t.Fatalf("key %d: %q, %v; want ok=%v", i, v, err, tt.wantOK[i])
				}
				if err == nil && v != tt.vals[i] {
					t.Fatalf("key %d: value %q, want %q", i, v, tt.vals[i])
				}
				if err != nil && err != perKey && !errors.Is(err, batch.ErrBadFetch) {
					t.Fatalf("key %d: %v, want ErrBadFetch or the fetch's error", i, err)
				}
			}
		})
	}
}

func TestLoaderPanic(t *testing.T) {
	var calls atomic.Int64
	fetch := func(_ context.Context, keys []int) ([]int, []error) {
		if calls.Add(1) == 1 {
			panic("fetch exploded")
		}
		return keys, nil
	}
	l := newLoader(t, fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 2})
	_, errs := loadAll(l, context.Background(), []int{1, 2})
	for _, err := range errs {
		var pe *batch.PanicError
		if !errors.As(err, &pe) || pe.Value != "fetch exploded" {
			t.Fatalf("err = %v, want *PanicError", err)
		}
	}
	vals, errs := loadAll(l, context.Background(), []int{1, 2})
	if errs[0] != nil || vals[1] != 2 {
		t.Fatalf("after panic: %v, %v", vals, errs)
	}
	if st := l.Stats(); st.Panics != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestLoaderContext: the fetch never runs under a caller's context; a
// caller that leaves does not cancel the batch for the others.
func TestLoaderContext(t *testing.T) {
	type seen struct {
		value  any
		errAt  error
		base   any
		keyset []int
	}
	release := make(chan struct{})
	saw := make(chan seen, 1)
	fetch := func(ctx context.Context, keys []int) ([]int, []error) {
		<-release
		saw <- seen{value: ctx.Value(ctxKey{}), errAt: ctx.Err(), base: ctx.Value(baseKey{}), keyset: slices.Clone(keys)}
		return keys, nil
	}
	base := context.WithValue(context.Background(), baseKey{}, "db")
	l := newLoader(t, fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 2, Context: base})

	first, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "alice's token"))
	firstErr := make(chan error, 1)
	go func() { _, err := l.Load(first, 1); firstErr <- err }()
	waitFor(func() bool { return l.Stats().Pending == 1 })
	secondVal := make(chan int, 1)
	go func() { v, _ := l.Load(context.Background(), 2); secondVal <- v }()
	waitFor(func() bool { return l.Stats().InFlight == 1 })

	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v, want context.Canceled", err)
	}
	close(release)
	s := <-saw
	if s.value != nil {
		t.Errorf("fetch saw the first caller's value %v", s.value)
	}
	if s.errAt != nil {
		t.Errorf("fetch context ended with the first caller: %v", s.errAt)
	}
	if s.base != "db" {
		t.Errorf("fetch did not see LoaderOptions.Context's value")
	}
	if v := <-secondVal; v != 2 {
		t.Errorf("second caller got %d", v)
	}
}

type baseKey struct{}

func TestLoaderTimeout(t *testing.T) {
	fetch := func(ctx context.Context, keys []int) ([]int, []error) {
		<-ctx.Done()
		return nil, []error{ctx.Err()}
	}
	l := newLoader(t, fetch, &batch.LoaderOptions{Wait: -1, Timeout: time.Millisecond})
	if _, err := l.Load(context.Background(), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestLoaderCallerCancelledBefore(t *testing.T) {
	var rec recorder
	l := newLoader(t, rec.fetch, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Load(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if st := l.Stats(); st.Loads != 0 {
		t.Fatalf("a cancelled load was queued: %+v", st)
	}
}

func TestScopedLoader(t *testing.T) {
	type call struct {
		scope string
		keys  []int
	}
	var mu sync.Mutex
	var calls []call
	fetch := func(_ context.Context, scope string, keys []int) ([]string, []error) {
		mu.Lock()
		calls = append(calls, call{scope, slices.Clone(keys)})
		mu.Unlock()
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = scope + "/" + strconv.Itoa(k)
		}
		return vals, nil
	}
	l, err := batch.NewScopedLoader(fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type req struct {
		scope string
		key   int
	}
	reqs := []req{{"acme", 1}, {"globex", 1}, {"acme", 2}, {"globex", 2}}
	var wg sync.WaitGroup
	got := make([]string, len(reqs))
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = l.Load(context.Background(), r.scope, r.key)
		}()
	}
	wg.Wait()
	for i, r := range reqs {
		if want := r.scope + "/" + strconv.Itoa(r.key); got[i] != want {
			t.Errorf("%v: got %q, want %q", r, got[i], want)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("calls = %v, want one per scope", calls)
	}
	for _, c := range calls {
		if len(c.keys) != 2 {
			t.Errorf("scope %s batch %v", c.scope, c.keys)
		}
	}

	// Thunks, LoadMany, Prime and Clear take a scope too.
	th := l.LoadThunk(context.Background(), "acme", 7)
	vals, errs := l.LoadMany(context.Background(), "acme", []int{8})
	if v, err := th(); v != "acme/7" || err != nil || vals[0] != "acme/8" || errs != nil {
		t.Fatalf("thunk %q %v, many %v %v", v, err, vals, errs)
	}
	if l.Prime("acme", 1, "x") {
		t.Fatal("Prime without Cache stored a value")
	}
	l.Clear("acme", 1)
	if st := l.Stats(); st.Batches != 3 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLoaderCache(t *testing.T) {
	var calls atomic.Int64
	fetch := func(_ context.Context, keys []int) ([]int, []error) {
		calls.Add(1)
		errs := make([]error, len(keys))
		for i, k := range keys {
			switch {
			case k == -1:
				errs[i] = batch.ErrNotFound
			case k == -2:
				errs[i] = fmt.Errorf("lookup: %w", context.DeadlineExceeded)
			}
		}
		return keys, errs
	}
	l := newLoader(t, fetch, &batch.LoaderOptions{Wait: -1, Cache: true})
	ctx := context.Background()
	fetches := func(t *testing.T, l *batch.Loader[int, int], key int, loads int) int64 {
		t.Helper()
		before := calls.Load()
		for range loads {
			l.Load(ctx, key)
		}
		return calls.Load() - before
	}
	if n := fetches(t, l, 1, 3); n != 1 {
		t.Fatalf("value: %d fetches for 3 loads, want 1", n)
	}
	if n := fetches(t, l, -1, 3); n != 1 {
		t.Fatalf("a key's own error (not found): %d fetches, want 1 (cached)", n)
	}
	if n := fetches(t, l, -2, 3); n != 3 {
		t.Fatalf("a context error: %d fetches, want 3 (not cached)", n)
	}

	// A MapFetch error fails the whole batch, even a batch of one key, and
	// is not cached.
	var down atomic.Bool
	mapped := newLoader(t, batch.MapFetch(func(_ context.Context, keys []int) (map[int]int, error) {
		calls.Add(1)
		if down.Load() {
			return nil, errors.New("backend down")
		}
		return map[int]int{keys[0]: keys[0]}, nil
	}), &batch.LoaderOptions{Wait: -1, Cache: true})
	down.Store(true)
	if n := fetches(t, mapped, 2, 2); n != 2 {
		t.Fatalf("a whole-batch error: %d fetches, want 2 (not cached)", n)
	}
	down.Store(false)
	if v, err := mapped.Load(ctx, 2); v != 2 || err != nil {
		t.Fatalf("after the outage: %v, %v", v, err)
	}

	if !l.Prime(5, 50) || l.Prime(5, 51) || l.Prime(1, 10) {
		t.Fatal("Prime stored over an existing entry, or did not store a new one")
	}
	if v, _ := l.Load(ctx, 5); v != 50 {
		t.Fatalf("primed value = %v", v)
	}
	before := calls.Load()
	l.Clear(5)
	if v, _ := l.Load(ctx, 5); v != 5 || calls.Load() != before+1 {
		t.Fatalf("after Clear: %v, fetches %d", v, calls.Load()-before)
	}
}

func TestLoaderLoadMany(t *testing.T) {
	var rec recorder
	l := newLoader(t, rec.fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 4})
	vals, errs := l.LoadMany(context.Background(), []int{4, 3, 4, 2, 1})
	if errs != nil {
		t.Fatal(errs)
	}
	if !slices.Equal(vals, []string{"v4", "v3", "v4", "v2", "v1"}) {
		t.Fatalf("vals = %v", vals)
	}
	if b := rec.get(); len(b) != 1 || len(b[0]) != 4 {
		t.Fatalf("batches = %v", b)
	}
}

// TestLoaderJoinsInFlight: without the cache, a key being fetched is
// joined, not fetched twice.
func TestLoaderJoinsInFlight(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	fetch := func(_ context.Context, keys []int) ([]int, []error) {
		calls.Add(1)
		<-release
		return keys, nil
	}
	l := newLoader(t, fetch, &batch.LoaderOptions{Wait: never, MaxBatch: 1})
	res := make(chan int, 2)
	go func() { v, _ := l.Load(context.Background(), 1); res <- v }()
	waitFor(func() bool { return l.Stats().InFlight == 1 })
	go func() { v, _ := l.Load(context.Background(), 1); res <- v }()
	waitFor(func() bool { return l.Stats().Hits == 1 })
	close(release)
	if a, b := <-res, <-res; a != 1 || b != 1 || calls.Load() != 1 {
		t.Fatalf("results %d %d, fetches %d", a, b, calls.Load())
	}
	// Once fetched, the key is fetched again (no cache).
	l.Load(context.Background(), 1)
	if calls.Load() != 2 {
		t.Fatalf("fetches = %d, want 2", calls.Load())
	}
}

func TestLoaderClose(t *testing.T) {
	release := make(chan struct{})
	var returned atomic.Bool
	fetch := func(_ context.Context, keys []int) ([]int, []error) {
		<-release
		returned.Store(true)
		return keys, nil
	}
	l, err := batch.NewLoader(fetch, &batch.LoaderOptions{Wait: never})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { _, err := l.Load(context.Background(), 1); res <- err }()
	waitFor(func() bool { return l.Stats().Pending == 1 })

	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	// Close flushes the pending batch at once.
	waitFor(func() bool { return l.Stats().InFlight == 1 })
	close(release)
	<-closed
	if !returned.Load() {
		t.Fatal("Close returned before the fetch it started")
	}
	if err := <-res; err != nil {
		t.Fatalf("pending load at Close: %v", err)
	}
	l.Close() // idempotent
	if _, err := l.Load(context.Background(), 2); err != batch.ErrClosed {
		t.Fatalf("Load after Close = %v, want ErrClosed", err)
	}
	if _, err := l.LoadThunk(context.Background(), 2)(); err != batch.ErrClosed {
		t.Fatalf("LoadThunk after Close = %v, want ErrClosed", err)
	}
	if _, errs := l.LoadMany(context.Background(), []int{2}); errs[0] != batch.ErrClosed {
		t.Fatalf("LoadMany after Close = %v, want ErrClosed", errs)
	}
}

func TestNewLoaderNil(t *testing.T) {
	if _, err := batch.NewLoader[int, int](nil, nil); err == nil {
		t.Fatal("NewLoader(nil) did not fail")
	}
	if _, err := batch.NewScopedLoader[int, int, int](nil, nil); err == nil {
		t.Fatal("NewScopedLoader(nil) did not fail")
	}
}

// TestLoaderStress: many goroutines over overlapping keys, with a short
// window and small batches; every caller gets its own key's value.
func TestLoaderStress(t *testing.T) {
	fetch := func(_ context.Context, keys []int) ([]int, []error) {
		vals := make([]int, len(keys))
		for i, k := range keys {
			vals[i] = k * 10
		}
		return vals, nil
	}
	l := newLoader(t, fetch, &batch.LoaderOptions{Wait: 50 * time.Microsecond, MaxBatch: 7})
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := range 200 {
				k := (g*31 + i) % 50
				if v, err := l.Load(ctx, k); err != nil || v != k*10 {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d wrong results", wrong.Load())
	}
	if st := l.Stats(); st.Loads != 32*200 || st.Pending != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestLoaderGoexit: a fetch that calls runtime.Goexit fails every key of
// its batch with ErrGoexit instead of leaving the callers waiting, on both
// fetch goroutines (a full batch, and a window that ran out); the stats
// come back and the next batch is fetched.
func TestLoaderGoexit(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts batch.LoaderOptions
	}{
		{"full batch", batch.LoaderOptions{Wait: never, MaxBatch: 3}},
		{"window", batch.LoaderOptions{Wait: time.Microsecond, MaxBatch: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			var exited []int // the keys of the batch whose fetch exits
			fetch := func(_ context.Context, keys []int) ([]int, []error) {
				if calls.Add(1) == 1 {
					exited = slices.Clone(keys)
					runtime.Goexit()
				}
				return keys, nil
			}
			l := newLoader(t, fetch, &tt.opts)
			// A generous bound, so a hang fails instead of timing out the
			// whole binary.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// With a short window the keys may split over batches: those
			// of the first get ErrGoexit, the others their values.
			keys := []int{1, 2, 3}
			var thunks []func() (int, error)
			for _, k := range keys {
				thunks = append(thunks, l.LoadThunk(ctx, k))
			}
			results := make([]error, len(keys))
			vals := make([]int, len(keys))
			for i, th := range thunks {
				vals[i], results[i] = th()
			}
			// exited is written before the batch's result is published.
			if len(exited) == 0 {
				t.Fatal("the first fetch had no keys")
			}
			for i, k := range keys {
				if slices.Contains(exited, k) {
					if !errors.Is(results[i], batch.ErrGoexit) {
						t.Fatalf("key %d: err = %v, want ErrGoexit", k, results[i])
					}
				} else if results[i] != nil || vals[i] != k {
					t.Fatalf("key %d in a later batch: %v, %v", k, vals[i], results[i])
				}
			}
			if st := l.Stats(); st.InFlight != 0 || st.Panics != 1 || st.Pending != 0 {
				t.Fatalf("stats = %+v", st)
			}
			if vals, errs := l.LoadMany(ctx, keys); errs != nil || !slices.Equal(vals, keys) {
				t.Fatalf("after Goexit: %v, %v", vals, errs)
			}
		})
	}
}
