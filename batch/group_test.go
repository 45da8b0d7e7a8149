package batch_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// waitFor polls cond until it holds. It never fails on time: a condition
// that never holds shows up as the test binary's timeout.
func waitFor(cond func() bool) {
	for !cond() {
		time.Sleep(100 * time.Microsecond)
	}
}

// ctxKinds are the two paths of Group.Do: a context that can never be
// cancelled (the starter runs fn itself) and one that can (fn runs on its
// own goroutine).
var ctxKinds = []struct {
	name string
	ctx  func(t *testing.T) context.Context
}{
	{"background", func(*testing.T) context.Context { return context.Background() }},
	{"cancellable", func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return ctx
	}},
}

func TestGroupDo(t *testing.T) {
	for _, k := range ctxKinds {
		t.Run(k.name, func(t *testing.T) {
			var g batch.Group[string, int] // the zero value is ready
			v, err, shared := g.Do(k.ctx(t), "a", func(context.Context) (int, error) { return 42, nil })
			if v != 42 || err != nil || shared {
				t.Fatalf("Do = %v, %v, %v; want 42, nil, false", v, err, shared)
			}
			wantErr := errors.New("boom")
			_, err, _ = g.Do(k.ctx(t), "a", func(context.Context) (int, error) { return 0, wantErr })
			if err != wantErr {
				t.Fatalf("err = %v, want %v", err, wantErr)
			}
			st := g.Stats()
			if st.Requests != 2 || st.Calls != 2 || st.Shared != 0 || st.InFlight != 0 || st.Waiting != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// TestGroupThunderingHerd: 1000 concurrent callers of one key make exactly
// one backend call. The call blocks until all 1000 are waiting, so the
// count does not depend on scheduling.
func TestGroupThunderingHerd(t *testing.T) {
	const n = 1000
	for _, k := range ctxKinds {
		t.Run(k.name, func(t *testing.T) {
			var g batch.Group[string, string]
			var backend atomic.Int64
			fn := func(context.Context) (string, error) {
				backend.Add(1)
				waitFor(func() bool { return g.Stats().Waiting == n })
				return "value", nil
			}
			ctx := k.ctx(t)
			var wg sync.WaitGroup
			var wrong, sharedCount atomic.Int64
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err, shared := g.Do(ctx, "hot-key", fn)
					if v != "value" || err != nil {
						wrong.Add(1)
					}
					if shared {
						sharedCount.Add(1)
					}
				}()
			}
			wg.Wait()
			if got := backend.Load(); got != 1 {
				t.Fatalf("backend calls = %d, want exactly 1", got)
			}
			if wrong.Load() != 0 {
				t.Fatalf("%d callers got a wrong result", wrong.Load())
			}
			if sharedCount.Load() != n {
				t.Fatalf("shared reported by %d callers, want all %d", sharedCount.Load(), n)
			}
			st := g.Stats()
			if st.Requests != n || st.Calls != 1 || st.Shared != n-1 || st.Waiting != 0 || st.InFlight != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// TestGroupWaiterLeaves: a waiter whose context ends leaves alone; the call
// goes on, uncancelled, for the others.
func TestGroupWaiterLeaves(t *testing.T) {
	for _, starter := range ctxKinds {
		t.Run("starter="+starter.name, func(t *testing.T) {
			var g batch.Group[string, int]
			release := make(chan struct{})
			ctxErrAtRelease := make(chan error, 1)
			fn := func(ctx context.Context) (int, error) {
				<-release
				ctxErrAtRelease <- ctx.Err()
				return 7, nil
			}
			starterDone := make(chan error, 1)
			go func() {
				v, err, _ := g.Do(starter.ctx(t), "k", fn)
				if err == nil && v != 7 {
					err = fmt.Errorf("v = %d", v)
				}
				starterDone <- err
			}()
			waitFor(func() bool { return g.Stats().Waiting == 1 })

			ctx, cancel := context.WithCancel(context.Background())
			joinerDone := make(chan error, 1)
			go func() {
				_, err, shared := g.Do(ctx, "k", fn)
				if !shared {
					err = errors.New("joiner not shared")
				}
				joinerDone <- err
			}()
			waitFor(func() bool { return g.Stats().Waiting == 2 })
			cancel()
			if err := <-joinerDone; !errors.Is(err, context.Canceled) {
				t.Fatalf("joiner err = %v, want context.Canceled", err)
			}
			close(release)
			if err := <-ctxErrAtRelease; err != nil {
				t.Fatalf("shared call's context ended when one of two waiters left: %v", err)
			}
			if err := <-starterDone; err != nil {
				t.Fatalf("starter: %v", err)
			}
			if st := g.Stats(); st.Left != 1 || st.Abandoned != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// TestGroupAllLeave: when every waiter has left, the call's context is
// cancelled with ErrAbandoned and the key is free for a new call.
func TestGroupAllLeave(t *testing.T) {
	var g batch.Group[string, int]
	cause := make(chan error, 1)
	fnReturned := make(chan struct{})
	slow := func(ctx context.Context) (int, error) {
		defer close(fnReturned)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return 0, ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err, _ := g.Do(ctx1, "k", slow); errs <- err }()
	waitFor(func() bool { return g.Stats().Waiting == 1 })
	go func() { _, err, _ := g.Do(ctx2, "k", slow); errs <- err }()
	waitFor(func() bool { return g.Stats().Waiting == 2 })

	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("first waiter err = %v", err)
	}
	cancel2()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("second waiter err = %v", err)
	}
	if c := <-cause; c != batch.ErrAbandoned {
		t.Fatalf("cause = %v, want ErrAbandoned", c)
	}
	// The key is free even before the abandoned call has wound down.
	v, err, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 9, nil })
	if v != 9 || err != nil {
		t.Fatalf("new call = %v, %v", v, err)
	}
	<-fnReturned
	waitFor(func() bool { return g.Stats().InFlight == 0 })
	if st := g.Stats(); st.Calls != 2 || st.Abandoned != 1 || st.Left != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestGroupAlreadyCancelled(t *testing.T) {
	var g batch.Group[int, int]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	_, err, _ := g.Do(ctx, 1, func(context.Context) (int, error) { called = true; return 1, nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Fatalf("err = %v, called = %v", err, called)
	}
}

type ctxKey struct{}

func TestGroupContextValues(t *testing.T) {
	caller, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "secret"))
	defer cancel()
	t.Run("default carries nothing", func(t *testing.T) {
		var g batch.Group[int, any]
		v, _, _ := g.Do(caller, 1, func(ctx context.Context) (any, error) { return ctx.Value(ctxKey{}), nil })
		if v != nil {
			t.Fatalf("fn saw the caller's value %v", v)
		}
	})
	t.Run("BaseContext", func(t *testing.T) {
		g := batch.NewGroup[int, any](&batch.GroupOptions{BaseContext: context.WithoutCancel})
		v, _, _ := g.Do(caller, 1, func(ctx context.Context) (any, error) { return ctx.Value(ctxKey{}), nil })
		if v != "secret" {
			t.Fatalf("fn saw %v, want the caller's value", v)
		}
	})
}

func TestGroupPanic(t *testing.T) {
	for _, k := range ctxKinds {
		t.Run(k.name, func(t *testing.T) {
			var g batch.Group[string, int]
			ctx := k.ctx(t)
			release := make(chan struct{})
			boom := func(context.Context) (int, error) {
				<-release
				panic("kaboom")
			}
			const joiners = 3
			errs := make(chan error, joiners+1)
			go func() { _, err, _ := g.Do(ctx, "k", boom); errs <- err }()
			waitFor(func() bool { return g.Stats().Waiting == 1 })
			for range joiners {
				go func() { _, err, _ := g.Do(ctx, "k", boom); errs <- err }()
			}
			waitFor(func() bool { return g.Stats().Waiting == joiners+1 })
			close(release)
			for range joiners + 1 {
				err := <-errs
				var pe *batch.PanicError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want *PanicError", err)
				}
				if pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "TestGroupPanic") {
					t.Fatalf("panic value %v, stack:\n%s", pe.Value, pe.Stack)
				}
			}
			// The key is not wedged.
			v, err, _ := g.Do(ctx, "k", func(context.Context) (int, error) { return 1, nil })
			if v != 1 || err != nil {
				t.Fatalf("after panic: %v, %v", v, err)
			}
			if st := g.Stats(); st.Panics != 1 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestPanicErrorUnwrap(t *testing.T) {
	var g batch.Group[int, int]
	sentinel := errors.New("sentinel")
	_, err, _ := g.Do(context.Background(), 1, func(context.Context) (int, error) { panic(sentinel) })
	if !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, sentinel) = false", err)
	}
}

func TestGroupGoexit(t *testing.T) {
	for _, k := range ctxKinds {
		t.Run(k.name, func(t *testing.T) {
			var g batch.Group[string, int]
			ctx := k.ctx(t)
			release := make(chan struct{})
			exit := func(context.Context) (int, error) {
				<-release
				runtime.Goexit()
				return 0, nil
			}
			starterErr := make(chan error, 1)
			starterGone := make(chan struct{})
			go func() {
				defer close(starterGone)
				_, err, _ := g.Do(ctx, "k", exit)
				starterErr <- err
			}()
			waitFor(func() bool { return g.Stats().Waiting == 1 })
			joinerErr := make(chan error, 1)
			go func() { _, err, _ := g.Do(ctx, "k", exit); joinerErr <- err }()
			waitFor(func() bool { return g.Stats().Waiting == 2 })
			close(release)
			if err := <-joinerErr; err != batch.ErrGoexit {
				t.Fatalf("joiner err = %v, want ErrGoexit", err)
			}
			<-starterGone
			select {
			case err := <-starterErr:
				if k.name == "background" {
					t.Fatalf("starter ran fn itself, so Goexit should have ended it; got %v", err)
				}
				if err != batch.ErrGoexit {
					t.Fatalf("starter err = %v", err)
				}
			default:
				if k.name != "background" {
					t.Fatal("starter did not return")
				}
			}
			// Counted like a panic, nothing left waiting, the key not wedged.
			if st := g.Stats(); st.Panics != 1 || st.InFlight != 0 || st.Waiting != 0 || st.Calls != 1 {
				t.Fatalf("stats = %+v", st)
			}
			if v, err, _ := g.Do(ctx, "k", func(context.Context) (int, error) { return 1, nil }); v != 1 || err != nil {
				t.Fatalf("after Goexit: %v, %v", v, err)
			}
		})
	}
}

// TestGroupBaseContextFails: a BaseContext hook that panics or calls
// runtime.Goexit must not leave the call registered: callers that joined
// it get the failure, and the key starts afresh.
func TestGroupBaseContextFails(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func()
		want func(error) bool
	}{
		{"panic", func() { panic("base") }, func(err error) bool {
			var pe *batch.PanicError
			return errors.As(err, &pe) && pe.Value == "base"
		}},
		{"goexit", runtime.Goexit, func(err error) bool { return err == batch.ErrGoexit }},
	} {
		for _, k := range ctxKinds {
			t.Run(tt.name+"/"+k.name, func(t *testing.T) {
				ctx := k.ctx(t)
				if ctx.Done() != nil {
					// A generous bound, so a hang fails instead of timing
					// out the whole binary.
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
				}
				testGroupBaseContextFails(t, ctx, tt.fail, tt.want)
			})
		}
	}
}

func testGroupBaseContextFails(t *testing.T, ctx context.Context, failWith func(), want func(error) bool) {
	var fail atomic.Bool
	fail.Store(true)
	entered := make(chan struct{})
	release := make(chan struct{})
	g := batch.NewGroup[string, int](&batch.GroupOptions{BaseContext: func(ctx context.Context) context.Context {
		if fail.Load() {
			close(entered)
			<-release
			failWith()
		}
		return ctx
	}})
	fn := func(context.Context) (int, error) { return 1, nil }

	starter := make(chan error, 1)
	starterGone := make(chan struct{})
	go func() {
		defer close(starterGone)
		defer func() {
			if r := recover(); r != nil {
				starter <- fmt.Errorf("panicked: %v", r)
			}
		}()
		_, err, _ := g.Do(ctx, "k", fn)
		starter <- err
	}()
	<-entered
	fail.Store(false)
	joiner := make(chan error, 1)
	go func() { _, err, _ := g.Do(ctx, "k", fn); joiner <- err }()
	waitFor(func() bool { return g.Stats().Waiting == 2 })
	close(release)
	if err := <-joiner; !want(err) {
		t.Fatalf("joiner err = %v", err)
	}
	<-starterGone
	select {
	case err := <-starter:
		if !want(err) {
			t.Fatalf("starter err = %v", err)
		}
	default: // Goexit ended the starter's goroutine, as it asked
	}
	if st := g.Stats(); st.InFlight != 0 || st.Waiting != 0 || st.Panics != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if v, err, _ := g.Do(ctx, "k", fn); v != 1 || err != nil {
		t.Fatalf("after the failure: %v, %v", v, err)
	}
}

func TestGroupTTL(t *testing.T) {
	clock := newFakeClock()
	g := batch.NewGroup[string, int](&batch.GroupOptions{TTL: time.Second})
	batch.SetGroupClock(g, clock.Now)
	var calls atomic.Int64
	fn := func(context.Context) (int, error) { return int(calls.Add(1)), nil }
	ctx := context.Background()

	if v, _, shared := g.Do(ctx, "k", fn); v != 1 || shared {
		t.Fatalf("first = %d, %v", v, shared)
	}
	clock.Advance(999 * time.Millisecond)
	if v, _, shared := g.Do(ctx, "k", fn); v != 1 || !shared {
		t.Fatalf("within TTL = %d, shared %v; want the kept 1, shared", v, shared)
	}
	if st := g.Stats(); st.Kept != 1 || st.Results != 1 {
		t.Fatalf("stats = %+v", st)
	}
	clock.Advance(time.Millisecond)
	if v, _, _ := g.Do(ctx, "k", fn); v != 2 {
		t.Fatalf("after TTL = %d, want a new call", v)
	}

	// Errors are not kept.
	failing := func(context.Context) (int, error) { calls.Add(1); return 0, errors.New("down") }
	before := calls.Load()
	g.Do(ctx, "e", failing)
	g.Do(ctx, "e", failing)
	if calls.Load()-before != 2 {
		t.Fatal("an error was kept")
	}

	// Expired results of other keys are dropped as the group is used.
	g.Do(ctx, "other", fn)
	clock.Advance(2 * time.Second)
	g.Do(ctx, "x", func(context.Context) (int, error) { return 0, errors.New("no keep") })
	if st := g.Stats(); st.Results != 0 {
		t.Fatalf("results kept after expiry: %+v", st)
	}
}

func TestGroupForget(t *testing.T) {
	t.Run("in flight", func(t *testing.T) {
		var g batch.Group[string, int]
		release := make(chan struct{})
		first := make(chan int, 1)
		go func() {
			v, _, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { <-release; return 1, nil })
			first <- v
		}()
		waitFor(func() bool { return g.Stats().InFlight == 1 })
		g.Forget("k")
		v, _, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 2, nil })
		if v != 2 {
			t.Fatalf("after Forget = %d, want a new call", v)
		}
		close(release)
		if v := <-first; v != 1 {
			t.Fatalf("the forgotten call's waiter got %d", v)
		}
	})
	t.Run("kept", func(t *testing.T) {
		g := batch.NewGroup[string, int](&batch.GroupOptions{TTL: time.Hour})
		var calls atomic.Int64
		fn := func(context.Context) (int, error) { return int(calls.Add(1)), nil }
		g.Do(context.Background(), "k", fn)
		g.Forget("k")
		g.Forget("absent")
		if v, _, _ := g.Do(context.Background(), "k", fn); v != 2 {
			t.Fatalf("after Forget = %d, want a new call", v)
		}
		if st := g.Stats(); st.Results != 1 {
			t.Fatalf("stats = %+v", st)
		}
	})
}
