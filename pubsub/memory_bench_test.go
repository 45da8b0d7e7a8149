package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
)

func BenchmarkMemoryPublish(b *testing.B) {
	m, _ := pubsub.NewMemory(nil)
	defer m.Close()
	ctx := context.Background()
	data := make([]byte, 128)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_, _ = m.Publish(ctx, "t", data)
	}
}

// BenchmarkMemoryFanout publishes to a topic read by n subscribers and
// reports deliveries per second.
func BenchmarkMemoryFanout(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			m, _ := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 1 << 16, MaxBytes: -1})
			defer m.Close()
			ctx := context.Background()
			var (
				wg        sync.WaitGroup
				delivered atomic.Int64
				lagged    atomic.Int64
			)
			for range n {
				sub, _ := m.Subscribe(ctx, "t", "")
				wg.Go(func() {
					defer sub.Close()
					for {
						msg, err := sub.Next(ctx)
						switch {
						case errors.Is(err, pubsub.ErrLagged):
							lagged.Add(1)
						case err != nil || string(msg.Data) == "stop":
							return
						default:
							delivered.Add(1)
						}
					}
				})
			}
			data := make([]byte, 64)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				_, _ = m.Publish(ctx, "t", data)
			}
			_, _ = m.Publish(ctx, "t", []byte("stop"))
			wg.Wait()
			b.ReportMetric(float64(delivered.Load())/time.Since(start).Seconds(), "deliveries/s")
			b.ReportMetric(float64(lagged.Load()), "lags")
		})
	}
}
