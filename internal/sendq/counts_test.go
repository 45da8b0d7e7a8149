package sendq_test

import (
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

func TestDropCountsFromQueue(t *testing.T) {
	var d sendq.DropCounts
	q, err := sendq.New[int](&sendq.Options{Policy: sendq.DropOldest, MaxMessages: 2, MaxBytes: 10, OnDrop: d.Count})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := range 5 {
		q.Push(t.Context(), sendq.Item[int]{Value: i, Size: 1})
	}
	q.Push(t.Context(), sendq.Item[int]{Value: 9, Size: 11}) // larger than MaxBytes
	q.Push(t.Context(), sendq.Item[int]{Value: 7, Size: 1, Policy: sendq.DropNewest})
	if got := [3]uint64{d.Oldest.Load(), d.TooLarge.Load(), d.Newest.Load()}; got != [3]uint64{3, 1, 1} {
		t.Fatalf("oldest, too large, newest = %v, want [3 1 1]", got)
	}
}

func TestSummarize(t *testing.T) {
	if s := sendq.Summarize(nil); s != (sendq.DepthSummary{}) {
		t.Fatalf("empty: %+v", s)
	}
	var stats []sendq.Stats
	for i := range 100 {
		stats = append(stats, sendq.Stats{Depth: i, PriorityDepth: 1, OldestAge: time.Duration(i) * time.Millisecond, Lagging: i >= 90})
	}
	got := sendq.Summarize(stats)
	want := sendq.DepthSummary{Max: 100, P50: 50, P99: 99, OldestAge: 99 * time.Millisecond, Lagging: 10}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
