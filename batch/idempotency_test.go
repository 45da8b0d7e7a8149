package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

func newStore(t *testing.T, opts *batch.MemoryStoreOptions) *batch.MemoryStore {
	t.Helper()
	s, err := batch.NewMemoryStore(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBulkIdempotency(t *testing.T) {
	var ran atomic.Int64
	fn := func(ctx context.Context, o order) (created, error) { ran.Add(1); return createOrder(ctx, o) }
	h := newBulk(t, fn, &batch.BulkOptions{Idempotency: newStore(t, nil)})
	body := `[{"sku":"a"},{"sku":""}]`

	first := serve(h, "application/json", body, "Idempotency-Key", "k1")
	if first.status != http.StatusMultiStatus || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", first.status, first.header)
	}
	// A retry with the same key and body replays, quoted key or not.
	for _, key := range []string{"k1", `"k1"`} {
		again := serve(h, "application/json", body, "Idempotency-Key", key)
		if again.status != first.status || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay with key %s: %d %s", key, again.status, again.body)
		}
	}
	if ran.Load() != 2 {
		t.Fatalf("items ran %d times, want 2 (once each)", ran.Load())
	}
	// Same key, different body.
	other := serve(h, "application/json", `[{"sku":"z"}]`, "Idempotency-Key", "k1")
	if other.status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", other.status, other.body)
	}
	// Without a key, every request runs.
	serve(h, "application/json", body)
	if ran.Load() != 4 {
		t.Fatalf("items ran %d times", ran.Load())
	}
	if st := h.Stats(); st.Replays != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestBulkIdempotencyFingerprint: a key is bound to the whole request:
// method, path, query and body. A request that differs in any of them is a
// different request (422), never the replay of another: ?dry_run=1 must
// not get the stored answer of a real run.
func TestBulkIdempotencyFingerprint(t *testing.T) {
	var ran atomic.Int64
	fn := func(ctx context.Context, o order) (created, error) { ran.Add(1); return createOrder(ctx, o) }
	h := newBulk(t, fn, &batch.BulkOptions{Idempotency: newStore(t, nil)})
	const body = `[{"sku":"a"}]`
	do := func(method, target, body string) response {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return response{rec.Code, rec.Header(), rec.Body.Bytes()}
	}
	if r := do(http.MethodPost, "/orders/bulk?x=1", body); r.status != http.StatusOK {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	for _, tt := range []struct {
		name, method, target, body string
		status                     int
	}{
		{"same request", http.MethodPost, "/orders/bulk?x=1", body, http.StatusOK},
		{"dry run", http.MethodPost, "/orders/bulk?x=1&dry_run=1", body, http.StatusUnprocessableEntity},
		{"no query", http.MethodPost, "/orders/bulk", body, http.StatusUnprocessableEntity},
		{"trailing ampersand", http.MethodPost, "/orders/bulk?x=1&", body, http.StatusUnprocessableEntity},
		{"other query", http.MethodPost, "/orders/bulk?x=2", body, http.StatusUnprocessableEntity},
		{"other path", http.MethodPost, "/orders/bulk2?x=1", body, http.StatusUnprocessableEntity},
		{"escaped path", http.MethodPost, "/orders%2Fbulk?x=1", body, http.StatusUnprocessableEntity},
		{"other method", http.MethodPut, "/orders/bulk?x=1", body, http.StatusUnprocessableEntity},
		{"other body", http.MethodPost, "/orders/bulk?x=1", `[{"sku":"b"}]`, http.StatusUnprocessableEntity},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(tt.method, tt.target, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; %s", r.status, tt.status, r.body)
			}
			if replayed := r.header.Get("Idempotent-Replayed") == "true"; replayed != (tt.status == http.StatusOK) {
				t.Fatalf("Idempotent-Replayed = %v", replayed)
			}
		})
	}
	if ran.Load() != 1 {
		t.Fatalf("items ran %d times, want once", ran.Load())
	}
}

func TestBulkIdempotencyInProgress(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	fn := func(_ context.Context, o order) (created, error) {
		close(started)
		<-release
		return created{SKU: o.SKU}, nil
	}
	h := newBulk(t, fn, &batch.BulkOptions{Idempotency: newStore(t, nil)})
	done := make(chan response, 1)
	go func() { done <- serve(h, "application/json", `[{"sku":"a"}]`, "Idempotency-Key", "k") }()
	<-started
	r := serve(h, "application/json", `[{"sku":"a"}]`, "Idempotency-Key", "k")
	if r.status != http.StatusConflict {
		t.Fatalf("concurrent retry: %d %s", r.status, r.body)
	}
	close(release)
	if r := <-done; r.status != http.StatusOK {
		t.Fatalf("first: %d", r.status)
	}
	if r := serve(h, "application/json", `[{"sku":"a"}]`, "Idempotency-Key", "k"); r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after completion: %d %v", r.status, r.header)
	}
}

// TestBulkIdempotencyClientLeaves: once a key is claimed the items run to the
// end even when the client goes away, so its retry finds the full answer.
func TestBulkIdempotencyClientLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int64
	fn := func(ctx context.Context, o order) (created, error) {
		ran.Add(1)
		cancel()
		if ctx.Err() != nil {
			return created{}, ctx.Err()
		}
		return created{SKU: o.SKU}, nil
	}
	h := newBulk(t, fn, &batch.BulkOptions{Idempotency: newStore(t, nil), Concurrency: -1})
	body := `[{"sku":"a"},{"sku":"b"}]`
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/orders/bulk", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "k")
	h.ServeHTTP(httptest.NewRecorder(), req)
	retry := serve(h, "application/json", body, "Idempotency-Key", "k")
	var br batch.BulkResponse[created]
	json.Unmarshal(retry.body, &br)
	if retry.status != 200 || br.Succeeded != 2 || ran.Load() != 2 {
		t.Fatalf("retry: %d %s; ran %d", retry.status, retry.body, ran.Load())
	}
}

func TestBulkIdempotencyScope(t *testing.T) {
	var ran atomic.Int64
	fn := func(ctx context.Context, o order) (created, error) { ran.Add(1); return createOrder(ctx, o) }
	h := newBulk(t, fn, &batch.BulkOptions{
		Idempotency:      newStore(t, nil),
		IdempotencyScope: func(r *http.Request) string { return r.Header.Get("X-User") },
	})
	body := `[{"sku":"a"}]`
	serve(h, "application/json", body, "Idempotency-Key", "same", "X-User", "alice")
	r := serve(h, "application/json", body, "Idempotency-Key", "same", "X-User", "bob")
	if r.header.Get("Idempotent-Replayed") != "" || ran.Load() != 2 {
		t.Fatal("bob got alice's stored response")
	}
}

func TestBulkIdempotencyBadKey(t *testing.T) {
	h := newBulk(t, createOrder, &batch.BulkOptions{Idempotency: newStore(t, nil)})
	for _, tt := range []struct {
		name string
		keys []string
	}{
		{"empty", []string{""}},
		{"empty quoted", []string{`""`}},
		{"too long", []string{strings.Repeat("k", 256)}},
		{"space", []string{"a b"}},
		{"non-ascii", []string{"clé"}},
		{"two headers", []string{"a", "b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			for _, k := range tt.keys {
				hdr = append(hdr, "Idempotency-Key", k)
			}
			if r := serve(h, "application/json", `[{"sku":"a"}]`, hdr...); r.status != http.StatusBadRequest {
				t.Fatalf("status = %d; %s", r.status, r.body)
			}
		})
	}
}

// failingStore is an IdempotencyStore whose backend is down.
type failingStore struct{}

func (failingStore) Begin(context.Context, string, batch.Fingerprint) (*batch.StoredResponse, error) {
	return nil, errors.New("redis: connection refused")
}
func (failingStore) Complete(context.Context, string, batch.Fingerprint, *batch.StoredResponse) error {
	return nil
}
func (failingStore) Abort(context.Context, string, batch.Fingerprint) error { return nil }

func TestBulkIdempotencyStoreDown(t *testing.T) {
	h := newBulk(t, createOrder, &batch.BulkOptions{Idempotency: failingStore{}})
	r := serve(h, "application/json", `[{"sku":"a"}]`, "Idempotency-Key", "k")
	if r.status != http.StatusServiceUnavailable || bytes.Contains(r.body, []byte("redis")) {
		t.Fatalf("status = %d; %s", r.status, r.body)
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	fp := func(s string) batch.Fingerprint { var f batch.Fingerprint; copy(f[:], s); return f }
	resp := func(body string) *batch.StoredResponse {
		return &batch.StoredResponse{Status: 200, ContentType: "application/json", Body: []byte(body)}
	}

	t.Run("lifecycle", func(t *testing.T) {
		s := newStore(t, nil)
		if r, err := s.Begin(ctx, "k", fp("a")); r != nil || err != nil {
			t.Fatalf("new key: %v, %v", r, err)
		}
		if _, err := s.Begin(ctx, "k", fp("a")); err != batch.ErrKeyInProgress {
			t.Fatalf("claimed key: %v", err)
		}
		if _, err := s.Begin(ctx, "k", fp("b")); err != batch.ErrKeyReused {
			t.Fatalf("other fingerprint while claimed: %v", err)
		}
		stored := resp("body")
		s.Complete(ctx, "k", fp("a"), stored)
		stored.Body[0] = 'X' // the store keeps its own copy
		if r, err := s.Begin(ctx, "k", fp("a")); err != nil || string(r.Body) != "body" {
			t.Fatalf("completed key: %+v, %v", r, err)
		}
		if _, err := s.Begin(ctx, "k", fp("b")); err != batch.ErrKeyReused {
			t.Fatalf("other fingerprint: %v", err)
		}
		s.Begin(ctx, "gone", fp("a"))
		s.Abort(ctx, "gone", fp("b")) // not its claim: ignored
		if _, err := s.Begin(ctx, "gone", fp("a")); err != batch.ErrKeyInProgress {
			t.Fatalf("abort by another fingerprint released the claim: %v", err)
		}
		s.Abort(ctx, "gone", fp("a"))
		if r, err := s.Begin(ctx, "gone", fp("a")); r != nil || err != nil {
			t.Fatalf("aborted key: %v, %v", r, err)
		}
	})

	t.Run("ttl", func(t *testing.T) {
		s := newStore(t, &batch.MemoryStoreOptions{TTL: time.Minute})
		clock := newFakeClock()
		batch.SetStoreClock(s, clock.Now)
		s.Begin(ctx, "k", fp("a"))
		s.Complete(ctx, "k", fp("a"), resp("x"))
		s.Begin(ctx, "stuck", fp("a")) // never completed
		clock.Advance(59 * time.Second)
		if r, _ := s.Begin(ctx, "k", fp("a")); r == nil {
			t.Fatal("expired early")
		}
		clock.Advance(time.Second)
		if r, err := s.Begin(ctx, "k", fp("b")); r != nil || err != nil {
			t.Fatalf("after TTL the key should be new: %v, %v", r, err)
		}
		if r, err := s.Begin(ctx, "stuck", fp("a")); r != nil || err != nil {
			t.Fatalf("a stuck claim outlived the TTL: %v", err)
		}
	})

	t.Run("max entries", func(t *testing.T) {
		s := newStore(t, &batch.MemoryStoreOptions{MaxEntries: 2})
		for _, k := range []string{"1", "2", "3"} {
			s.Begin(ctx, k, fp("a"))
			s.Complete(ctx, k, fp("a"), resp(k))
		}
		if s.Len() != 2 {
			t.Fatalf("len = %d", s.Len())
		}
		if r, _ := s.Begin(ctx, "1", fp("a")); r != nil {
			t.Fatal("the oldest key was not evicted")
		}
	})

	t.Run("max bytes", func(t *testing.T) {
		s := newStore(t, &batch.MemoryStoreOptions{MaxBytes: 10})
		s.Begin(ctx, "claim", fp("a")) // claims are never evicted
		s.Begin(ctx, "a", fp("a"))
		s.Complete(ctx, "a", fp("a"), resp("123456"))
		s.Begin(ctx, "b", fp("a"))
		s.Complete(ctx, "b", fp("a"), resp("123456"))
		if r, _ := s.Begin(ctx, "b", fp("a")); r == nil {
			t.Fatal("newest evicted")
		}
		if r, _ := s.Begin(ctx, "a", fp("a")); r != nil {
			t.Fatal("oldest kept over MaxBytes")
		}
		if _, err := s.Begin(ctx, "claim", fp("a")); err != batch.ErrKeyInProgress {
			t.Fatal("a claim was evicted")
		}
		s.Begin(ctx, "huge", fp("a"))
		s.Complete(ctx, "huge", fp("a"), resp("far more than ten bytes"))
		if r, err := s.Begin(ctx, "huge", fp("a")); r != nil || err != nil {
			t.Fatal("a response over MaxBytes was kept or left claimed")
		}
	})

	t.Run("negative options", func(t *testing.T) {
		for _, o := range []batch.MemoryStoreOptions{{TTL: -1}, {MaxEntries: -1}, {MaxBytes: -1}} {
			if _, err := batch.NewMemoryStore(&o); err == nil {
				t.Fatalf("%+v accepted", o)
			}
		}
	})
}
