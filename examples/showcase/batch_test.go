package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/batch"
)

func newBatchShowcase(t *testing.T) http.Handler {
	t.Helper()
	return newTestShowcase(t, setupBatch).handler()
}

func batchGet(t *testing.T, h http.Handler, url string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if v != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, rec.Body.Bytes())
		}
	}
	return rec.Code
}

func TestBatchDemoStorm(t *testing.T) {
	h := newBatchShowcase(t)
	for range 2 { // a second storm starts cold again
		var got struct {
			Requests     int   `json:"requests"`
			BackendCalls int64 `json:"backend_calls"`
			Shared       int64 `json:"shared_result"`
			Failed       int64 `json:"failed"`
		}
		if code := batchGet(t, h, "/batch/storm?n=300", &got); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if got.Requests != 300 || got.BackendCalls != 1 || got.Shared != 300 || got.Failed != 0 {
			t.Fatalf("storm = %+v, want 300 requests, 1 backend call", got)
		}
	}
	for _, bad := range []string{"0", "-1", "x", "5001"} {
		if code := batchGet(t, h, "/batch/storm?n="+bad, nil); code != http.StatusBadRequest {
			t.Errorf("n=%s: status %d, want 400", bad, code)
		}
	}
}

func TestBatchDemoLoader(t *testing.T) {
	h := newBatchShowcase(t)
	var got struct {
		Lookups  int    `json:"lookups"`
		Queries  uint64 `json:"queries"`
		NotFound []int  `json:"not_found"`
		Failed   int    `json:"failed"`
	}
	if code := batchGet(t, h, "/batch/loader?n=40", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	// The batch count depends on the 2ms window and the scheduler, so only
	// its bounds are checked.
	if got.Lookups != 40 || got.Queries < 1 || got.Queries > 40 || got.Failed != 0 {
		t.Fatalf("loader = %+v", got)
	}
	if len(got.NotFound) != 3 || got.NotFound[0] != 13 || got.NotFound[2] != 39 {
		t.Fatalf("not found = %v, want [13 26 39]", got.NotFound)
	}
}

func TestBatchDemoBulk(t *testing.T) {
	h := newBatchShowcase(t)
	var got struct {
		Status   int                              `json:"status"`
		Response batch.BulkResponse[batchProduct] `json:"response"`
		Retry    struct {
			Status         int
			Replayed, Same bool
		} `json:"retry_with_same_idempotency_key"`
	}
	if code := batchGet(t, h, "/batch/bulk", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if got.Status != http.StatusMultiStatus || got.Response.Succeeded != 9 || got.Response.Failed != 1 {
		t.Fatalf("bulk = %+v", got)
	}
	bad := got.Response.Results[6]
	if bad.Status != 422 || bad.Error == nil || !strings.Contains(bad.Error.Detail, "mug-06") {
		t.Fatalf("failing item = %+v", bad)
	}
	if got.Retry.Status != http.StatusMultiStatus || !got.Retry.Replayed || !got.Retry.Same {
		t.Fatalf("retry = %+v", got.Retry)
	}

	// The bulk endpoint itself, as a client would call it.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/batch/products/bulk", strings.NewReader(`[{"sku":"a","price_cents":5},{"sku":""}]`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMultiStatus {
		t.Fatalf("POST bulk: %d %s", rec.Code, rec.Body.Bytes())
	}
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/batch/products/bulk", strings.NewReader(`not json`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Content-Type") != batch.ProblemContentType {
		t.Fatalf("POST bad body: %d %s", rec.Code, rec.Body.Bytes())
	}
}
