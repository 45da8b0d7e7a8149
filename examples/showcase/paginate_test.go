package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newPaginateShowcase(t *testing.T) http.Handler {
	t.Helper()
	return newTestShowcase(t, setupPaginate).handler()
}

// TestPaginateDemo: one showcase for every paginate check, since filling
// its table under the race detector takes a while.
func TestPaginateDemo(t *testing.T) {
	h := newPaginateShowcase(t)
	t.Run("pages", func(t *testing.T) { testPaginatePages(t, h) })
	t.Run("nulls last", func(t *testing.T) { testPaginateNullsLast(t, h) })
	t.Run("depth", func(t *testing.T) { testPaginateDepth(t, h) })
}

func testPaginatePages(t *testing.T, h http.Handler) {
	get := func(url string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		return rec
	}
	rec := get("/paginate/products?fields=name,price&sort=-price&limit=5")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var res struct {
		Page struct {
			Items []map[string]any `json:"items"`
		} `json:"page"`
		Next string `json:"next_url"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Page.Items) != 5 || len(res.Page.Items[0]) != 2 || res.Next == "" {
		t.Fatalf("page %+v", res)
	}
	if rec := get(res.Next); rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Link"), `rel="prev"`) {
		t.Fatalf("next: %d %q", rec.Code, rec.Header().Get("Link"))
	}
	rec = get("/paginate/browse?jump=190000&f=name&f=stock")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "product 190001") || !strings.Contains(rec.Body.String(), "next →") {
		t.Fatalf("browse: %d %s", rec.Code, rec.Body)
	}
	if rec := get("/paginate/products?after=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); rec.Code != http.StatusBadRequest {
		t.Fatalf("tampered: %d", rec.Code)
	}
	if rec := get("/paginate/count"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "1000+") {
		t.Fatalf("count: %d %s", rec.Code, rec.Body)
	}
}

// testPaginateNullsLast: products without a price come last in either
// direction, so "most expensive first" starts with prices, not NULLs.
func testPaginateNullsLast(t *testing.T, h http.Handler) {
	for _, sort := range []string{"-price", "price"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/paginate/products?fields=name,price&limit=20&sort="+sort, nil))
		var res struct {
			Page struct {
				Items []struct {
					Price *float64 `json:"price"`
				} `json:"items"`
			} `json:"page"`
			OffsetSQL string `json:"offset_sql"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("sort=%s: %d %v", sort, rec.Code, err)
		}
		for i, it := range res.Page.Items {
			if it.Price == nil {
				t.Fatalf("sort=%s: row %d has a NULL price", sort, i)
			}
			if i > 0 {
				prev := *res.Page.Items[i-1].Price
				if sort == "-price" && *it.Price > prev || sort == "price" && *it.Price < prev {
					t.Fatalf("sort=%s: row %d out of order", sort, i)
				}
			}
		}
		if !strings.Contains(res.OffsetSQL, "NULLS LAST") {
			t.Errorf("sort=%s: OFFSET query %q orders NULLs differently", sort, res.OffsetSQL)
		}
	}
}

// testPaginateDepth: the sweep measures every depth and leads with the
// deepest; a shallow page explains why OFFSET is not slower there.
func testPaginateDepth(t *testing.T, h http.Handler) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/paginate/depth", nil))
	var res struct {
		Headline headline `json:"headline"`
		Chart    chart    `json:"chart"`
		Depths   []struct {
			Row      int     `json:"row"`
			KeysetMS float64 `json:"keyset_median_ms"`
			OffsetMS float64 `json:"offset_median_ms"`
		} `json:"depths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("%d %v %s", rec.Code, err, rec.Body)
	}
	if len(res.Depths) != len(paginateDepths) || res.Depths[len(res.Depths)-1].Row != 190_000 {
		t.Fatalf("depths %+v", res.Depths)
	}
	for _, d := range res.Depths {
		if d.KeysetMS <= 0 || d.OffsetMS <= 0 {
			t.Errorf("depth %+v", d)
		}
	}
	if !strings.HasPrefix(res.Headline.Value, "row 190,000: ") || res.Chart.Kind != "lines" || len(res.Chart.Series) != 2 {
		t.Errorf("headline %q, chart %s with %d series", res.Headline.Value, res.Chart.Kind, len(res.Chart.Series))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/paginate/browse", nil))
	if !strings.Contains(rec.Body.String(), "Near the start OFFSET has little to skip") {
		t.Errorf("the first page does not explain its timings: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/paginate/browse?jump=190000", nil))
	if strings.Contains(rec.Body.String(), "Near the start") {
		t.Error("a deep page explains shallow pages")
	}
}
