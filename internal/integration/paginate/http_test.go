package paginate_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/paginate"
)

func TestNewValidates(t *testing.T) {
	s := newSigner(t)
	tests := []struct {
		name string
		o    *paginate.Options
	}{
		{"nil", nil},
		{"no signer", &paginate.Options{Table: "t", Columns: []string{"id"}}},
		{"bad table", &paginate.Options{Table: "t; drop", Columns: []string{"id"}, Signer: s}},
		{"bad column", &paginate.Options{Table: "t", Columns: []string{"id", "a b"}, Signer: s}},
		{"no key", &paginate.Options{Table: "t", Columns: []string{"name"}, Signer: s}},
		{"nullable key", &paginate.Options{Table: "t", Columns: []string{"id"}, Nullable: []string{"id"}, Signer: s}},
		{"bad default sort", &paginate.Options{Table: "t", Columns: []string{"id"}, DefaultSort: []paginate.SortKey{{Column: "x"}}, Signer: s}},
		{"bad dialect", &paginate.Options{Table: "t", Columns: []string{"id"}, Dialect: 9, Signer: s}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := paginate.New(tc.o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	o := &paginate.Options{Table: "public.t", Columns: []string{"id"}, Signer: s}
	if _, err := paginate.New(o); err != nil {
		t.Fatal(err)
	}
	if o.Key != "" || o.DefaultLimit != 0 {
		t.Fatal("New changed the caller's options")
	}
}

func TestBuildSQL(t *testing.T) {
	s := newSigner(t)
	mk := func(d paginate.Dialect) *paginate.Paginator {
		p, err := paginate.New(&paginate.Options{Table: "products", Columns: []string{"id", "name", "price"}, Nullable: []string{"price"}, Dialect: d, Signer: s})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pg := mk(paginate.PostgreSQL)
	first, err := pg.Build(paginate.Request{Sort: []paginate.SortKey{{Column: "name", Desc: true}}, Where: "name <> '?' AND price > ?", Args: []any{3}, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT "id", "name", "price" FROM "products" WHERE (name <> '?' AND price > $1) ORDER BY "name" DESC, "id" DESC LIMIT 6`
	if first.SQL != want {
		t.Fatalf("got  %s\nwant %s", first.SQL, want)
	}
	tok, _ := s.Sign("", paginate.Cursor{})
	if _, err := pg.Build(paginate.Request{After: tok}); !errors.Is(err, paginate.ErrForeignCursor) {
		t.Fatalf("cursor of another scope: %v", err)
	}
	if _, err := pg.Build(paginate.Request{After: "a", Before: "b"}); !errors.Is(err, paginate.ErrBothCursors) {
		t.Fatalf("both cursors: %v", err)
	}
	if _, err := pg.Build(paginate.Request{Fields: []string{"name", "secret"}}); !errors.Is(err, paginate.ErrUnknownField) {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := pg.Build(paginate.Request{Sort: []paginate.SortKey{{Column: "id; DROP TABLE products"}}}); !errors.Is(err, paginate.ErrUnknownField) {
		t.Fatalf("injected sort: %v", err)
	}
	if pl, _ := pg.Build(paginate.Request{Limit: 1 << 30}); pl.Limit() != 100 {
		t.Fatalf("limit not capped: %d", pl.Limit())
	}
	if pl, _ := pg.Build(paginate.Request{Limit: -1}); pl.Limit() != 20 {
		t.Fatalf("limit not defaulted: %d", pl.Limit())
	}
}

func TestParseRequest(t *testing.T) {
	p, err := paginate.New(&paginate.Options{Name: "products", Table: "products", Columns: []string{"id", "name", "price"}, Signer: newSigner(t), DefaultLimit: 10, MaxLimit: 50})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query  string
		limit  int
		err    error
		fields string
		sort   string
	}{
		{query: "", limit: 10},
		{query: "limit=0", limit: 10},
		{query: "limit=-5", limit: 10},
		{query: "limit=7", limit: 7},
		{query: "limit=99999999999999999999999", limit: 50},
		{query: "limit=1000", limit: 50},
		{query: "limit=-99999999999999999999999", limit: 10},
		{query: "limit=abc", err: paginate.ErrBadLimit},
		{query: "after=x&before=y", err: paginate.ErrBothCursors},
		{query: "fields=id,name", limit: 10, fields: "id,name"},
		{query: "fields[products]=price", limit: 10, fields: "price"},
		{query: "fields=password", err: paginate.ErrUnknownField},
		{query: "sort=-price,name", limit: 10, sort: "-price,name"},
		{query: "sort=password", err: paginate.ErrUnknownField},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/products?"+tc.query, nil)
			req, err := p.ParseRequest(r)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			var sort []string
			for _, k := range req.Sort {
				s := k.Column
				if k.Desc {
					s = "-" + s
				}
				sort = append(sort, s)
			}
			if req.Limit != tc.limit || strings.Join(req.Fields, ",") != tc.fields || strings.Join(sort, ",") != tc.sort {
				t.Fatalf("got %+v", req)
			}
		})
	}
}

func TestLinkHeader(t *testing.T) {
	u, _ := url.Parse("/products?limit=5&after=old&fields=id")
	got := paginate.LinkHeader(u, "N", "P")
	want := `</products?after=N&fields=id&limit=5>; rel="next", </products?before=P&fields=id&limit=5>; rel="prev"`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if paginate.LinkHeader(u, "", "") != "" {
		t.Fatal("links without cursors")
	}
}

// TestHTTPWalk follows Link headers through a handler on real SQLite.
func TestHTTPWalk(t *testing.T) {
	d := testDB{"sqlite", paginate.SQLite, openSQLite(t)}
	ps := createProducts(t, d, "products", 23)
	p := newPaginator(t, d, "products", paginate.NullsDefault)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := p.ParseRequest(r)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		pg, err := paginate.Query(r.Context(), d.db, p, req, paginate.AsRow)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		pg.WriteLinks(w, r)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(pg)
	})
	next := regexp.MustCompile(`<([^>]*)>; rel="next"`)
	target := "/products?limit=5&fields=name&sort=-price"
	var names int
	for pages := 0; target != ""; pages++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		var body struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		for _, it := range body.Items {
			if _, ok := it["name"]; !ok || len(it) != 1 {
				t.Fatalf("item %v", it)
			}
			names++
		}
		target = ""
		if m := next.FindStringSubmatch(rec.Header().Get("Link")); m != nil {
			target = m[1]
		}
	}
	if names != len(ps) {
		t.Fatalf("walked %d items, want %d", names, len(ps))
	}
	for _, bad := range []string{"/products?after=garbage", "/products?fields=secret", "/products?limit=x"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", bad, nil))
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("%s: %d %s", bad, rec.Code, rec.Body)
		}
	}
	// A cursor of this endpoint's sort is foreign to another sort.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/products?limit=2", nil))
	m := next.FindStringSubmatch(rec.Header().Get("Link"))
	u, _ := url.Parse(m[1])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/products?sort=name&after="+u.Query().Get("after"), nil))
	if rec.Code != 400 {
		t.Fatalf("foreign cursor: %d", rec.Code)
	}
}

func FuzzParseRequest(f *testing.F) {
	p, err := paginate.New(&paginate.Options{Name: "products", Table: "products", Columns: []string{"id", "name", "price"}, Signer: newSigner(f), DefaultLimit: 10, MaxLimit: 50})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "limit=5", "limit=-1&sort=-price,name", "fields[products]=id,name&after=abc", "sort=,", "limit=1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/products", nil)
		r.URL.RawQuery = query
		req, err := p.ParseRequest(r)
		if err != nil {
			if paginate.StatusOf(err) != 400 {
				t.Fatalf("status %d for %v", paginate.StatusOf(err), err)
			}
			return
		}
		if req.Limit < 1 || req.Limit > 50 {
			t.Fatalf("limit %d", req.Limit)
		}
		// Whatever parsed builds, or fails as a client error.
		if _, err := p.Build(req); err != nil && paginate.StatusOf(err) != 400 {
			t.Fatalf("Build: %v", err)
		}
	})
}
