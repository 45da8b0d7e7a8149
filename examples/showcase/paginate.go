package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/paginate"
	_ "modernc.org/sqlite"
)

// The paginate demo serves a product list of paginateRows rows from SQLite
// in a temporary directory:
//
//   - GET /paginate/browse: an HTML page with next/prev through signed
//     cursors, a fields selector (sparse fieldsets pushed down to the
//     SELECT), and, for the same page, the keyset query's time next to
//     OFFSET's. jump=N starts at row N.
//   - GET /paginate/products: the same as JSON, with Link headers.
//   - GET /paginate/count: bounded count and estimate.
//   - GET /paginate/depth: the keyset query and OFFSET for the same page
//     at several depths, for the page's chart.

// paginateRows is the size of the demo's product table.
const paginateRows = 200_000

var paginateColumns = []string{"id", "name", "price", "category", "stock"}

type paginateDemo struct {
	dir string
	db  *sql.DB
	p   *paginate.Paginator

	pages         atomic.Int64
	rejected      atomic.Int64
	depthMu       sync.Mutex // one depth sweep at a time, so its timings are its own
	mu            sync.Mutex // protects the last* fields
	lastCursorDur time.Duration
	lastOffsetDur time.Duration
	lastPos       int
}

// paginateDepths are the rows the depth sweep measures at.
var paginateDepths = []int{0, 1_000, 10_000, 50_000, 100_000, 150_000, 190_000}

// paginateDepthRuns is how many times the sweep runs each query per depth;
// it reports the median.
const paginateDepthRuns = 5

func setupPaginate(ctx context.Context, sc *showcase) error {
	dir, err := os.MkdirTemp("", "showcase-paginate-")
	if err != nil {
		return err
	}
	d := &paginateDemo{dir: dir}
	if err := d.open(ctx); err != nil {
		d.close()
		return err
	}
	sc.mux.HandleFunc("GET /paginate/browse", d.browse)
	sc.mux.HandleFunc("GET /paginate/products", d.products)
	sc.mux.HandleFunc("GET /paginate/count", d.count)
	sc.mux.HandleFunc("GET /paginate/depth", d.depth)
	sc.add(demo{
		Name:    "paginate",
		Title:   "keyset pagination with signed cursors",
		Summary: fmt.Sprintf("A %s-product SQLite table paged by signed keyset cursors: the page query costs the same at row 0 and row 190,000, while OFFSET for the same page reads and discards every row before it; pick fields and only those columns are selected.", thousands(paginateRows)),
		Try: []link{
			{Label: "keyset vs OFFSET by depth", Href: "/paginate/depth"},
			{Label: "browse products", Href: "/paginate/browse"},
			{Label: "jump to row 190,000", Href: "/paginate/browse?jump=190000"},
			{Label: "most expensive first: JSON, fields=name,price, Link headers", Href: "/paginate/products?fields=name,price&sort=-price&limit=5"},
			{Label: "tampered cursor → 400", Href: "/paginate/products?after=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{Label: "bounded count vs estimate", Href: "/paginate/count"},
		},
		Measure: "/paginate/depth",
		Stats: func() any {
			d.mu.Lock()
			defer d.mu.Unlock()
			return map[string]any{
				"rows":           paginateRows,
				"pages_served":   d.pages.Load(),
				"rejected":       d.rejected.Load(),
				"last_row":       d.lastPos,
				"last_keyset_ms": ms(d.lastCursorDur),
				"last_offset_ms": ms(d.lastOffsetDur),
			}
		},
		Close: d.close,
	})
	return nil
}

func (d *paginateDemo) open(ctx context.Context) error {
	var err error
	d.db, err = sql.Open("sqlite", "file:"+filepath.Join(d.dir, "shop.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	for _, q := range []string{
		"CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER, category TEXT NOT NULL, stock INTEGER NOT NULL)",
		fmt.Sprintf(`INSERT INTO products WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
			SELECT x, 'product ' || x, CASE WHEN x %% 17 = 0 THEN NULL ELSE (x * 7919) %% 10000 END,
			       CASE x %% 3 WHEN 0 THEN 'tools' WHEN 1 THEN 'parts' ELSE 'paint' END, (x * 31) %% 500 FROM c`, paginateRows),
		"CREATE INDEX products_price_id ON products (price, id)",
		"ANALYZE",
	} {
		if _, err := d.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("paginate demo: %w", err)
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	signer, err := paginate.NewSigner([][]byte{key}, &paginate.SignerOptions{TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	d.p, err = paginate.New(&paginate.Options{
		Name:         "products",
		Table:        "products",
		Columns:      paginateColumns,
		Nullable:     []string{"price"},
		Nulls:        paginate.NullsLast, // products without a price at the end, whichever the direction
		DefaultLimit: 10,
		MaxLimit:     100,
		Signer:       signer,
	})
	return err
}

func (d *paginateDemo) close() {
	if d.db != nil {
		d.db.Close()
	}
	os.RemoveAll(d.dir)
}

// pageResult is one page with both timings.
type pageResult struct {
	Page      paginate.Page[paginate.Row] `json:"page"`
	Position  int                         `json:"position"`
	CursorMS  float64                     `json:"cursor_query_ms"`
	OffsetMS  float64                     `json:"offset_query_ms"`
	OffsetSQL string                      `json:"offset_sql"`
	KeysetSQL string                      `json:"keyset_sql"`
	Next      string                      `json:"next_url,omitempty"`
	Prev      string                      `json:"prev_url,omitempty"`
	Note      string                      `json:"note,omitempty"`
}

// Below paginateShallow rows OFFSET has too little to skip to lose; the
// page says so rather than show a ratio that reads as "keyset is slower".
const paginateShallow = 5_000

const paginateShallowNote = "Near the start OFFSET has little to skip, so both queries take about the same time and which one wins is noise; the gap grows with depth: jump to row 190,000."

// load serves one page. pos, the page's row number, is the client's claim,
// used only to run the OFFSET query for the same page.
func (d *paginateDemo) load(r *http.Request, base string) (*pageResult, error) {
	req, err := d.p.ParseRequest(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	pos, _ := strconv.Atoi(q.Get("pos"))
	if s := q.Get("jump"); s != "" && req.After == "" && req.Before == "" && len(req.Sort) == 0 {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n >= paginateRows {
			return nil, &paginate.Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("jump must be 0 to %d", paginateRows-1), Err: paginate.ErrBadLimit}
		}
		if n > 0 {
			// ids are 1..N and the default sort is by id: row n follows id n.
			if req.After, err = d.p.Cursor(req, false, int64(n)); err != nil {
				return nil, err
			}
		}
		pos = n
	}
	pos = max(pos, 0)
	pl, err := d.p.Build(req)
	if err != nil {
		return nil, err
	}
	page, err := paginate.Run(r.Context(), d.db, pl, paginate.AsRow)
	if err != nil {
		return nil, err
	}
	// Time the page's query again on its own, as the OFFSET query is
	// timed below: the comparison is of the two queries.
	start := time.Now()
	if err := drainQuery(r.Context(), d.db, pl.SQL, pl.Args...); err != nil {
		return nil, err
	}
	cursorDur := time.Since(start)

	// OFFSET for the same page, same order and columns.
	order := "id"
	for i, k := range req.Sort {
		if i == 0 {
			order = ""
		} else {
			order += ", "
		}
		order += k.Column
		if k.Desc {
			order += " DESC"
		}
		if k.Column == "price" {
			order += " NULLS LAST" // as Options.Nulls
		}
	}
	if len(req.Sort) > 0 && !slices.ContainsFunc(req.Sort, func(k paginate.SortKey) bool { return k.Column == "id" }) {
		if req.Sort[len(req.Sort)-1].Desc {
			order += ", id DESC"
		} else {
			order += ", id"
		}
	}
	offsetPos := pos
	if req.Before != "" {
		offsetPos = max(pos-pl.Limit(), 0)
	}
	offsetSQL := fmt.Sprintf("SELECT id, name, price, category, stock FROM products ORDER BY %s LIMIT %d OFFSET %d", order, pl.Limit()+1, offsetPos)
	start = time.Now()
	err = drainQuery(r.Context(), d.db, offsetSQL)
	offsetDur := time.Since(start)
	if err != nil {
		return nil, err
	}

	res := &pageResult{Page: page, Position: offsetPos, CursorMS: ms(cursorDur), OffsetMS: ms(offsetDur), OffsetSQL: offsetSQL, KeysetSQL: pl.SQL}
	if offsetPos < paginateShallow {
		res.Note = paginateShallowNote
	}
	link := func(param, cursor string, at int) string {
		v := url.Values{}
		for _, k := range []string{"limit", "fields", "sort"} {
			if s := q.Get(k); s != "" {
				v.Set(k, s)
			}
		}
		v.Set(param, cursor)
		v.Set("pos", strconv.Itoa(max(at, 0)))
		return base + "?" + v.Encode()
	}
	if page.Next != "" {
		res.Next = link("after", page.Next, offsetPos+len(page.Items))
	}
	if page.Prev != "" {
		res.Prev = link("before", page.Prev, offsetPos)
	}
	d.pages.Add(1)
	d.mu.Lock()
	d.lastCursorDur, d.lastOffsetDur, d.lastPos = cursorDur, offsetDur, offsetPos
	d.mu.Unlock()
	return res, nil
}

func (d *paginateDemo) fail(w http.ResponseWriter, err error) {
	if paginate.StatusOf(err) < 500 {
		d.rejected.Add(1)
	}
	paginate.WriteError(w, err)
}

func (d *paginateDemo) products(w http.ResponseWriter, r *http.Request) {
	res, err := d.load(r, "/paginate/products")
	if err != nil {
		d.fail(w, err)
		return
	}
	res.Page.WriteLinks(w, r)
	writeJSON(w, http.StatusOK, res)
}

// depth times the keyset query and OFFSET for the same 10-row page at
// each of paginateDepths, paginateDepthRuns times each, interleaved, and
// reports the medians.
func (d *paginateDemo) depth(w http.ResponseWriter, r *http.Request) {
	d.depthMu.Lock()
	defer d.depthMu.Unlock()
	const limit = 10
	keyset := chartSeries{Name: "keyset cursor"}
	offset := chartSeries{Name: "OFFSET"}
	type row struct {
		Row      int     `json:"row"`
		KeysetMS float64 `json:"keyset_median_ms"`
		OffsetMS float64 `json:"offset_median_ms"`
	}
	var rows []row
	for _, n := range paginateDepths {
		req := paginate.Request{Limit: limit}
		if n > 0 {
			var err error
			// ids are 1..N in the default order: row n follows id n.
			if req.After, err = d.p.Cursor(req, false, int64(n)); err != nil {
				d.fail(w, err)
				return
			}
		}
		pl, err := d.p.Build(req)
		if err != nil {
			d.fail(w, err)
			return
		}
		offsetSQL := fmt.Sprintf("SELECT id, name, price, category, stock FROM products ORDER BY id LIMIT %d OFFSET %d", limit+1, n)
		var ks, offs []float64
		for range paginateDepthRuns {
			start := time.Now()
			if err := drainQuery(r.Context(), d.db, pl.SQL, pl.Args...); err != nil {
				d.fail(w, err)
				return
			}
			ks = append(ks, ms(time.Since(start)))
			start = time.Now()
			if err := drainQuery(r.Context(), d.db, offsetSQL); err != nil {
				d.fail(w, err)
				return
			}
			offs = append(offs, ms(time.Since(start)))
		}
		k, o := summarize(ks).Median, summarize(offs).Median
		rows = append(rows, row{n, k, o})
		keyset.Points = append(keyset.Points, chartPoint{X: n, Y: k})
		offset.Points = append(offset.Points, chartPoint{X: n, Y: o})
	}
	deep := rows[len(rows)-1]
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("row %s: %s keyset vs %s OFFSET", thousands(deep.Row), fmtMS(deep.KeysetMS), fmtMS(deep.OffsetMS)),
			Detail: fmt.Sprintf("Medians of %d runs of one %d-row page at each depth. The keyset query seeks the index to the cursor's row and costs the same at any depth; "+
				"OFFSET reads and discards every row before the page, so its cost grows with depth. On the first pages it has little to skip and can be as fast or faster.",
				paginateDepthRuns, limit),
		},
		"chart":  chart{Kind: "lines", Title: "time to fetch one page, by how deep it is", XLabel: "row", Unit: "ms", Series: []chartSeries{keyset, offset}},
		"depths": rows,
	})
}

// drainQuery runs q and reads every row. Both queries of a comparison are
// timed through it, so the numbers compare the queries, not the code
// around them.
func drainQuery(ctx context.Context, db *sql.DB, q string, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// thousands renders n with comma separators: 190,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (d *paginateDemo) count(w http.ResponseWriter, r *http.Request) {
	type timed struct {
		Count string  `json:"count"`
		MS    float64 `json:"ms"`
	}
	out := map[string]timed{}
	for name, fn := range map[string]func() (paginate.Count, error){
		"exact":        func() (paginate.Count, error) { return d.p.ExactCount(r.Context(), d.db, paginate.Request{}) },
		"bounded_1000": func() (paginate.Count, error) { return d.p.BoundedCount(r.Context(), d.db, paginate.Request{}, 1000) },
		"estimate":     func() (paginate.Count, error) { return d.p.EstimateCount(r.Context(), d.db) },
	} {
		start := time.Now()
		c, err := fn()
		if err != nil {
			d.fail(w, err)
			return
		}
		out[name] = timed{c.String(), ms(time.Since(start))}
	}
	writeJSON(w, http.StatusOK, out)
}

var paginateTmpl = template.Must(template.New("browse").Parse(`<!doctype html>
<meta charset="utf-8"><title>paginate · wirespeed</title><link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}code{font-size:12px}</style>
<p><a href="/#demo-paginate">← showcase</a></p>
<h1>Products</h1>
<form method="get" action="/paginate/browse">
 fields: {{range .Fields}}<label><input type="checkbox" name="f" value="{{.Name}}"{{if .On}} checked{{end}}> {{.Name}}</label> {{end}}
 sort: <select name="sort">{{range .Sorts}}<option value="{{.}}"{{if eq . $.Sort}} selected{{end}}>{{if .}}{{.}}{{else}}id{{end}}</option>{{end}}</select>
 jump to row: <input name="jump" size="7" value="{{.Jump}}">
 <button>show</button>
</form>
<p>rows {{.Res.Position}}–{{.End}}: keyset query <b>{{printf "%.2f" .Res.CursorMS}} ms</b>, OFFSET for the same page <b>{{printf "%.2f" .Res.OffsetMS}} ms</b>{{if .Res.Note}}<br><small>{{.Res.Note}}</small>{{end}}</p>
<p>{{if .Res.Prev}}<a href="{{.Res.Prev}}">← prev</a>{{end}} {{if .Res.Next}}<a href="{{.Res.Next}}">next →</a>{{end}}</p>
<table><tr>{{range .Cols}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>
<p><code>{{.Res.KeysetSQL}}</code><br><code>{{.Res.OffsetSQL}}</code></p>
`))

func (d *paginateDemo) browse(w http.ResponseWriter, r *http.Request) {
	// The form sends one checkbox per field; fold them into fields=.
	q := r.URL.Query()
	if fs := q["f"]; len(fs) > 0 {
		q.Del("f")
		joined := ""
		for i, f := range fs {
			if i > 0 {
				joined += ","
			}
			joined += f
		}
		q.Set("fields", joined)
	}
	if q.Get("sort") == "" {
		q.Del("sort")
	}
	if q.Get("jump") == "" {
		q.Del("jump")
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	res, err := d.load(r2, "/paginate/browse")
	if err != nil {
		d.fail(w, err)
		return
	}
	var cols []string
	var rows [][]string
	for i, it := range res.Page.Items {
		if i == 0 {
			cols = it.Fields()
		}
		var cells []string
		for _, c := range it.Fields() {
			v, _ := it.Get(c)
			if v == nil {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, fmt.Sprint(v))
			}
		}
		rows = append(rows, cells)
	}
	selected := map[string]bool{}
	fields, _ := paginate.ParseFields(q.Get("fields"), paginateColumns)
	for _, f := range fields {
		selected[f] = true
	}
	type field struct {
		Name string
		On   bool
	}
	var fs []field
	for _, c := range paginateColumns {
		fs = append(fs, field{c, len(fields) == 0 || selected[c]})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	res.Page.WriteLinks(w, r2)
	paginateTmpl.Execute(w, map[string]any{
		"Res":    res,
		"End":    res.Position + len(res.Page.Items),
		"Cols":   cols,
		"Rows":   rows,
		"Fields": fs,
		"Sort":   q.Get("sort"),
		"Sorts":  []string{"", "-id", "price", "-price", "name"},
		"Jump":   q.Get("jump"),
	})
}
