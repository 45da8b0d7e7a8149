package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

// The batch demo has three parts, each against an in-process "database"
// that counts its calls:
//
//   - GET /batch/storm?n=200: a cache miss storm. n concurrent lookups of
//     one product go through a batch.Group; the answer shows how many
//     reached the database.
//   - GET /batch/loader?n=50: n concurrent lookups of different users go
//     through a batch.Loader and become one query.
//   - GET /batch/bulk: a bulk import of ten products, one of them invalid,
//     through the batch.BulkHandler that also serves POST
//     /batch/products/bulk; the answer is the 207 response with one result
//     per item, then a retry with the same Idempotency-Key, replayed.

// batchMaxStorm bounds n of /batch/storm and /batch/loader.
const batchMaxStorm = 5000

// The loader collects keys for batchLoaderWait or until it has
// batchLoaderMax of them.
const (
	batchLoaderWait = 2 * time.Millisecond
	batchLoaderMax  = 500
)

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

type batchDemo struct {
	products batch.Group[string, batchProduct]
	users    *batch.Loader[int, batchUser]
	bulk     *batch.BulkHandler[batchNewProduct, batchProduct]

	stormMu   sync.Mutex // one storm at a time, so each one's numbers are its own
	stormSeq  atomic.Int64
	dbCalls   atomic.Int64 // product lookups that reached the database
	userQuery atomic.Int64 // user queries
	nextID    atomic.Int64
}

type batchProduct struct {
	ID    int64  `json:"id"`
	SKU   string `json:"sku"`
	Price int    `json:"price_cents"`
}

type batchUser struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type batchNewProduct struct {
	SKU   string `json:"sku"`
	Price int    `json:"price_cents"`
}

func setupBatch(ctx context.Context, sc *showcase) error {
	d := &batchDemo{}
	var err error
	d.users, err = batch.NewLoader(batch.MapFetch(d.queryUsers), &batch.LoaderOptions{Wait: batchLoaderWait, MaxBatch: batchLoaderMax})
	if err != nil {
		return err
	}
	store, err := batch.NewMemoryStore(&batch.MemoryStoreOptions{TTL: time.Hour, MaxEntries: 1000, MaxBytes: 8 << 20})
	if err != nil {
		d.users.Close()
		return err
	}
	d.bulk, err = batch.NewBulkHandler(d.createProduct, &batch.BulkOptions{
		MaxItems:      100,
		MaxBytes:      64 << 10,
		SuccessStatus: http.StatusCreated,
		Idempotency:   store,
		// The showcase has no logins; a real service scopes keys by the
		// authenticated client.
		IdempotencyScope: func(r *http.Request) string { return "showcase" },
	})
	if err != nil {
		d.users.Close()
		return err
	}

	sc.mux.HandleFunc("GET /batch/storm", d.storm)
	sc.mux.HandleFunc("GET /batch/loader", d.loader)
	sc.mux.HandleFunc("GET /batch/bulk", d.bulkDemo)
	sc.mux.Handle("POST /batch/products/bulk", d.bulk)
	sc.add(demo{
		Name:    "batch",
		Title:   "request coalescing, batching and bulk endpoints",
		Summary: "A cache miss storm of N concurrent lookups reaches the database once; N user lookups become one query; a bulk import answers 207 with a result or a problem per item (POST a JSON array to /batch/products/bulk to try your own, with an Idempotency-Key header to see replays).",
		Try: []link{
			{Label: "cache-miss storm", Href: "/batch/storm?n=200"},
			{Label: "50 user lookups, one query", Href: "/batch/loader?n=50"},
			{Label: "bulk import with one failing item", Href: "/batch/bulk"},
		},
		Measure: "/batch/loader?n=50",
		Stats: func() any {
			return struct {
				Group          batch.GroupStats  `json:"group"`
				Loader         batch.LoaderStats `json:"loader"`
				Bulk           batch.BulkStats   `json:"bulk"`
				ProductDBCalls int64             `json:"product_db_calls"`
				UserQueries    int64             `json:"user_queries"`
			}{d.products.Stats(), d.users.Stats(), d.bulk.Stats(), d.dbCalls.Load(), d.userQuery.Load()}
		},
		Close: d.users.Close,
	})
	return nil
}

// batchQueryN reads the n query parameter: 1 to batchMaxStorm, def if absent.
func batchQueryN(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("n")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > batchMaxStorm {
		return 0, fmt.Errorf("n must be a number from 1 to %d", batchMaxStorm)
	}
	return n, nil
}

// storm sends n concurrent lookups of one product through the Group.
func (d *batchDemo) storm(w http.ResponseWriter, r *http.Request) {
	n, err := batchQueryN(r, 200)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d.stormMu.Lock()
	defer d.stormMu.Unlock()
	// A fresh key per storm: each storm starts with a cold cache.
	key := fmt.Sprintf("shop-1/product/42#%d", d.stormSeq.Add(1))
	before := d.dbCalls.Load()
	waitingBefore := d.products.Stats().Waiting

	lookup := func(ctx context.Context) (batchProduct, error) {
		d.dbCalls.Add(1)
		// The database is slow; the demo holds the lookup until all n
		// requests wait (at most a second), so the numbers are the same on
		// every run. A request that arrives after the lookup finished
		// starts another one, and the answer would show it.
		deadline := time.Now().Add(time.Second)
		for d.products.Stats().Waiting < waitingBefore+n && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return batchProduct{}, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		return batchProduct{ID: 42, SKU: "espresso-machine", Price: 24900}, nil
	}

	start := time.Now()
	var wg sync.WaitGroup
	var shared, failed atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each request's own context: a client that leaves ends only
			// its own wait.
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			_, err, sh := d.products.Do(ctx, key, lookup)
			if err != nil {
				failed.Add(1)
			} else if sh {
				shared.Add(1)
			}
		}()
	}
	wg.Wait()
	calls := d.dbCalls.Load() - before
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value:  fmt.Sprintf("%d concurrent cache misses → %d database %s", n, calls, plural(calls, "call", "calls")),
			Detail: fmt.Sprintf("%d of the %d requests shared the first one's result instead of querying again.", shared.Load(), n),
		},
		"chart": chart{Kind: "bars", Baseline: true, Title: "database calls for one storm", Unit: "calls", Series: []chartSeries{{Name: "calls", Points: []chartPoint{
			{X: "without coalescing", Y: float64(n)}, {X: "batch.Group", Y: float64(calls)},
		}}}},
		"requests":                 n,
		"backend_calls":            calls,
		"shared_result":            shared.Load(),
		"failed":                   failed.Load(),
		"backend_calls_without_it": n,
		"elapsed_ms":               time.Since(start).Milliseconds(),
	})
}

// createProduct is the bulk import's item function.
func (d *batchDemo) createProduct(_ context.Context, p batchNewProduct) (batchProduct, error) {
	switch {
	case strings.TrimSpace(p.SKU) == "":
		return batchProduct{}, batch.NewProblem(http.StatusUnprocessableEntity, "sku is required")
	case p.Price <= 0:
		return batchProduct{}, batch.NewProblem(http.StatusUnprocessableEntity, fmt.Sprintf("price of %s must be positive", p.SKU))
	}
	return batchProduct{ID: d.nextID.Add(1), SKU: p.SKU, Price: p.Price}, nil
}

// queryUsers is the user "database": one call per batch.
func (d *batchDemo) queryUsers(_ context.Context, ids []int) (map[int]batchUser, error) {
	d.userQuery.Add(1)
	found := make(map[int]batchUser, len(ids))
	for _, id := range ids {
		if id%13 != 0 { // every 13th user was deleted
			found[id] = batchUser{ID: id, Name: "user-" + strconv.Itoa(id)}
		}
	}
	return found, nil
}

// loader sends n concurrent lookups of users 1..n through the Loader.
func (d *batchDemo) loader(w http.ResponseWriter, r *http.Request) {
	n, err := batchQueryN(r, 50)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	before := d.users.Stats()
	users := make([]batchUser, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			users[i], errs[i] = d.users.Load(r.Context(), i+1)
		}()
	}
	wg.Wait()
	after := d.users.Stats()
	var notFound []int
	failed := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, batch.ErrNotFound):
			notFound = append(notFound, i+1)
		default:
			failed++
		}
	}
	queries := after.Batches - before.Batches
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("%d lookups → %d %s", n, queries, plural(int64(queries), "query", "queries")),
			Detail: fmt.Sprintf("%d concurrent lookups of different users, collected for %s (or until %d keys) by batch.Loader and fetched with one IN (…) query; %d were not found and got batch.ErrNotFound.",
				n, fmtMS(ms(batchLoaderWait)), batchLoaderMax, len(notFound)),
		},
		"chart": chart{Kind: "bars", Baseline: true, Title: "database queries for the lookups", Unit: "queries", Series: []chartSeries{{Name: "queries", Points: []chartPoint{
			{X: "one per lookup", Y: float64(n)}, {X: "batch.Loader", Y: float64(queries)},
		}}}},
		"lookups":   n,
		"queries":   queries,
		"not_found": notFound,
		"failed":    failed,
		"first":     users[0],
	})
}

// bulkDemo imports ten products, one without a price, through the bulk
// handler, then retries with the same Idempotency-Key.
func (d *batchDemo) bulkDemo(w http.ResponseWriter, r *http.Request) {
	items := make([]batchNewProduct, 10)
	for i := range items {
		items[i] = batchNewProduct{SKU: fmt.Sprintf("mug-%02d", i), Price: 900 + 100*i}
	}
	items[6].Price = 0
	body, err := json.Marshal(items)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	key := fmt.Sprintf("showcase-import-%d", time.Now().UnixNano())
	call := func() *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(r.Context(), http.MethodPost, "/batch/products/bulk", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		d.bulk.ServeHTTP(rec, req)
		return rec
	}
	first := call()
	var resp json.RawMessage = first.Body.Bytes()
	retry := call()
	replayed := retry.Header().Get("Idempotent-Replayed") == "true"
	var br batch.BulkResponse[batchProduct]
	json.Unmarshal(first.Body.Bytes(), &br)
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("1 request, %d items → %d: %d created, %d rejected", len(items), first.Code, br.Succeeded, br.Failed),
			Detail: fmt.Sprintf("One bad item does not fail the batch: each item gets its own status. The retry with the same Idempotency-Key was %s.",
				map[bool]string{true: "replayed from the store, nothing created twice", false: "NOT replayed"}[replayed]),
		},
		"request":  items,
		"status":   first.Code,
		"response": resp,
		"retry_with_same_idempotency_key": map[string]any{
			"status":   retry.Code,
			"replayed": replayed,
			"same":     retry.Body.String() == first.Body.String(),
		},
	})
}
