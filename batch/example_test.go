package batch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

// A cache miss storm: 100 concurrent requests for one profile make one
// backend call.
func ExampleGroup() {
	var profiles batch.Group[string, string]
	var backendCalls atomic.Int64
	fetchProfile := func(ctx context.Context) (string, error) {
		backendCalls.Add(1)
		// Hold the call until the whole herd waits, so the output does not
		// depend on scheduling. A real function would query a database.
		for profiles.Stats().Waiting < 100 {
			time.Sleep(time.Millisecond)
		}
		return "profile of user 42", nil
	}

	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// The key names the tenant: results are shared only within it.
			profiles.Do(ctx, "tenant-a/user-42", fetchProfile)
		}()
	}
	wg.Wait()
	st := profiles.Stats()
	fmt.Println("requests:", st.Requests, "backend calls:", backendCalls.Load(), "shared:", st.Shared)
	// Output: requests: 100 backend calls: 1 shared: 99
}

// A TTL shares a just-finished result with the callers that arrive right
// after it.
func ExampleNewGroup() {
	g := batch.NewGroup[string, int](&batch.GroupOptions{TTL: time.Minute})
	calls := 0
	price := func(context.Context) (int, error) { calls++; return 1999, nil }

	v, _, shared := g.Do(context.Background(), "sku-1", price)
	fmt.Println(v, shared)
	v, _, shared = g.Do(context.Background(), "sku-1", price)
	fmt.Println(v, shared, "calls:", calls)
	// Output:
	// 1999 false
	// 1999 true calls: 1
}

// Three resolvers ask for three users; the loader makes one query. A user
// the query does not find is ErrNotFound.
func ExampleLoader() {
	users := map[int]string{1: "ada", 2: "grace"}
	var queries [][]int
	var mu sync.Mutex
	fetch := batch.MapFetch(func(ctx context.Context, ids []int) (map[int]string, error) {
		mu.Lock()
		queries = append(queries, slices.Sorted(slices.Values(ids)))
		mu.Unlock()
		found := map[int]string{}
		for _, id := range ids {
			if name, ok := users[id]; ok {
				found[id] = name
			}
		}
		return found, nil // SELECT id, name FROM users WHERE id IN (...)
	})
	// MaxBatch 3 dispatches the batch as soon as the three keys are in.
	loader, err := batch.NewLoader(fetch, &batch.LoaderOptions{MaxBatch: 3, Wait: time.Minute})
	if err != nil {
		panic(err)
	}
	defer loader.Close()

	names := make([]string, 4)
	var wg sync.WaitGroup
	for _, id := range []int{1, 2, 3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, err := loader.Load(context.Background(), id)
			if errors.Is(err, batch.ErrNotFound) {
				name = "(not found)"
			}
			names[id] = name
		}()
	}
	wg.Wait()
	fmt.Println(names[1:], "queries:", queries)
	// Output: [ada grace (not found)] queries: [[1 2 3]]
}

// Batches never mix tenants: each fetch gets one tenant's keys and can use
// that tenant's credentials.
func ExampleScopedLoader() {
	fetch := func(ctx context.Context, tenant string, ids []int) ([]string, []error) {
		vals := make([]string, len(ids))
		for i, id := range ids {
			vals[i] = fmt.Sprintf("%s:%d", tenant, id) // query with the tenant's token
		}
		return vals, nil
	}
	loader, err := batch.NewScopedLoader(fetch, &batch.LoaderOptions{Wait: time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer loader.Close()
	a, _ := loader.Load(context.Background(), "acme", 7)
	b, _ := loader.Load(context.Background(), "globex", 7)
	fmt.Println(a, b)
	// Output: acme:7 globex:7
}

// A bulk import where one item fails: the response is 207 with a result or
// a problem per item.
func ExampleBulkHandler() {
	type product struct {
		SKU   string `json:"sku"`
		Price int    `json:"price"`
	}
	create := func(ctx context.Context, p product) (string, error) {
		if p.Price <= 0 {
			return "", batch.NewProblem(http.StatusUnprocessableEntity, "price must be positive")
		}
		return "created " + p.SKU, nil
	}
	h, err := batch.NewBulkHandler(create, &batch.BulkOptions{SuccessStatus: http.StatusCreated})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	body := `[{"sku":"a","price":100},{"sku":"b","price":0},{"sku":"c","price":5}]`
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	fmt.Print(string(out))
	// Output:
	// 207 Multi-Status
	// {"results":[{"index":0,"status":201,"result":"created a"},{"index":1,"status":422,"error":{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"price must be positive"}},{"index":2,"status":201,"result":"created c"}],"succeeded":2,"failed":1}
}

// The client splits a long list into requests the server accepts and
// merges the results, indexed in the whole list.
func ExampleBulkClient() {
	double := func(ctx context.Context, n int) (int, error) {
		if n == 13 {
			return 0, batch.NewProblem(http.StatusUnprocessableEntity, "unlucky")
		}
		return 2 * n, nil
	}
	h, _ := batch.NewBulkHandler(double, &batch.BulkOptions{MaxItems: 4})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	client, err := batch.NewBulkClient[int, int](srv.URL, &batch.BulkClientOptions{ChunkSize: 4, Concurrency: 2})
	if err != nil {
		panic(err)
	}
	items := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	results, err := client.Send(context.Background(), items)
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		if !r.OK() {
			fmt.Printf("item %d failed: %d %s\n", r.Index, r.Status, r.Error.Detail)
		}
	}
	fmt.Println("requests:", requests.Load(), "last:", results[9].Result)
	// Output:
	// item 3 failed: 422 unlucky
	// requests: 3 last: 38
}
