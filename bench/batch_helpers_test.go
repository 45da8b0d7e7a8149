package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graph-gophers/dataloader/v7"
	"github.com/vikstrous/dataloadgen"

	"github.com/wirespeed/wirespeed/batch"
)

// The loader cases are vikstrous/dataloadgen's benchmark cases (its README's
// "unique keys" and "10 concurrently" charts; benchmark/benchmarks_test.go
// in its repository): batches of at most 100 keys, a 500ns window, and a
// fetch that fails every key with key%100 == 1.
const (
	loaderMaxBatch = 100
	loaderWait     = 500 * time.Nanosecond
)

// user is the value of the loader cases.
type user struct {
	ID   string
	Name string
}

var errUserNotFound = errors.New("user not found")

func lookupUser(key int) (user, error) {
	if key%100 == 1 {
		return user{}, errUserNotFound
	}
	return user{ID: strconv.Itoa(key), Name: "user " + strconv.Itoa(key)}, nil
}

// benchLoader is what the loader cases need from each implementation: a
// fresh loader per iteration, as in dataloadgen's benchmarks.
type benchLoader interface {
	// thunk queues key and returns a function that waits for its value.
	thunk(ctx context.Context, key int) func() (user, error)
	// load queues key and waits for its value.
	load(ctx context.Context, key int) (user, error)
	close()
}

type loaderImpl struct {
	name string
	make func() benchLoader
}

var loaderImpls = []loaderImpl{
	{"wirespeed", newWirespeedLoader},
	{"dataloadgen", newDataloadgen},
	{"graph-gophers", newGraphGophers},
}

// wirespeed: Cache on, since both peers cache for the loader's lifetime by
// default.
type wirespeedLoader struct{ l *batch.Loader[int, user] }

func newWirespeedLoader() benchLoader {
	l, err := batch.NewLoader(func(_ context.Context, keys []int) ([]user, []error) {
		users := make([]user, len(keys))
		errs := make([]error, len(keys))
		for i, k := range keys {
			users[i], errs[i] = lookupUser(k)
		}
		return users, errs
	}, &batch.LoaderOptions{MaxBatch: loaderMaxBatch, Wait: loaderWait, Cache: true})
	if err != nil {
		panic(err)
	}
	return wirespeedLoader{l}
}

func (w wirespeedLoader) thunk(ctx context.Context, key int) func() (user, error) {
	return w.l.LoadThunk(ctx, key)
}
func (w wirespeedLoader) load(ctx context.Context, key int) (user, error) { return w.l.Load(ctx, key) }
func (w wirespeedLoader) close()                                          { w.l.Close() }

type dataloadgenLoader struct {
	l *dataloadgen.Loader[int, user]
}

func newDataloadgen() benchLoader {
	return dataloadgenLoader{dataloadgen.NewLoader(func(_ context.Context, keys []int) ([]user, []error) {
		users := make([]user, len(keys))
		errs := make([]error, len(keys))
		for i, k := range keys {
			users[i], errs[i] = lookupUser(k)
		}
		return users, errs
	}, dataloadgen.WithBatchCapacity(loaderMaxBatch), dataloadgen.WithWait(loaderWait))}
}

func (d dataloadgenLoader) thunk(ctx context.Context, key int) func() (user, error) {
	return d.l.LoadThunk(ctx, key)
}
func (d dataloadgenLoader) load(ctx context.Context, key int) (user, error) {
	return d.l.Load(ctx, key)
}
func (d dataloadgenLoader) close() {}

type graphGophersLoader struct{ l *dataloader.Loader[int, user] }

func newGraphGophers() benchLoader {
	return graphGophersLoader{dataloader.NewBatchedLoader(func(_ context.Context, keys []int) []*dataloader.Result[user] {
		res := make([]*dataloader.Result[user], len(keys))
		for i, k := range keys {
			u, err := lookupUser(k)
			res[i] = &dataloader.Result[user]{Data: u, Error: err}
		}
		return res
	},
		dataloader.WithBatchCapacity[int, user](loaderMaxBatch),
		dataloader.WithWait[int, user](loaderWait),
	)}
}

func (g graphGophersLoader) thunk(ctx context.Context, key int) func() (user, error) {
	return g.l.Load(ctx, key)
}
func (g graphGophersLoader) load(ctx context.Context, key int) (user, error) {
	return g.l.Load(ctx, key)()
}
func (g graphGophersLoader) close() {}

// uniqueKeys is dataloadgen's "unique keys" case: one goroutine queues 100
// distinct keys, then waits for them all.
func uniqueKeys(l benchLoader, ctx context.Context) []func() (user, error) {
	thunks := make([]func() (user, error), 100)
	for i := range thunks {
		thunks[i] = l.thunk(ctx, i)
	}
	return thunks
}

// tenConcurrentLoads is how many times each goroutine of the "10
// concurrently" case loads its key. dataloadgen's benchmark uses b.N here,
// which makes an iteration's cost grow with b.N, so peers run at different
// b.N are not comparable; a constant keeps ns/op meaningful.
const tenConcurrentLoads = 100

// tenConcurrently is dataloadgen's "10 concurrently" case: 10 goroutines
// each load their own key repeatedly (the first load is batched, the rest
// hit the cache).
func tenConcurrently(l benchLoader, ctx context.Context, results []user) {
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tenConcurrentLoads {
				results[i], _ = l.load(ctx, i)
			}
		}()
	}
	wg.Wait()
}

// The bulk comparison creates items on a loopback server, either all in one
// bulk request or one request per item over keep-alive connections.

type bulkItem struct {
	Name  string `json:"name"`
	Price int    `json:"price"`
}

type bulkCreated struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Price int    `json:"price"`
}

// itemStore stands in for the application: it validates and "creates" an
// item. Every 250th item is invalid, so both paths report failures.
type itemStore struct{ nextID atomic.Int64 }

func (s *itemStore) create(_ context.Context, it bulkItem) (bulkCreated, error) {
	if it.Price <= 0 {
		return bulkCreated{}, batch.NewProblem(http.StatusUnprocessableEntity, "price must be positive")
	}
	return bulkCreated{ID: s.nextID.Add(1), Name: it.Name, Price: it.Price}, nil
}

func bulkItems(n int) []bulkItem {
	items := make([]bulkItem, n)
	for i := range items {
		items[i] = bulkItem{Name: fmt.Sprintf("item-%d", i), Price: 100 + i}
		if i%250 == 249 {
			items[i].Price = 0
		}
	}
	return items
}

// itemServer serves POST /items (one item, the usual REST endpoint) and
// POST /items/bulk (a BulkHandler) over loopback HTTP/1.1 with keep-alive.
type itemServer struct {
	*httptest.Server
	store itemStore
}

func newItemServer(tb testing.TB) *itemServer {
	tb.Helper()
	s := &itemServer{}
	bulk, err := batch.NewBulkHandler(s.store.create, &batch.BulkOptions{SuccessStatus: http.StatusCreated})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /items/bulk", bulk)
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		var it bulkItem
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&it); err != nil {
			http.Error(w, "bad item", http.StatusBadRequest)
			return
		}
		res, err := s.store.create(r.Context(), it)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			var p *batch.Problem
			errors.As(err, &p)
			w.WriteHeader(p.Status)
			json.NewEncoder(w).Encode(p)
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(res)
	})
	s.Server = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

// createOne posts one item and returns its status and, on success, the
// created item.
func createOne(client *http.Client, url string, it bulkItem) (int, bulkCreated, error) {
	body, _ := json.Marshal(it)
	resp, err := client.Post(url+"/items", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, bulkCreated{}, err
	}
	defer resp.Body.Close()
	var c bulkCreated
	if resp.StatusCode == http.StatusCreated {
		err = json.NewDecoder(resp.Body).Decode(&c)
	} else {
		var p batch.Problem
		err = json.NewDecoder(resp.Body).Decode(&p)
	}
	return resp.StatusCode, c, err
}

// createEach posts every item on its own request, with `workers` requests
// in flight at a time, and returns the status of each.
func createEach(client *http.Client, url string, items []bulkItem, workers int) ([]int, []bulkCreated, error) {
	statuses := make([]int, len(items))
	created := make([]bulkCreated, len(items))
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				st, c, err := createOne(client, url, items[i])
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				statuses[i], created[i] = st, c
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, nil, err
	}
	return statuses, created, nil
}
