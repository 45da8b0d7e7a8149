package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

func value(context.Context) (int, error) { return 1, nil }

// BenchmarkGroupDo measures Do with no contention and with 64 goroutines on
// one key, for a context that cannot be cancelled (fn runs on the caller's
// goroutine) and one that can (fn runs on its own goroutine).
// bench/batch_test.go runs the same cases next to x/sync/singleflight.
func BenchmarkGroupDo(b *testing.B) {
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"background", context.Background()}, {"cancellable", cancellable}} {
		b.Run("uncontended/"+c.name, func(b *testing.B) {
			var g batch.Group[string, int]
			b.ReportAllocs()
			for b.Loop() {
				g.Do(c.ctx, "k", value)
			}
		})
		b.Run("64goroutines/"+c.name, func(b *testing.B) {
			var g batch.Group[string, int]
			b.ReportAllocs()
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 goroutines
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					g.Do(c.ctx, "k", value)
				}
			})
			st := g.Stats()
			b.ReportMetric(float64(st.Requests)/float64(max(1, st.Calls)), "callers/call")
		})
	}
}

// BenchmarkLoader runs dataloadgen's "unique keys" and "10 concurrently"
// cases (see bench/batch_test.go for their definitions and the peers).
func BenchmarkLoader(b *testing.B) {
	fetch := func(_ context.Context, keys []int) ([]string, []error) {
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = "user " + strconv.Itoa(k)
		}
		return vals, nil
	}
	opts := &batch.LoaderOptions{MaxBatch: 100, Wait: 500 * time.Nanosecond, Cache: true}
	ctx := context.Background()
	b.Run("unique_keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, _ := batch.NewLoader(fetch, opts)
			thunks := make([]func() (string, error), 100)
			for i := range thunks {
				thunks[i] = l.LoadThunk(ctx, i)
			}
			for _, th := range thunks {
				th()
			}
		}
	})
	b.Run("10_concurrently", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, _ := batch.NewLoader(fetch, opts)
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 100 {
						l.Load(ctx, i)
					}
				}()
			}
			wg.Wait()
			l.Close()
		}
	})
}

// BenchmarkBulkHandler measures the handler alone (no network) on 1000
// items: decoding, running with the default concurrency, encoding.
func BenchmarkBulkHandler(b *testing.B) {
	h, err := batch.NewBulkHandler(createOrder, &batch.BulkOptions{SuccessStatus: http.StatusCreated})
	if err != nil {
		b.Fatal(err)
	}
	items := orders(1000)
	body, _ := json.Marshal(items)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
}
