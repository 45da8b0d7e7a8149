package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wirespeed/wirespeed/batch"
)

// The batch comparisons (issue 7):
//
//   - BenchmarkBatchDo: batch.Group.Do against x/sync/singleflight, with no
//     contention and with 64 goroutines on one key. Goal: ≤ 1.2× its ns/op.
//   - BenchmarkBatchLoader: dataloadgen's "unique keys" and "10
//     concurrently" cases against dataloadgen and graph-gophers/dataloader.
//     Goal: ≤ 1.0× dataloadgen.
//   - BenchmarkBatchBulk: 1000 items in one bulk request against 1000
//     requests over keep-alive, on loopback; reports the ratio.
//
// TestBatchPeersAgree checks the implementations give the same answers, so
// the benchmarks compare like with like.

// doCase is one way of calling a coalescing group in BenchmarkBatchDo.
type doCase struct {
	name string
	// make returns the call to measure; calls counts the function
	// executions, so the benchmark can report how many callers shared each.
	make func(calls *atomic.Int64) func()
}

func doCases(cancellable context.Context) []doCase {
	return []doCase{
		{"singleflight", func(calls *atomic.Int64) func() {
			var g singleflight.Group
			fn := func() (any, error) { calls.Add(1); return 1, nil }
			return func() { g.Do("k", fn) }
		}},
		// DoChan plus a select is how singleflight callers get a wait that
		// their context can end; it runs every call on a new goroutine.
		{"singleflight-DoChan", func(calls *atomic.Int64) func() {
			var g singleflight.Group
			fn := func() (any, error) { calls.Add(1); return 1, nil }
			return func() {
				select {
				case <-g.DoChan("k", fn):
				case <-cancellable.Done():
				}
			}
		}},
		{"wirespeed", func(calls *atomic.Int64) func() {
			var g batch.Group[string, int]
			fn := func(context.Context) (int, error) { calls.Add(1); return 1, nil }
			return func() { g.Do(context.Background(), "k", fn) }
		}},
		// A caller whose context can be cancelled (an HTTP request's) makes
		// the call run on a goroutine of its own so the caller can leave.
		{"wirespeed-cancellable", func(calls *atomic.Int64) func() {
			var g batch.Group[string, int]
			fn := func(context.Context) (int, error) { calls.Add(1); return 1, nil }
			return func() { g.Do(cancellable, "k", fn) }
		}},
	}
}

func BenchmarkBatchDo(b *testing.B) {
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	// 64 goroutines: RunParallel starts parallelism × GOMAXPROCS of them.
	par := max(1, 64/runtime.GOMAXPROCS(0))

	b.Run("uncontended", func(b *testing.B) {
		for _, c := range doCases(cancellable) {
			b.Run(c.name, func(b *testing.B) {
				var calls atomic.Int64
				do := c.make(&calls)
				b.ReportAllocs()
				for b.Loop() {
					do()
				}
			})
		}
	})
	b.Run("64goroutines", func(b *testing.B) {
		for _, c := range doCases(cancellable) {
			b.Run(c.name, func(b *testing.B) {
				var calls atomic.Int64
				do := c.make(&calls)
				b.ReportAllocs()
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						do()
					}
				})
				b.ReportMetric(float64(b.N)/float64(max(1, calls.Load())), "callers/call")
			})
		}
	})
}

func BenchmarkBatchLoader(b *testing.B) {
	ctx := context.Background()
	b.Run("unique_keys", func(b *testing.B) {
		for _, impl := range loaderImpls {
			b.Run(impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					l := impl.make()
					for _, th := range uniqueKeys(l, ctx) {
						th()
					}
					l.close()
				}
			})
		}
	})
	b.Run("10_concurrently", func(b *testing.B) {
		for _, impl := range loaderImpls {
			b.Run(impl.name, func(b *testing.B) {
				b.ReportAllocs()
				results := make([]user, 10)
				for b.Loop() {
					l := impl.make()
					tenConcurrently(l, ctx, results)
					l.close()
				}
			})
		}
	})
}

// BenchmarkBatchBulk creates 1000 items per iteration twice: in one bulk
// request (through batch.BulkClient) and in 1000 single-item requests over
// keep-alive connections, one at a time ("sequential") or 8 at a time
// ("8workers", matching the bulk handler's default concurrency). It reports
// the time of each path per iteration and the ratio individual/bulk.
func BenchmarkBatchBulk(b *testing.B) {
	const n = 1000
	items := bulkItems(n)
	for _, workers := range []int{1, 8} {
		name := "sequential"
		if workers > 1 {
			name = fmt.Sprintf("%dworkers", workers)
		}
		b.Run(name, func(b *testing.B) {
			srv := newItemServer(b)
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			bc, err := batch.NewBulkClient[bulkItem, bulkCreated](srv.URL+"/items/bulk", &batch.BulkClientOptions{Client: client})
			if err != nil {
				b.Fatal(err)
			}
			var bulkTime, eachTime time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if _, err := bc.Send(context.Background(), items); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, _, err := createEach(client, srv.URL, items, workers); err != nil {
					b.Fatal(err)
				}
				bulkTime += t1.Sub(t0)
				eachTime += time.Since(t1)
			}
			b.ReportMetric(float64(bulkTime.Microseconds())/float64(b.N), "bulk-µs/op")
			b.ReportMetric(float64(eachTime.Microseconds())/float64(b.N), "individual-µs/op")
			b.ReportMetric(float64(eachTime)/float64(bulkTime), "individual/bulk")
		})
	}
}

// TestBatchPeersAgree: the compared implementations give the same answers.
func TestBatchPeersAgree(t *testing.T) {
	t.Run("Do", func(t *testing.T) {
		var sf singleflight.Group
		var ws batch.Group[string, int]
		for i := range 50 {
			key := fmt.Sprint("k", i%7)
			a, errA, _ := sf.Do(key, func() (any, error) { return len(key) * i, nil })
			b, errB, _ := ws.Do(context.Background(), key, func(context.Context) (int, error) { return len(key) * i, nil })
			if a.(int) != b || errA != nil || errB != nil {
				t.Fatalf("%s: singleflight %v %v, wirespeed %v %v", key, a, errA, b, errB)
			}
		}
	})

	t.Run("thundering herd", func(t *testing.T) {
		// 1000 concurrent callers, one backend call. The call holds until
		// every caller waits, so the count does not depend on scheduling.
		// (singleflight has no way to tell when callers have joined, so it
		// cannot be held the same way; its herd behaviour is the same by
		// design.)
		const n = 1000
		var ws batch.Group[string, int]
		var calls atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ws.Do(context.Background(), "k", func(context.Context) (int, error) {
					calls.Add(1)
					for ws.Stats().Waiting < n {
						time.Sleep(100 * time.Microsecond)
					}
					return 1, nil
				})
			}()
		}
		wg.Wait()
		if calls.Load() != 1 {
			t.Fatalf("%d backend calls for %d callers", calls.Load(), n)
		}
	})

	t.Run("loaders", func(t *testing.T) {
		ctx := context.Background()
		type answer struct {
			u   user
			err error
		}
		answers := map[string][]answer{}
		for _, impl := range loaderImpls {
			l := impl.make()
			got := make([]answer, 250)
			var wg sync.WaitGroup
			for k := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					u, err := l.load(ctx, k)
					got[k] = answer{u, err}
				}()
			}
			wg.Wait()
			for _, th := range uniqueKeys(l, ctx) { // cached by now
				th()
			}
			results := make([]user, 10)
			tenConcurrently(l, ctx, results)
			for i, u := range results {
				if want, _ := lookupUser(i); u != want {
					t.Fatalf("%s 10 concurrently: key %d = %+v", impl.name, i, u)
				}
			}
			l.close()
			answers[impl.name] = got
		}
		for k := range 250 {
			want, wantErr := lookupUser(k)
			for name, got := range answers {
				a := got[k]
				if a.u != want || (a.err == nil) != (wantErr == nil) {
					t.Fatalf("%s key %d = %+v, %v; want %+v, %v", name, k, a.u, a.err, want, wantErr)
				}
				if a.err != nil && !errors.Is(a.err, errUserNotFound) && a.err.Error() != errUserNotFound.Error() {
					t.Fatalf("%s key %d error %v", name, k, a.err)
				}
			}
		}
	})

	t.Run("bulk vs individual", func(t *testing.T) {
		srv := newItemServer(t)
		tr := &http.Transport{MaxIdleConnsPerHost: 8}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		items := bulkItems(600)
		bc, err := batch.NewBulkClient[bulkItem, bulkCreated](srv.URL+"/items/bulk", &batch.BulkClientOptions{Client: client, ChunkSize: 250, Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		bulk, err := bc.Send(context.Background(), items)
		if err != nil {
			t.Fatal(err)
		}
		statuses, each, err := createEach(client, srv.URL, items, 4)
		if err != nil {
			t.Fatal(err)
		}
		var bulkIDs, eachIDs []int64
		for i := range items {
			if bulk[i].Status != statuses[i] {
				t.Fatalf("item %d: bulk status %d, individual %d", i, bulk[i].Status, statuses[i])
			}
			if bulk[i].OK() {
				if bulk[i].Result.Name != each[i].Name || bulk[i].Result.Price != each[i].Price {
					t.Fatalf("item %d: bulk %+v, individual %+v", i, bulk[i].Result, each[i])
				}
				bulkIDs = append(bulkIDs, bulk[i].Result.ID)
				eachIDs = append(eachIDs, each[i].ID)
			}
		}
		// Every created item got its own ID on both paths.
		for _, ids := range [][]int64{bulkIDs, eachIDs} {
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			for i := 1; i < len(ids); i++ {
				if ids[i] == ids[i-1] {
					t.Fatalf("duplicate id %d", ids[i])
				}
			}
		}
		if len(bulkIDs) != 600-2 {
			t.Fatalf("%d items created, want 598", len(bulkIDs))
		}
	})
}
