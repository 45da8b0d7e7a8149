// Command batch shows the three tools of package batch on a small shop
// backend, then exits:
//
//   - a cache miss storm: 100 concurrent requests for one product make one
//     backend call (batch.Group);
//   - 20 resolvers asking for users make one batched query, and a missing
//     user is ErrNotFound (batch.Loader);
//   - a bulk import of 2500 products through a local HTTP server, in chunks,
//     with one invalid product reported on its own, then a retry that the
//     server answers from its idempotency store (batch.BulkHandler and
//     batch.BulkClient).
//
// Run it with
//
//	go run ./examples/batch
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.SetFlags(0)
		log.Fatalf("batch: %v", err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	if err := cacheMissStorm(ctx, out); err != nil {
		return err
	}
	if err := batchedQueries(ctx, out); err != nil {
		return err
	}
	return bulkImport(ctx, out)
}

// cacheMissStorm: 100 requests for the same product arrive while its cache
// entry is missing; the Group sends one of them to the backend.
func cacheMissStorm(ctx context.Context, out io.Writer) error {
	const requests = 100
	var products batch.Group[string, string]
	var backendCalls atomic.Int64
	loadProduct := func(ctx context.Context) (string, error) {
		backendCalls.Add(1)
		// A real backend is simply slow. The demo holds the call until all
		// requests wait, so it prints the same numbers on every run.
		for products.Stats().Waiting < requests {
			time.Sleep(time.Millisecond)
		}
		return "espresso machine, 249 EUR", nil
	}

	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each request has its own deadline; it bounds only its own wait.
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			// The key says whose data it is: tenant and product.
			if _, err, _ := products.Do(ctx, "shop-1/product/42", loadProduct); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	st := products.Stats()
	fmt.Fprintf(out, "cache miss storm: %d requests, %d backend call, %d shared the result\n",
		st.Requests, backendCalls.Load(), st.Shared)
	return nil
}

// batchedQueries: resolvers load users one by one; the Loader turns them
// into one query.
func batchedQueries(ctx context.Context, out io.Writer) error {
	db := map[int]string{}
	for id := 1; id <= 30; id++ {
		if id != 13 { // user 13 was deleted
			db[id] = fmt.Sprintf("user-%d", id)
		}
	}
	var queries atomic.Int64
	var mu sync.Mutex
	var lastQuery []int
	fetch := batch.MapFetch(func(ctx context.Context, ids []int) (map[int]string, error) {
		queries.Add(1)
		mu.Lock()
		lastQuery = slices.Sorted(slices.Values(ids))
		mu.Unlock()
		found := make(map[int]string, len(ids))
		for _, id := range ids { // SELECT id, name FROM users WHERE id = ANY($1)
			if name, ok := db[id]; ok {
				found[id] = name
			}
		}
		return found, nil
	})
	// A loader per request, with the request's cache: a repeated id is
	// fetched once. MaxBatch 20 dispatches the batch as soon as all 20
	// distinct ids are in. The window (2ms by default) is raised so that
	// the demo prints one query even on a loaded machine, where the
	// goroutines below may take longer than 2ms to start.
	users, err := batch.NewLoader(fetch, &batch.LoaderOptions{MaxBatch: 20, Wait: time.Second, Cache: true})
	if err != nil {
		return err
	}
	defer users.Close()

	ids := []int{3, 13, 7, 3, 11, 20, 1, 2, 4, 5, 6, 8, 9, 10, 12, 14, 15, 16, 17, 18, 19, 3}
	names := make([]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, err := users.Load(ctx, id)
			switch {
			case errors.Is(err, batch.ErrNotFound):
				name = "(not found)"
			case err != nil:
				name = "error: " + err.Error()
			}
			names[i] = name
		}()
	}
	wg.Wait()
	fmt.Fprintf(out, "loader: %d loads (%d distinct ids), %d query for ids %v\n",
		len(ids), len(lastQuery), queries.Load(), lastQuery)
	fmt.Fprintf(out, "loader: user 7 = %s, user 13 = %s\n", names[2], names[1])
	return nil
}

type product struct {
	SKU   string `json:"sku"`
	Price int    `json:"price"` // in cents
}

type created struct {
	ID  int64  `json:"id"`
	SKU string `json:"sku"`
}

// bulkImport serves a bulk endpoint on a loopback port and imports 2500
// products through it in chunks.
func bulkImport(ctx context.Context, out io.Writer) error {
	var nextID, inserts atomic.Int64
	create := func(ctx context.Context, p product) (created, error) {
		if p.Price <= 0 {
			return created{}, batch.NewProblem(http.StatusUnprocessableEntity,
				fmt.Sprintf("price of %s must be positive", p.SKU))
		}
		inserts.Add(1)
		return created{ID: nextID.Add(1), SKU: p.SKU}, nil
	}
	store, err := batch.NewMemoryStore(nil)
	if err != nil {
		return err
	}
	handler, err := batch.NewBulkHandler(create, &batch.BulkOptions{
		SuccessStatus: http.StatusCreated,
		Idempotency:   store,
		// Keys are per API client, so one client cannot replay another's.
		IdempotencyScope: func(r *http.Request) string { return r.Header.Get("X-Client-ID") },
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /products/bulk", handler)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()

	products := make([]product, 2500)
	for i := range products {
		products[i] = product{SKU: fmt.Sprintf("sku-%04d", i), Price: 100 + i}
	}
	products[1234].Price = 0 // the one bad row of the import file

	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client, err := batch.NewBulkClient[product, created]("http://"+l.Addr().String()+"/products/bulk", &batch.BulkClientOptions{
		Client:               &http.Client{Transport: transport, Timeout: 30 * time.Second},
		ChunkSize:            1000,
		Concurrency:          2,
		Header:               http.Header{"X-Client-ID": {"importer-1"}},
		IdempotencyKeyPrefix: "import-2024-06-01",
	})
	if err != nil {
		return err
	}

	results, err := client.Send(ctx, products)
	if err != nil {
		return err
	}
	report := func(label string, results []batch.ItemResult[created]) {
		ok := 0
		for _, r := range results {
			if r.OK() {
				ok++
			} else {
				fmt.Fprintf(out, "bulk %s: item %d failed with %d: %s\n", label, r.Index, r.Status, r.Error.Detail)
			}
		}
		st := handler.Stats()
		fmt.Fprintf(out, "bulk %s: %d items, %d created, %d failed; server: %d requests, %d replayed, %d inserts\n",
			label, len(results), ok, len(results)-ok, st.Requests, st.Replays, inserts.Load())
	}
	report("import", results)

	// The importer crashed before it saw the answer and runs again: the
	// same key prefix makes the server replay every chunk.
	again, err := client.Send(ctx, products)
	if err != nil {
		return err
	}
	report("retry", again)
	return nil
}
