package batch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wirespeed/wirespeed/batch"
)

// bulkServer serves createOrder behind a BulkHandler and counts requests.
type bulkServer struct {
	*httptest.Server
	handler  *batch.BulkHandler[order, created]
	requests atomic.Int64
	ran      atomic.Int64
}

func newBulkServer(t *testing.T, opts *batch.BulkOptions) *bulkServer {
	t.Helper()
	s := &bulkServer{}
	fn := func(ctx context.Context, o order) (created, error) { s.ran.Add(1); return createOrder(ctx, o) }
	s.handler = newBulk(t, fn, opts)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.handler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func orders(n int, failAt ...int) []order {
	items := make([]order, n)
	for i := range items {
		items[i] = order{SKU: fmt.Sprint(i), Qty: 1}
	}
	for _, i := range failAt {
		items[i].SKU = ""
	}
	return items
}

func newClient(t *testing.T, url string, opts *batch.BulkClientOptions) *batch.BulkClient[order, created] {
	t.Helper()
	c, err := batch.NewBulkClient[order, created](url, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkResults(t *testing.T, items []order, results []batch.ItemResult[created], failAt ...int) {
	t.Helper()
	if len(results) != len(items) {
		t.Fatalf("%d results for %d items", len(results), len(items))
	}
	fails := map[int]bool{}
	for _, i := range failAt {
		fails[i] = true
	}
	for i, r := range results {
		if r.Index != i {
			t.Fatalf("results[%d].Index = %d", i, r.Index)
		}
		if fails[i] {
			if r.Status != http.StatusUnprocessableEntity || r.Error == nil || r.Error.Detail != "sku is required" {
				t.Fatalf("item %d = %+v, want the 422", i, r)
			}
			continue
		}
		if !r.OK() || r.Result.SKU != items[i].SKU {
			t.Fatalf("item %d = %+v", i, r)
		}
	}
}

func TestBulkClientChunks(t *testing.T) {
	for _, conc := range []int{0, 3} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			srv := newBulkServer(t, nil)
			c := newClient(t, srv.URL, &batch.BulkClientOptions{ChunkSize: 1000, Concurrency: conc, Client: srv.Client()})
			items := orders(2500, 1234)
			results, err := c.Send(context.Background(), items)
			if err != nil {
				t.Fatal(err)
			}
			checkResults(t, items, results, 1234)
			if srv.requests.Load() != 3 {
				t.Fatalf("requests = %d, want 3 chunks", srv.requests.Load())
			}
		})
	}
}

// TestBulkClientSplitsOn413: a chunk over the server's limit is halved
// until it fits.
func TestBulkClientSplitsOn413(t *testing.T) {
	srv := newBulkServer(t, &batch.BulkOptions{MaxItems: 300})
	c := newClient(t, srv.URL, &batch.BulkClientOptions{ChunkSize: 1000, Client: srv.Client()})
	items := orders(1000, 0, 999)
	results, err := c.Send(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, items, results, 0, 999)
	// 1000 → 413, 500 → 413 ×2, 250 → ok ×4.
	if got := srv.requests.Load(); got != 7 {
		t.Fatalf("requests = %d, want 7", got)
	}
	if srv.ran.Load() != 1000 {
		t.Fatalf("items ran %d times", srv.ran.Load())
	}
}

func TestBulkClientChunkFailure(t *testing.T) {
	var n atomic.Int64
	h := newBulk(t, createOrder, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 { // the second chunk meets an outage
			w.Header().Set("Content-Type", batch.ProblemContentType)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"title":"Service Unavailable","detail":"maintenance"}`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, &batch.BulkClientOptions{ChunkSize: 10, Client: srv.Client()})
	items := orders(30)
	results, err := c.Send(context.Background(), items)
	var ce *batch.ChunkError
	if !errors.As(err, &ce) || ce.First != 10 || ce.Count != 10 || ce.Status != 503 || ce.Problem.Detail != "maintenance" {
		t.Fatalf("err = %v (%+v)", err, ce)
	}
	for i, r := range results {
		inFailed := i >= 10 && i < 20
		if r.Index != i || inFailed != !r.OK() {
			t.Fatalf("item %d = %+v", i, r)
		}
		if inFailed && (r.Status != 503 || r.Error.Detail != "maintenance") {
			t.Fatalf("item %d = %+v", i, r)
		}
	}
	if !strings.Contains(err.Error(), "items 10 to 19") {
		t.Fatalf("error text: %v", err)
	}
}

func TestBulkClientBadResponse(t *testing.T) {
	for _, tt := range []struct{ name, body string }{
		{"too few", `{"results":[{"index":0,"status":200}]}`},
		{"repeated index", `{"results":[{"index":0,"status":200},{"index":0,"status":200}]}`},
		{"index out of range", `{"results":[{"index":0,"status":200},{"index":5,"status":200}]}`},
		{"not json", `<html>`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, &batch.BulkClientOptions{Client: srv.Client()})
			results, err := c.Send(context.Background(), orders(2))
			if !errors.Is(err, batch.ErrBadResponse) {
				t.Fatalf("err = %v, want ErrBadResponse", err)
			}
			for _, r := range results {
				if r.OK() {
					t.Fatalf("item of a bad response reported OK: %+v", r)
				}
			}
		})
	}
}

func TestBulkClientNoServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newClient(t, url, nil)
	results, err := c.Send(context.Background(), orders(3))
	var ce *batch.ChunkError
	if !errors.As(err, &ce) || ce.Status != 0 || ce.Err == nil {
		t.Fatalf("err = %v", err)
	}
	if results[2].Status != 0 || results[2].Error == nil || results[2].Index != 2 {
		t.Fatalf("result = %+v", results[2])
	}
}

// roundTripFunc serves requests in process.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBulkClientCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var reqs atomic.Int64
	h := newBulk(t, createOrder, nil)
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		reqs.Add(1)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		cancel() // the caller gives up once the first chunk is answered
		return rec.Result(), nil
	})}
	c := newClient(t, "http://bulk.test/orders", &batch.BulkClientOptions{ChunkSize: 5, Client: client})
	results, err := c.Send(ctx, orders(20))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if reqs.Load() != 1 {
		t.Fatalf("requests after cancel: %d", reqs.Load())
	}
	if !results[0].OK() || results[19].Status != 0 || !strings.Contains(results[19].Error.Detail, "not sent") {
		t.Fatalf("results: %+v ... %+v", results[0], results[19])
	}
}

// TestBulkClientIdempotentRetry: sending the same list again with the same
// key prefix replays every chunk instead of creating the items twice.
func TestBulkClientIdempotentRetry(t *testing.T) {
	store, _ := batch.NewMemoryStore(nil)
	srv := newBulkServer(t, &batch.BulkOptions{Idempotency: store})
	c := newClient(t, srv.URL, &batch.BulkClientOptions{ChunkSize: 4, Client: srv.Client(), IdempotencyKeyPrefix: "import-7f3a"})
	items := orders(10, 3)
	first, err := c.Send(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Send(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, items, second, 3)
	if srv.ran.Load() != 10 {
		t.Fatalf("items ran %d times, want 10", srv.ran.Load())
	}
	if first[5].Result != second[5].Result {
		t.Fatal("replayed result differs")
	}
	if st := srv.handler.Stats(); st.Replays != 3 {
		t.Fatalf("replays = %d", st.Replays)
	}
}

func TestBulkClientHeaderAndEmpty(t *testing.T) {
	var auth atomic.Value
	h := newBulk(t, createOrder, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	hdr := http.Header{"Authorization": {"Bearer t0ken"}}
	c := newClient(t, srv.URL, &batch.BulkClientOptions{Header: hdr})
	hdr.Set("Authorization", "changed") // the client copied it
	if _, err := c.Send(context.Background(), orders(1)); err != nil {
		t.Fatal(err)
	}
	if auth.Load() != "Bearer t0ken" {
		t.Fatalf("Authorization = %v", auth.Load())
	}
	results, err := c.Send(context.Background(), nil)
	if err != nil || len(results) != 0 {
		t.Fatalf("empty send: %v, %v", results, err)
	}
}

func TestNewBulkClientValidates(t *testing.T) {
	for _, u := range []string{"", "/relative", "ftp://x/y", "http://"} {
		if _, err := batch.NewBulkClient[order, created](u, nil); err == nil {
			t.Errorf("endpoint %q accepted", u)
		}
	}
	if _, err := batch.NewBulkClient[order, created]("http://x/", &batch.BulkClientOptions{ChunkSize: -1}); err == nil {
		t.Error("negative ChunkSize accepted")
	}
}
