package sendq_test

import (
	"context"
	"testing"

	"github.com/wirespeed/wirespeed/internal/sendq"
)

func BenchmarkPushNext(b *testing.B) {
	q, _ := sendq.New[[]byte](nil)
	ctx := context.Background()
	msg := make([]byte, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		_ = q.Push(ctx, sendq.Item[[]byte]{Value: msg, Size: len(msg)})
		_, _ = q.Next(ctx)
	}
}

func BenchmarkPushFullDropOldest(b *testing.B) {
	q, _ := sendq.New[[]byte](&sendq.Options{MaxMessages: 64})
	ctx := context.Background()
	msg := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		_ = q.Push(ctx, sendq.Item[[]byte]{Value: msg, Size: len(msg)})
	}
	b.ReportMetric(float64(q.Stats().DroppedOldest)/float64(b.N), "drops/op")
}

func BenchmarkCoalesce(b *testing.B) {
	q, _ := sendq.New[[]byte](&sendq.Options{Policy: sendq.CoalesceByKey})
	ctx := context.Background()
	msg := make([]byte, 64)
	keys := []string{"BTC", "ETH", "SOL", "ADA"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = q.Push(ctx, sendq.Item[[]byte]{Value: msg, Size: len(msg), Key: keys[i%4]})
		i++
	}
}
