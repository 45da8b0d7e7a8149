package paginate_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wirespeed/wirespeed/paginate"
)

func TestCachedCount(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Bool
	cc := paginate.NewCachedCount(func(context.Context) (paginate.Count, error) {
		if fail.Load() {
			return paginate.Count{}, errors.New("db down")
		}
		return paginate.Count{N: calls.Add(1)}, nil
	}, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if c, err := cc.Get(ctx); err != nil || c.N != 1 {
				t.Errorf("Get = %v, %v", c, err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("computed %d times", calls.Load())
	}
	cc.Invalidate()
	if c, _ := cc.Get(ctx); c.N != 2 {
		t.Fatalf("after Invalidate: %v", c)
	}
	fail.Store(true)
	cc.Invalidate()
	if c, err := cc.Get(ctx); err != nil || c.N != 2 {
		t.Fatalf("failing refresh should serve the old value: %v %v", c, err)
	}
	fresh := paginate.NewCachedCount(func(context.Context) (paginate.Count, error) {
		return paginate.Count{}, errors.New("db down")
	}, 0)
	if _, err := fresh.Get(ctx); err == nil {
		t.Fatal("no value and failing fn: want error")
	}
	if s := cc.Stats(); s.Computes != 2 || s.Value.N != 2 || s.At.IsZero() {
		t.Fatalf("stats %+v", s)
	}
}
