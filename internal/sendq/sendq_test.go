package sendq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

func item(v string) sendq.Item[string] { return sendq.Item[string]{Value: v, Size: len(v)} }

func keyed(k, v string) sendq.Item[string] {
	return sendq.Item[string]{Value: v, Size: len(v), Key: k}
}

func prio(v string) sendq.Item[string] {
	return sendq.Item[string]{Value: v, Size: len(v), Priority: true}
}

// drain takes everything queued without waiting.
func drain(q *sendq.Queue[string]) []string {
	var out []string
	for {
		it, ok := q.TryNext()
		if !ok {
			return out
		}
		out = append(out, it.Value)
	}
}

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) lagging(l bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("lagging=%v", l))
}

func (r *recorder) drop(v any, reason sendq.DropReason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("drop %v %d", v, reason))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func newQ(t *testing.T, o sendq.Options, rec *recorder) *sendq.Queue[string] {
	t.Helper()
	if rec != nil {
		o.OnLagging, o.OnDrop = rec.lagging, rec.drop
	}
	q, err := sendq.New[string](&o)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestPolicies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		policy    sendq.Policy
		push      []sendq.Item[string]
		wantErrs  []error // per push; nil entries mean success
		want      []string
		wantFail  bool
		wantEvent []string
	}{
		{
			name:      "drop oldest",
			policy:    sendq.DropOldest,
			push:      []sendq.Item[string]{item("a"), item("b"), item("c"), item("d")},
			wantErrs:  []error{nil, nil, nil, nil},
			want:      []string{"b", "c", "d"},
			wantEvent: []string{"lagging=true", "drop a 1"},
		},
		{
			name:      "drop newest",
			policy:    sendq.DropNewest,
			push:      []sendq.Item[string]{item("a"), item("b"), item("c"), item("d")},
			wantErrs:  []error{nil, nil, nil, sendq.ErrDropped},
			want:      []string{"a", "b", "c"},
			wantEvent: []string{"lagging=true", "drop d 2"},
		},
		{
			name:      "disconnect",
			policy:    sendq.Disconnect,
			push:      []sendq.Item[string]{item("a"), item("b"), item("c"), item("d")},
			wantErrs:  []error{nil, nil, nil, sendq.ErrSlowConsumer},
			wantFail:  true,
			wantEvent: []string{"lagging=true", "drop a 5", "drop b 5", "drop c 5"},
		},
		{
			name:      "coalesce by key",
			policy:    sendq.CoalesceByKey,
			push:      []sendq.Item[string]{keyed("x", "x1"), keyed("y", "y1"), keyed("x", "x2"), keyed("z", "z1"), keyed("y", "y2")},
			wantErrs:  []error{nil, nil, nil, nil, nil},
			want:      []string{"x2", "y2", "z1"},
			wantEvent: []string{"drop x1 3", "lagging=true", "drop y1 3"},
		},
		{
			name:      "coalesce falls back to drop oldest",
			policy:    sendq.CoalesceByKey,
			push:      []sendq.Item[string]{keyed("x", "x1"), keyed("y", "y1"), keyed("z", "z1"), keyed("w", "w1"), keyed("x", "x2")},
			wantErrs:  []error{nil, nil, nil, nil, nil},
			want:      []string{"z1", "w1", "x2"},
			wantEvent: []string{"lagging=true", "drop x1 1", "drop y1 1"},
		},
		{
			name:      "priority never dropped and first",
			policy:    sendq.DropOldest,
			push:      []sendq.Item[string]{item("a"), prio("P1"), item("b"), item("c"), prio("P2"), item("d")},
			wantErrs:  []error{nil, nil, nil, nil, nil, nil},
			want:      []string{"P1", "P2", "b", "c", "d"},
			wantEvent: []string{"lagging=true", "drop a 1"},
		},
		{
			name:      "too large",
			policy:    sendq.DropOldest,
			push:      []sendq.Item[string]{item("a"), item("0123456789abcdefX")},
			wantErrs:  []error{nil, sendq.ErrTooLarge},
			want:      []string{"a"},
			wantEvent: []string{"drop 0123456789abcdefX 4"},
		},
		{
			name:      "per-item policy overrides",
			policy:    sendq.DropOldest,
			push:      []sendq.Item[string]{item("a"), item("b"), item("c"), {Value: "d", Size: 1, Policy: sendq.DropNewest}},
			wantErrs:  []error{nil, nil, nil, sendq.ErrDropped},
			want:      []string{"a", "b", "c"},
			wantEvent: []string{"lagging=true", "drop d 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			q := newQ(t, sendq.Options{Policy: tt.policy, MaxMessages: 3, MaxBytes: 16, HighWatermark: 1, LowWatermark: 0.3}, rec)
			for i, it := range tt.push {
				err := q.Push(ctx, it)
				if want := tt.wantErrs[i]; !errors.Is(err, want) || (want == nil && err != nil) {
					t.Fatalf("push %d (%s): err %v, want %v", i, it.Value, err, want)
				}
			}
			got := drain(q)
			if !slices.Equal(got, tt.want) {
				t.Errorf("delivered %q, want %q", got, tt.want)
			}
			s := q.Stats()
			if s.Failed != tt.wantFail {
				t.Errorf("Failed = %v, want %v", s.Failed, tt.wantFail)
			}
			if s.Pushed-s.Coalesced != s.Delivered+s.DroppedOldest+s.Discarded {
				t.Errorf("accounting: %+v", s)
			}
			ev := rec.get()
			if len(got) > 0 && len(ev) > 0 && ev[len(ev)-1] == "lagging=false" {
				ev = ev[:len(ev)-1]
			}
			if !slices.Equal(ev, tt.wantEvent) {
				t.Errorf("events %q, want %q", ev, tt.wantEvent)
			}
		})
	}
}

func TestByteBound(t *testing.T) {
	q := newQ(t, sendq.Options{MaxMessages: 100, MaxBytes: 10}, nil)
	for _, v := range []string{"aaaa", "bbbb", "cccc"} {
		if err := q.Push(context.Background(), item(v)); err != nil {
			t.Fatal(err)
		}
	}
	s := q.Stats()
	if s.Depth != 2 || s.Bytes != 8 || s.DroppedOldest != 1 {
		t.Fatalf("stats %+v; want 2 items, 8 bytes, 1 dropped", s)
	}
	if got := drain(q); !slices.Equal(got, []string{"bbbb", "cccc"}) {
		t.Fatalf("got %q", got)
	}
}

func TestCoalesceLargerReplacementEvicts(t *testing.T) {
	q := newQ(t, sendq.Options{Policy: sendq.CoalesceByKey, MaxMessages: 10, MaxBytes: 10}, nil)
	ctx := context.Background()
	for _, it := range []sendq.Item[string]{keyed("a", "a1"), keyed("k", "k1"), keyed("b", "bbbb")} {
		if err := q.Push(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	// 8 bytes queued; replacing k (2 bytes) by 5 bytes needs 1 more: a1 goes.
	if err := q.Push(ctx, keyed("k", "k2345")); err != nil {
		t.Fatal(err)
	}
	if got := drain(q); !slices.Equal(got, []string{"k2345", "bbbb"}) {
		t.Fatalf("got %q", got)
	}
}

func TestWatermarks(t *testing.T) {
	rec := &recorder{}
	q := newQ(t, sendq.Options{MaxMessages: 8, HighWatermark: 0.5, LowWatermark: 0.25}, rec)
	ctx := context.Background()
	for i := range 4 {
		if err := q.Push(ctx, item(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if want := i == 3; q.Stats().Lagging != want {
			t.Fatalf("after %d pushes lagging=%v", i+1, !want)
		}
	}
	q.TryNext() // 3 left: above low
	if ev := rec.get(); !slices.Equal(ev, []string{"lagging=true"}) {
		t.Fatalf("events %q", ev)
	}
	q.TryNext() // 2 left = 0.25: at low
	if ev := rec.get(); !slices.Equal(ev, []string{"lagging=true", "lagging=false"}) {
		t.Fatalf("events %q", ev)
	}
}

func TestPriorityLaneFullFails(t *testing.T) {
	rec := &recorder{}
	q := newQ(t, sendq.Options{PriorityMaxMessages: 2}, rec)
	ctx := context.Background()
	for _, v := range []string{"p1", "p2"} {
		if err := q.Push(ctx, prio(v)); err != nil {
			t.Fatal(err)
		}
	}
	err := q.Push(ctx, prio("p3"))
	if !errors.Is(err, sendq.ErrSlowConsumer) {
		t.Fatalf("err %v, want ErrSlowConsumer", err)
	}
	select {
	case <-q.Done():
	default:
		t.Fatal("Done not closed after failure")
	}
	if _, err := q.Next(ctx); !errors.Is(err, sendq.ErrSlowConsumer) {
		t.Fatalf("Next err %v", err)
	}
	if ev := rec.get(); !slices.Equal(ev, []string{"lagging=true", "drop p1 5", "drop p2 5"}) {
		t.Fatalf("events %q", ev)
	}
}

func TestBlockWaitsForRoom(t *testing.T) {
	clk := newFakeClock()
	q := newQ(t, sendq.Options{Policy: sendq.Block, MaxMessages: 1, Clock: clk}, nil)
	ctx := context.Background()
	if err := q.Push(ctx, item("a")); err != nil {
		t.Fatal(err)
	}
	created := clk.timerCreated()
	res := make(chan error, 1)
	go func() { res <- q.Push(ctx, item("b")) }()
	<-created // the producer is waiting
	if it, err := q.Next(ctx); err != nil || it.Value != "a" {
		t.Fatalf("Next = %v, %v", it.Value, err)
	}
	if err := <-res; err != nil {
		t.Fatalf("blocked push: %v", err)
	}
	if it, err := q.Next(ctx); err != nil || it.Value != "b" {
		t.Fatalf("Next = %v, %v", it.Value, err)
	}
	if s := q.Stats(); s.Blocked != 1 || s.Failed {
		t.Fatalf("stats %+v", s)
	}
}

func TestBlockTimeoutFails(t *testing.T) {
	clk := newFakeClock()
	rec := &recorder{}
	q := newQ(t, sendq.Options{Policy: sendq.Block, MaxMessages: 1, BlockTimeout: time.Second, Clock: clk}, rec)
	ctx := context.Background()
	if err := q.Push(ctx, item("a")); err != nil {
		t.Fatal(err)
	}
	created := clk.timerCreated()
	res := make(chan error, 1)
	go func() { res <- q.Push(ctx, item("b")) }()
	<-created
	clk.Advance(time.Second)
	if err := <-res; !errors.Is(err, sendq.ErrSlowConsumer) {
		t.Fatalf("err %v, want ErrSlowConsumer", err)
	}
	<-q.Done()
	if err := q.Push(ctx, item("c")); !errors.Is(err, sendq.ErrSlowConsumer) {
		t.Fatalf("push after failure: %v", err)
	}
	if ev := rec.get(); !slices.Equal(ev, []string{"lagging=true", "drop a 5"}) {
		t.Fatalf("events %q", ev)
	}
}

func TestBlockContextCancel(t *testing.T) {
	clk := newFakeClock()
	q := newQ(t, sendq.Options{Policy: sendq.Block, MaxMessages: 1, Clock: clk}, nil)
	if err := q.Push(context.Background(), item("a")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	created := clk.timerCreated()
	res := make(chan error, 1)
	go func() { res <- q.Push(ctx, item("b")) }()
	<-created
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if s := q.Stats(); s.Failed || s.Depth != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBlockedProducerReleasedByClose(t *testing.T) {
	clk := newFakeClock()
	q := newQ(t, sendq.Options{Policy: sendq.Block, MaxMessages: 1, Clock: clk}, nil)
	ctx := context.Background()
	if err := q.Push(ctx, item("a")); err != nil {
		t.Fatal(err)
	}
	created := clk.timerCreated()
	res := make(chan error, 1)
	go func() { res <- q.Push(ctx, item("b")) }()
	<-created
	q.Close()
	if err := <-res; !errors.Is(err, sendq.ErrClosed) {
		t.Fatalf("err %v", err)
	}
}

func TestGracefulCloseDrains(t *testing.T) {
	q := newQ(t, sendq.Options{}, nil)
	ctx := context.Background()
	for _, it := range []sendq.Item[string]{item("a"), prio("p")} {
		if err := q.Push(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	q.Close() // idempotent
	if err := q.Push(ctx, item("late")); !errors.Is(err, sendq.ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}
	select {
	case <-q.Done():
		t.Fatal("Done closed before drained")
	default:
	}
	var got []string
	for {
		it, err := q.Next(ctx)
		if errors.Is(err, sendq.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it.Value)
	}
	if !slices.Equal(got, []string{"p", "a"}) {
		t.Fatalf("got %q", got)
	}
	<-q.Done()
	if !errors.Is(q.Err(), sendq.ErrClosed) {
		t.Fatalf("Err = %v", q.Err())
	}
}

func TestCloseWithError(t *testing.T) {
	rec := &recorder{}
	q := newQ(t, sendq.Options{}, rec)
	ctx := context.Background()
	if err := q.Push(ctx, item("a")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	q.CloseWithError(boom)
	q.CloseWithError(errors.New("second")) // idempotent: first cause wins
	if _, err := q.Next(ctx); !errors.Is(err, boom) {
		t.Fatalf("Next err %v", err)
	}
	if err := q.Push(ctx, item("b")); !errors.Is(err, boom) {
		t.Fatalf("Push err %v", err)
	}
	if ev := rec.get(); !slices.Equal(ev, []string{"drop a 5"}) {
		t.Fatalf("events %q", ev)
	}
}

func TestNextWaitsAndCancels(t *testing.T) {
	q := newQ(t, sendq.Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	res := make(chan string, 1)
	go func() {
		it, _ := q.Next(context.Background())
		res <- it.Value
	}()
	if err := q.Push(context.Background(), item("x")); err != nil {
		t.Fatal(err)
	}
	if v := <-res; v != "x" {
		t.Fatalf("got %q", v)
	}
}

func TestOldestAge(t *testing.T) {
	clk := newFakeClock()
	q := newQ(t, sendq.Options{Policy: sendq.CoalesceByKey, Clock: clk}, nil)
	ctx := context.Background()
	if s := q.Stats(); s.OldestAge != 0 {
		t.Fatalf("empty age %v", s.OldestAge)
	}
	_ = q.Push(ctx, keyed("k", "1"))
	clk.Advance(3 * time.Second)
	_ = q.Push(ctx, prio("p"))
	_ = q.Push(ctx, keyed("k", "2")) // keeps the slot's enqueue time
	clk.Advance(time.Second)
	if s := q.Stats(); s.OldestAge != 4*time.Second || s.Depth != 1 || s.PriorityDepth != 1 {
		t.Fatalf("stats %+v", s)
	}
	q.TryNext() // p
	q.TryNext() // k
	if s := q.Stats(); s.OldestAge != 0 {
		t.Fatalf("age %v after drain", s.OldestAge)
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		o    *sendq.Options
		ok   bool
	}{
		{"nil", nil, true},
		{"zero", &sendq.Options{}, true},
		{"low above high", &sendq.Options{HighWatermark: 0.5, LowWatermark: 0.6}, false},
		{"high above one", &sendq.Options{HighWatermark: 1.5}, false},
		{"unknown policy", &sendq.Options{Policy: 99}, false},
		{"high only keeps low zero", &sendq.Options{HighWatermark: 0.1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sendq.New[int](tt.o)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPolicyString(t *testing.T) {
	for p, want := range map[sendq.Policy]string{sendq.DropOldest: "drop-oldest", sendq.CoalesceByKey: "coalesce-by-key", 77: "Policy(77)"} {
		if p.String() != want {
			t.Errorf("%d: %q", p, p.String())
		}
	}
}

// TestConcurrent checks the bounds and accounting under many producers and
// one consumer (run with -race).
func TestConcurrent(t *testing.T) {
	for _, pol := range []sendq.Policy{sendq.DropOldest, sendq.DropNewest, sendq.CoalesceByKey, sendq.Block} {
		t.Run(pol.String(), func(t *testing.T) {
			q := newQ(t, sendq.Options{Policy: pol, MaxMessages: 16, BlockTimeout: time.Minute}, &recorder{})
			var wg sync.WaitGroup
			for p := range 4 {
				wg.Go(func() {
					for i := range 500 {
						it := keyed(fmt.Sprint(i%7), "v")
						it.Priority = i%50 == 0
						_ = q.Push(context.Background(), it)
						if s := q.Stats(); s.Depth > 16 {
							t.Errorf("producer %d: depth %d over bound", p, s.Depth)
							return
						}
					}
				})
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if _, err := q.Next(context.Background()); err != nil {
						return
					}
				}
			}()
			wg.Wait()
			q.Close()
			<-done
			s := q.Stats()
			if s.Pushed-s.Coalesced != s.Delivered+s.DroppedOldest {
				t.Fatalf("accounting: %+v", s)
			}
		})
	}
}

// TestOnLaggingMayPush checks that the callback can use the queue (a
// priority "you are lagging" notice) without deadlock.
func TestOnLaggingMayPush(t *testing.T) {
	var q *sendq.Queue[string]
	var calls []bool
	q = newQ(t, sendq.Options{MaxMessages: 2, HighWatermark: 1, LowWatermark: 0.5, OnLagging: func(l bool) {
		calls = append(calls, l)
		if l {
			if err := q.Push(context.Background(), prio("lagging")); err != nil {
				t.Errorf("push from OnLagging: %v", err)
			}
		}
	}}, nil)
	ctx := context.Background()
	for _, v := range []string{"a", "b", "c"} {
		if err := q.Push(ctx, item(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got := drain(q); !slices.Equal(got, []string{"lagging", "b", "c"}) {
		t.Fatalf("got %q", got)
	}
	if !slices.Equal(calls, []bool{true, false}) {
		t.Fatalf("calls %v", calls)
	}
}

func TestRingGrowsAndReleases(t *testing.T) {
	q, err := sendq.New[int](&sendq.Options{MaxMessages: 100, PriorityMaxMessages: 4, Policy: sendq.CoalesceByKey})
	if err != nil {
		t.Fatal(err)
	}
	if n, p := q.Slots(); n != 0 || p != 0 {
		t.Fatalf("new queue has %d+%d slots, want none", n, p)
	}
	ctx := context.Background()
	// A keyed item replaced after the ring has grown keeps its place.
	q.Push(ctx, sendq.Item[int]{Value: 1000, Key: "k"})
	for i := range 20 {
		q.Push(ctx, sendq.Item[int]{Value: 2000 + i})
	}
	q.Push(ctx, sendq.Item[int]{Value: 1001, Key: "k"})
	if it, _ := q.TryNext(); it.Value != 1001 {
		t.Fatalf("first item %d, want the coalesced 1001", it.Value)
	}
	for range 20 {
		q.TryNext()
	}
	for i := range 150 { // wraps the ring while it grows
		if err := q.Push(ctx, sendq.Item[int]{Value: i}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			q.TryNext()
		}
	}
	if n, _ := q.Slots(); n != 100 {
		t.Fatalf("normal lane has %d slots, want 100 (its bound)", n)
	}
	q.Push(ctx, sendq.Item[int]{Value: -1, Priority: true})
	prev := -2
	for {
		it, ok := q.TryNext()
		if !ok {
			break
		}
		if prev == -2 && it.Value != -1 {
			t.Fatalf("priority item not first: %d", it.Value)
		}
		if prev >= 0 && it.Value <= prev {
			t.Fatalf("order broken: %d after %d", it.Value, prev)
		}
		prev = it.Value
	}
	if prev != 149 {
		t.Fatalf("last item %d, want 149", prev)
	}
	if n, _ := q.Slots(); n != 100 {
		t.Fatalf("a drain after a burst that needed them released the slots (%d left)", n)
	}
	// A small burst, then drained: the large buffer is dropped.
	q.Push(ctx, sendq.Item[int]{Value: 1})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Next(cctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next on empty queue: %v", err)
	}
	if n, p := q.Slots(); n != 0 || p != 0 {
		t.Fatalf("idle queue keeps %d+%d slots, want none", n, p)
	}
	if err := q.Push(ctx, sendq.Item[int]{Value: 7}); err != nil {
		t.Fatal(err)
	}
	if it, ok := q.TryNext(); !ok || it.Value != 7 {
		t.Fatalf("after release: %v %v", it.Value, ok)
	}
}

func TestDoneAfterFinish(t *testing.T) {
	q, _ := sendq.New[int](nil)
	q.Close()
	select { // Done made after the queue finished is already closed
	case <-q.Done():
	default:
		t.Fatal("Done not closed for a closed empty queue")
	}
}

func TestPollReadyRelease(t *testing.T) {
	q, _ := sendq.New[string](nil)
	ctx := context.Background()
	if q.Ready() {
		t.Fatal("empty open queue is ready")
	}
	if _, ok, err := q.Poll(); ok || err != nil {
		t.Fatalf("Poll on empty open queue: %v %v", ok, err)
	}
	q.Push(ctx, item("a"))
	if !q.Ready() {
		t.Fatal("queue with an item is not ready")
	}
	if it, ok, err := q.Poll(); !ok || err != nil || it.Value != "a" {
		t.Fatalf("Poll: %q %v %v", it.Value, ok, err)
	}
	if n, _ := q.Slots(); n == 0 {
		t.Fatal("Poll released the slots; only Release or a waiting Next should")
	}
	q.Release()
	if n, p := q.Slots(); n != 0 || p != 0 {
		t.Fatalf("Release left %d+%d slots", n, p)
	}
	q.Push(ctx, item("b"))
	q.Release() // not empty: keeps the item
	q.Close()
	if !q.Ready() {
		t.Fatal("closed queue is not ready")
	}
	if it, ok, _ := q.Poll(); !ok || it.Value != "b" {
		t.Fatalf("item lost by Release: %q %v", it.Value, ok)
	}
	if _, ok, err := q.Poll(); ok || !errors.Is(err, sendq.ErrClosed) {
		t.Fatalf("Poll on drained closed queue: %v %v", ok, err)
	}
}

// TestPushBatchMatchesPush checks that PushBatch leaves a queue, its
// stats and its callbacks exactly as pushing the items one by one does.
func TestPushBatchMatchesPush(t *testing.T) {
	ctx := context.Background()
	fill := []sendq.Item[string]{item("a"), item("b"), item("c"), item("d"), item("e")}
	tests := []struct {
		name     string
		opt      sendq.Options
		callback bool // OnLagging and OnDrop set
		pre      []sendq.Item[string]
		batch    []sendq.Item[string]
		closed   bool // Close before the batch
	}{
		{name: "fits", opt: sendq.Options{MaxMessages: 8}, batch: fill[:3]},
		{name: "drop oldest", opt: sendq.Options{MaxMessages: 3}, batch: fill},
		{name: "drop oldest, callbacks", opt: sendq.Options{MaxMessages: 3, HighWatermark: 1, LowWatermark: 0.3}, callback: true, batch: fill},
		{name: "drop oldest, lagging told before", opt: sendq.Options{MaxMessages: 3}, callback: true, pre: fill[:3], batch: fill[3:]},
		{name: "high watermark, callbacks", opt: sendq.Options{MaxMessages: 4}, callback: true, batch: fill},
		{name: "byte bound", opt: sendq.Options{MaxBytes: 2}, callback: true, batch: fill},
		{name: "drop newest", opt: sendq.Options{Policy: sendq.DropNewest, MaxMessages: 3}, callback: true, batch: fill},
		{name: "drop newest, lagging told before", opt: sendq.Options{Policy: sendq.DropNewest, MaxMessages: 3}, callback: true, pre: fill[:3], batch: fill[3:]},
		{name: "disconnect", opt: sendq.Options{Policy: sendq.Disconnect, MaxMessages: 3}, callback: true, batch: fill},
		{name: "block with room", opt: sendq.Options{Policy: sendq.Block, MaxMessages: 8}, batch: fill},
		{name: "coalesce", opt: sendq.Options{Policy: sendq.CoalesceByKey, MaxMessages: 3}, callback: true,
			batch: []sendq.Item[string]{keyed("x", "x1"), item("n1"), keyed("x", "x2"), item("n2"), keyed("y", "y1"), item("n3")}},
		{name: "priority and too large", opt: sendq.Options{MaxMessages: 2, MaxBytes: 4}, callback: true,
			batch: []sendq.Item[string]{item("a"), prio("P"), item("too large"), item("b"), item("c"), {Value: "neg", Size: -1}}},
		{name: "per-item policy", opt: sendq.Options{MaxMessages: 2}, callback: true,
			batch: []sendq.Item[string]{item("a"), item("b"), {Value: "c", Size: 1, Policy: sendq.DropNewest}, {Value: "d", Size: 1, Policy: sendq.Disconnect}, item("e")}},
		{name: "closed", opt: sendq.Options{MaxMessages: 3}, callback: true, pre: fill[:1], batch: fill, closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(batch bool) ([]string, sendq.Stats, []string, int, error) {
				rec := &recorder{}
				if !tt.callback {
					rec = nil
				}
				o := tt.opt
				clock := newFakeClock()
				o.Clock = clock
				q := newQ(t, o, rec)
				for _, it := range tt.pre {
					q.Push(ctx, it)
				}
				if tt.closed {
					q.Close()
				}
				var n int
				var err error
				if batch {
					n, err = q.PushBatch(ctx, tt.batch)
				} else {
					for _, it := range tt.batch {
						switch e := q.Push(ctx, it); {
						case e == nil:
							n++
						case errors.Is(e, sendq.ErrDropped), errors.Is(e, sendq.ErrTooLarge):
						default:
							err = e
						}
						if err != nil {
							break
						}
					}
				}
				s := q.Stats()
				var ev []string
				if rec != nil {
					ev = rec.get()
				}
				return drain(q), s, ev, n, err
			}
			wantQ, wantS, wantEv, wantN, wantErr := run(false)
			gotQ, gotS, gotEv, gotN, gotErr := run(true)
			if !slices.Equal(gotQ, wantQ) {
				t.Errorf("queued %q, want %q", gotQ, wantQ)
			}
			if gotS != wantS {
				t.Errorf("stats %+v, want %+v", gotS, wantS)
			}
			if !slices.Equal(gotEv, wantEv) {
				t.Errorf("events %q, want %q", gotEv, wantEv)
			}
			if gotN != wantN || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
				t.Errorf("PushBatch = %d, %v; one by one %d, %v", gotN, gotErr, wantN, wantErr)
			}
		})
	}
}

// TestPushBatchWakesOnceAndStamps checks that a waiting consumer is woken
// for a batch and that items get one enqueue time unless they carry one.
func TestPushBatchWakesOnceAndStamps(t *testing.T) {
	clock := newFakeClock()
	q := newQ(t, sendq.Options{Clock: clock}, nil)
	ready := q.ReadyChan()
	stamped := time.Unix(100, 0)
	n, err := q.PushBatch(context.Background(), []sendq.Item[string]{item("a"), {Value: "b", Size: 1, Enqueued: stamped}, item("c")})
	if n != 3 || err != nil {
		t.Fatalf("PushBatch = %d, %v", n, err)
	}
	select {
	case <-ready:
	default:
		t.Fatal("waiting consumer not woken")
	}
	want := []time.Time{clock.Now(), stamped, clock.Now()}
	for i, w := range want {
		it, ok := q.TryNext()
		if !ok || !it.Enqueued.Equal(w) {
			t.Fatalf("item %d: %v %v, want enqueued %v", i, it.Enqueued, ok, w)
		}
	}
	if n, err := q.PushBatch(context.Background(), nil); n != 0 || err != nil {
		t.Fatalf("empty PushBatch = %d, %v", n, err)
	}
	// The slots for a batch are allocated at once, by doublings.
	q.Release()
	q.PushBatch(context.Background(), slices.Repeat([]sendq.Item[string]{item("x")}, 20))
	if n, _ := q.Slots(); n != 32 {
		t.Fatalf("%d slots for 20 items, want 32", n)
	}
	small := newQ(t, sendq.Options{MaxMessages: 20}, nil)
	small.PushBatch(context.Background(), slices.Repeat([]sendq.Item[string]{item("x")}, 30))
	if n, _ := small.Slots(); n != 20 || small.Stats().Depth != 20 {
		t.Fatalf("%d slots, depth %d, want 20 (the bound)", n, small.Stats().Depth)
	}
}
