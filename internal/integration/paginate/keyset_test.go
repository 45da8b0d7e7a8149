package paginate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/wirespeed/wirespeed/paginate"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newSigner(t testing.TB) *paginate.Signer {
	t.Helper()
	s, err := paginate.NewSigner([][]byte{testKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPaginator(t testing.TB, d testDB, table string, nulls paginate.Nulls) *paginate.Paginator {
	t.Helper()
	p, err := paginate.New(&paginate.Options{
		Table:    table,
		Columns:  []string{"id", "name", "price", "category"},
		Nullable: []string{"price"},
		Nulls:    nulls,
		Dialect:  d.dialect,
		Signer:   newSigner(t),
		MaxLimit: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rowID(r paginate.Row) (int64, error) {
	v, ok := r.Get("id")
	if !ok {
		return 0, errors.New("no id")
	}
	id, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("id is %T", v)
	}
	return id, nil
}

// expected sorts ps in Go, independently of the SQL, and returns the ids.
func expected(ps []product, sort []paginate.SortKey, nulls paginate.Nulls) []int64 {
	ps = slices.Clone(ps)
	if len(sort) == 0 || sort[len(sort)-1].Column != "id" {
		desc := len(sort) > 0 && sort[len(sort)-1].Desc
		sort = append(slices.Clone(sort), paginate.SortKey{Column: "id", Desc: desc})
	}
	slices.SortStableFunc(ps, func(a, b product) int {
		for _, k := range sort {
			var c int
			switch k.Column {
			case "id":
				c = cmpInt(a.ID, b.ID)
			case "name":
				c = cmpStr(a.Name, b.Name)
			case "category":
				c = cmpStr(a.Category, b.Category)
			case "price":
				if a.Price == nil || b.Price == nil {
					if a.Price == nil && b.Price == nil {
						continue
					}
					// NULL position is absolute: it does not flip with Desc.
					nullsLast := nulls == paginate.NullsLast || nulls == paginate.NullsDefault && !k.Desc
					aNull := a.Price == nil
					if aNull == nullsLast {
						return 1
					}
					return -1
				}
				c = cmpInt(*a.Price, *b.Price)
			}
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// walk pages forward from the first page, then backward from the last,
// and returns the ids in display order for both.
func walk(t *testing.T, d testDB, p *paginate.Paginator, req paginate.Request) (fwd, bwd []int64) {
	t.Helper()
	ctx := context.Background()
	var last paginate.Page[paginate.Row]
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("too many pages")
		}
		pg, err := paginate.Query(ctx, d.db, p, req, paginate.AsRow)
		if err != nil {
			t.Fatal(err)
		}
		if len(pg.Items) > req.Limit {
			t.Fatalf("page of %d > limit %d", len(pg.Items), req.Limit)
		}
		if pages == 0 && pg.Prev != "" {
			t.Fatal("first page has Prev")
		}
		for _, r := range pg.Items {
			id, err := rowID(r)
			if err != nil {
				t.Fatal(err)
			}
			fwd = append(fwd, id)
		}
		if pg.HasMore != (pg.Next != "") {
			t.Fatalf("forward page: HasMore %v but Next %q", pg.HasMore, pg.Next)
		}
		last = pg
		if pg.Next == "" {
			break
		}
		req.After, req.Before = pg.Next, ""
	}
	// Backward from the last page's Prev.
	var chunks [][]int64
	var lastIDs []int64
	for _, r := range last.Items {
		id, _ := rowID(r)
		lastIDs = append(lastIDs, id)
	}
	chunks = append(chunks, lastIDs)
	prev := last.Prev
	for prev != "" {
		req.After, req.Before = "", prev
		pg, err := paginate.Query(ctx, d.db, p, req, paginate.AsRow)
		if err != nil {
			t.Fatal(err)
		}
		if pg.Next == "" {
			t.Fatal("backward page without Next")
		}
		var ids []int64
		for _, r := range pg.Items {
			id, _ := rowID(r)
			ids = append(ids, id)
		}
		chunks = append(chunks, ids)
		prev = pg.Prev
	}
	for i := len(chunks) - 1; i >= 0; i-- {
		bwd = append(bwd, chunks[i]...)
	}
	return fwd, bwd
}

func TestKeysetOnDatabases(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		ps := createProducts(t, d, "products", 57)
		sorts := []struct {
			name string
			sort []paginate.SortKey
		}{
			{"default", nil},
			{"id desc", []paginate.SortKey{{Column: "id", Desc: true}}},
			{"name asc", []paginate.SortKey{{Column: "name"}}},
			{"name,category desc", []paginate.SortKey{{Column: "name", Desc: true}, {Column: "category", Desc: true}}},
			{"mixed", []paginate.SortKey{{Column: "category"}, {Column: "name", Desc: true}}},
			{"price asc", []paginate.SortKey{{Column: "price"}}},
			{"price desc", []paginate.SortKey{{Column: "price", Desc: true}}},
			{"price desc,name", []paginate.SortKey{{Column: "price", Desc: true}, {Column: "name"}}},
			{"category,price,id desc", []paginate.SortKey{{Column: "category"}, {Column: "price"}, {Column: "id", Desc: true}}},
		}
		for _, nulls := range []paginate.Nulls{paginate.NullsDefault, paginate.NullsFirst, paginate.NullsLast} {
			p := newPaginator(t, d, "products", nulls)
			for _, tc := range sorts {
				for _, limit := range []int{1, 7, 57, 100} {
					t.Run(fmt.Sprintf("nulls=%d/%s/limit=%d", nulls, tc.name, limit), func(t *testing.T) {
						want := expected(ps, tc.sort, nulls)
						fwd, bwd := walk(t, d, p, paginate.Request{Sort: tc.sort, Limit: limit})
						if !slices.Equal(fwd, want) {
							t.Fatalf("forward\n got %v\nwant %v", fwd, want)
						}
						if !slices.Equal(bwd, want) {
							t.Fatalf("backward\n got %v\nwant %v", bwd, want)
						}
					})
				}
			}
		}

		t.Run("filter", func(t *testing.T) {
			p := newPaginator(t, d, "products", paginate.NullsDefault)
			var want []product
			for _, pr := range ps {
				if pr.Category == "b" {
					want = append(want, pr)
				}
			}
			req := paginate.Request{Where: "category = ?", Args: []any{"b"}, Limit: 4, Sort: []paginate.SortKey{{Column: "price"}}}
			fwd, bwd := walk(t, d, p, req)
			w := expected(want, req.Sort, paginate.NullsDefault)
			if !slices.Equal(fwd, w) || !slices.Equal(bwd, w) {
				t.Fatalf("got %v / %v, want %v", fwd, bwd, w)
			}
			// The cursor of category b is foreign to category c.
			pg, err := paginate.Query(context.Background(), d.db, p, req, paginate.AsRow)
			if err != nil {
				t.Fatal(err)
			}
			req.Args, req.After = []any{"c"}, pg.Next
			_, err = paginate.Query(context.Background(), d.db, p, req, paginate.AsRow)
			if !errors.Is(err, paginate.ErrForeignCursor) || paginate.StatusOf(err) != 400 {
				t.Fatalf("foreign filter cursor: %v", err)
			}
		})

		t.Run("sparse fields", func(t *testing.T) {
			p := newPaginator(t, d, "products", paginate.NullsDefault)
			req := paginate.Request{Fields: []string{"name"}, Sort: []paginate.SortKey{{Column: "price", Desc: true}}, Limit: 10}
			pl, err := p.Build(req)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pl.Columns, []string{"name", "price", "id"}) {
				t.Fatalf("columns %v", pl.Columns)
			}
			fwd, _ := walk(t, d, p, req)
			if want := expected(ps, req.Sort, paginate.NullsDefault); !slices.Equal(fwd, want) {
				t.Fatalf("got %v want %v", fwd, want)
			}
			pg, err := paginate.Query(context.Background(), d.db, p, req, paginate.AsRow)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(pg.Items[0])
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["name"]; !ok || len(m) != 1 {
				t.Fatalf("row JSON %s, want only name", b)
			}
		})

		t.Run("concurrent writes", func(t *testing.T) { testConcurrentWrites(t, d) })
		t.Run("counts", func(t *testing.T) { testCounts(t, d, len(ps)) })
	})
}

// testConcurrentWrites pages through a table while other goroutines insert
// and delete rows: every row that existed throughout is seen exactly once.
func testConcurrentWrites(t *testing.T, d testDB) {
	const n = 300
	createProducts(t, d, "churn", n)
	p := newPaginator(t, d, "churn", paginate.NullsDefault)
	// Rows with id%4==0 are the ones writers may delete; new rows get ids
	// above n. Every other original row exists throughout.
	stable := map[int64]bool{}
	for i := int64(1); i <= n; i++ {
		if i%4 != 0 {
			stable[i] = true
		}
	}
	ins := "INSERT INTO churn (id, name, price, category) VALUES (?, ?, ?, ?)"
	del := "DELETE FROM churn WHERE id = ?"
	if d.dialect == paginate.PostgreSQL {
		ins = "INSERT INTO churn (id, name, price, category) VALUES ($1, $2, $3, $4)"
		del = "DELETE FROM churn WHERE id = $1"
	}
	for _, sort := range [][]paginate.SortKey{nil, {{Column: "price"}, {Column: "name", Desc: true}}} {
		ctx := context.Background()
		req := paginate.Request{Sort: sort, Limit: 9}
		seen := map[int64]int{}
		next := int64(n + 1)
		for page := 0; ; page++ {
			pg, err := paginate.Query(ctx, d.db, p, req, paginate.AsRow)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range pg.Items {
				id, _ := rowID(r)
				seen[id]++
			}
			// Between pages: two writers insert and delete concurrently.
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			base := next
			next += 3
			wg.Go(func() {
				for k := range int64(3) {
					id := base + k
					price := (id * 13) % 11
					if _, err := d.db.Exec(ins, id+1000*int64(len(sort)), // distinct per sort
						fmt.Sprintf("item-%02d", id%13), price, "a"); err != nil {
						errs <- err
						return
					}
				}
			})
			wg.Go(func() {
				victim := int64(4 * (page%(n/4) + 1))
				if _, err := d.db.Exec(del, victim); err != nil {
					errs <- err
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if pg.Next == "" {
				break
			}
			req.After = pg.Next
		}
		for id := range stable {
			if seen[id] != 1 {
				t.Fatalf("sort %v: stable row %d seen %d times", sort, id, seen[id])
			}
		}
		for id, c := range seen {
			if c != 1 {
				t.Fatalf("sort %v: row %d seen %d times", sort, id, c)
			}
		}
	}
}

func testCounts(t *testing.T, d testDB, n int) {
	ctx := context.Background()
	p := newPaginator(t, d, "products", paginate.NullsDefault)
	c, err := p.ExactCount(ctx, d.db, paginate.Request{})
	if err != nil || c.N != int64(n) || c.String() != fmt.Sprint(n) {
		t.Fatalf("exact: %v %v", c, err)
	}
	c, err = p.BoundedCount(ctx, d.db, paginate.Request{}, 10)
	if err != nil || c.N != 10 || !c.AtLeast || c.String() != "10+" {
		t.Fatalf("bounded: %v %v", c, err)
	}
	c, err = p.BoundedCount(ctx, d.db, paginate.Request{Where: "category = ?", Args: []any{"a"}}, 1000)
	if err != nil || c.N != int64(n/3) || c.AtLeast {
		t.Fatalf("bounded filtered: %v %v", c, err)
	}
	if d.dialect == paginate.SQLite {
		// A fresh SQLite database has no statistics.
		if _, err := p.EstimateCount(ctx, d.db); !errors.Is(err, paginate.ErrNoEstimate) {
			t.Fatalf("estimate before ANALYZE: %v", err)
		}
	}
	d.exec(t, "ANALYZE products")
	c, err = p.EstimateCount(ctx, d.db)
	if err != nil || c.N != int64(n) || !c.Estimate || c.String() != fmt.Sprintf("~%d", n) {
		t.Fatalf("estimate: %v %v", c, err)
	}
	cc := paginate.NewCachedCount(func(ctx context.Context) (paginate.Count, error) {
		return p.ExactCount(ctx, d.db, paginate.Request{})
	}, 0)
	for range 3 {
		if c, err := cc.Get(ctx); err != nil || c.N != int64(n) {
			t.Fatalf("cached: %v %v", c, err)
		}
	}
	if s := cc.Stats(); s.Computes != 1 {
		t.Fatalf("cached count computed %d times, want 1", s.Computes)
	}
}

// TestEmptyPageKeepsCursors checks that a page past the end still links
// back, and a page before the start links forward.
func TestEmptyPageKeepsCursors(t *testing.T) {
	d := testDB{"sqlite", paginate.SQLite, openSQLite(t)}
	createProducts(t, d, "products", 5)
	p := newPaginator(t, d, "products", paginate.NullsDefault)
	ctx := context.Background()
	after, err := p.Cursor(paginate.Request{}, false, int64(5))
	if err != nil {
		t.Fatal(err)
	}
	pg, err := paginate.Query(ctx, d.db, p, paginate.Request{After: after}, paginate.AsRow)
	if err != nil || len(pg.Items) != 0 || pg.HasMore || pg.Next != "" || pg.Prev == "" {
		t.Fatalf("past the end: %+v %v", pg, err)
	}
	back, err := paginate.Query(ctx, d.db, p, paginate.Request{Before: pg.Prev, Limit: 2}, paginate.AsRow)
	if err != nil || len(back.Items) != 2 || !back.HasMore || back.Next == "" {
		t.Fatalf("back from the end: %+v %v", back, err)
	}
	if id, _ := rowID(back.Items[1]); id != 5 {
		t.Fatalf("last row %d", id)
	}
	before, _ := p.Cursor(paginate.Request{}, true, int64(1))
	pg, err = paginate.Query(ctx, d.db, p, paginate.Request{Before: before}, paginate.AsRow)
	if err != nil || len(pg.Items) != 0 || pg.HasMore || pg.Prev != "" || pg.Next == "" {
		t.Fatalf("before the start: %+v %v", pg, err)
	}
	fwd, err := paginate.Query(ctx, d.db, p, paginate.Request{After: pg.Next, Limit: 2}, paginate.AsRow)
	if err != nil || len(fwd.Items) != 2 || !fwd.HasMore || fwd.Prev == "" {
		t.Fatalf("forward from the start: %+v %v", fwd, err)
	}
	if id, _ := rowID(fwd.Items[0]); id != 1 {
		t.Fatalf("first row %d", id)
	}
	if _, err := paginate.Query(ctx, d.db, p, paginate.Request{Before: after}, paginate.AsRow); !errors.Is(err, paginate.ErrForeignCursor) {
		t.Fatalf("after-cursor used as before: %v", err)
	}
}
