package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/devcert"
)

func newPaginateShowcase(t *testing.T) http.Handler {
	t.Helper()
	cert, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	t.Cleanup(sc.close)
	if err := setupPaginate(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	return sc.handler()
}

func TestPaginateDemo(t *testing.T) {
	h := newPaginateShowcase(t)
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
