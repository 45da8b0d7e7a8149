package paginate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Count is a row count and how much to trust it.
type Count struct {
	// N is the count, or the cap when AtLeast is set.
	N int64 `json:"n"`
	// AtLeast reports that counting stopped at the cap: there are N or
	// more rows.
	AtLeast bool `json:"at_least,omitempty"`
	// Estimate reports that N comes from statistics, not counting.
	Estimate bool `json:"estimate,omitempty"`
}

// String returns "1000+" for a capped count, "~1000" for an estimate and
// "1000" otherwise.
func (c Count) String() string {
	s := strconv.FormatInt(c.N, 10)
	switch {
	case c.AtLeast:
		return s + "+"
	case c.Estimate:
		return "~" + s
	}
	return s
}

// BoundedCount counts the rows matching req's Where and Args, reading at
// most limit+1 of them: "SELECT COUNT(*) FROM (SELECT 1 FROM t WHERE … LIMIT
// limit+1)". When more rows exist the Count is {N: limit, AtLeast: true}.
// limit ≤ 0 defaults to 1000. Cursors, sort and fields of req are ignored.
func (p *Paginator) BoundedCount(ctx context.Context, db Querier, req Request, limit int) (Count, error) {
	if limit <= 0 {
		limit = 1000
	}
	var b strings.Builder
	b.WriteString("SELECT COUNT(*) FROM (SELECT 1 FROM ")
	b.WriteString(quote(p.o.Table))
	if req.Where != "" {
		w, n := p.o.Dialect.rebind(req.Where, 1)
		if n != len(req.Args) {
			return Count{}, fmt.Errorf("paginate: Where has %d markers but %d Args", n, len(req.Args))
		}
		b.WriteString(" WHERE ")
		b.WriteString(w)
	}
	fmt.Fprintf(&b, " LIMIT %d) AS bounded", limit+1)
	n, err := queryInt(ctx, db, b.String(), req.Args...)
	if err != nil {
		return Count{}, fmt.Errorf("paginate: bounded count: %w", err)
	}
	if n > int64(limit) {
		return Count{N: int64(limit), AtLeast: true}, nil
	}
	return Count{N: n}, nil
}

// ExactCount runs COUNT(*) over the rows matching req's Where and Args. It
// reads every matching row; prefer BoundedCount or EstimateCount on big
// tables.
func (p *Paginator) ExactCount(ctx context.Context, db Querier, req Request) (Count, error) {
	q := "SELECT COUNT(*) FROM " + quote(p.o.Table)
	if req.Where != "" {
		w, n := p.o.Dialect.rebind(req.Where, 1)
		if n != len(req.Args) {
			return Count{}, fmt.Errorf("paginate: Where has %d markers but %d Args", n, len(req.Args))
		}
		q += " WHERE " + w
	}
	n, err := queryInt(ctx, db, q, req.Args...)
	if err != nil {
		return Count{}, fmt.Errorf("paginate: count: %w", err)
	}
	return Count{N: n}, nil
}

// EstimateCount returns the table's row estimate from planner statistics,
// without reading the table: PostgreSQL's pg_class.reltuples (kept by
// ANALYZE and autovacuum), or, on SQLite, the first number of the table's
// sqlite_stat1 rows (written by ANALYZE; SQLite keeps no running count, so
// run ANALYZE periodically or use a [CachedCount] over BoundedCount or
// ExactCount). It returns [ErrNoEstimate] when there are no statistics. The
// estimate ignores any filter.
func (p *Paginator) EstimateCount(ctx context.Context, db Querier) (Count, error) {
	return EstimateCount(ctx, db, p.o.Dialect, p.o.Table)
}

// EstimateCount is [Paginator.EstimateCount] for any table of a dialect.
func EstimateCount(ctx context.Context, db Querier, d Dialect, table string) (Count, error) {
	if !validIdent(table) {
		return Count{}, identError("table", table)
	}
	var n int64
	var err error
	switch d {
	case PostgreSQL:
		// to_regclass resolves the name as the search_path does; reltuples
		// is -1 before the first ANALYZE (PostgreSQL 14+).
		n, err = queryInt(ctx, db, "SELECT COALESCE((SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)), -1)", table)
	default:
		name := table[strings.LastIndexByte(table, '.')+1:]
		var rows *sql.Rows
		rows, err = db.QueryContext(ctx, "SELECT stat FROM sqlite_stat1 WHERE tbl = ? ORDER BY idx IS NOT NULL LIMIT 1", name)
		if err == nil {
			n = -1
			var stat string
			if rows.Next() {
				if err = rows.Scan(&stat); err == nil {
					first, _, _ := strings.Cut(stat, " ")
					if v, perr := strconv.ParseInt(first, 10, 64); perr == nil {
						n = v
					}
				}
			}
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
		} else if strings.Contains(err.Error(), "no such table") {
			return Count{}, ErrNoEstimate
		}
	}
	if err != nil {
		return Count{}, fmt.Errorf("paginate: estimate count: %w", err)
	}
	if n < 0 {
		return Count{}, ErrNoEstimate
	}
	return Count{N: n, Estimate: true}, nil
}

func queryInt(ctx context.Context, db Querier, q string, args ...any) (int64, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("no row")
	}
	var n int64
	if err := rows.Scan(&n); err != nil {
		return 0, err
	}
	return n, rows.Close()
}

// CachedCount serves a count computed at most once per refresh interval.
// Concurrent callers of a stale value wait for one computation. It starts
// no goroutine, so it needs no Close. It is safe for concurrent use.
type CachedCount struct {
	fn      func(context.Context) (Count, error)
	refresh time.Duration
	now     func() time.Time

	mu       sync.Mutex // protects the fields below; held while computing
	val      Count
	at       time.Time
	ok       bool // val holds a computed value
	stale    bool // Invalidate was called since val was computed
	computes int64
}

// CachedCountStats is a snapshot of a CachedCount.
type CachedCountStats struct {
	Computes int64     // times fn ran successfully
	Value    Count     // the cached value
	At       time.Time // when it was computed; zero if never
}

// NewCachedCount returns a CachedCount over fn. refresh ≤ 0 defaults to
// one minute.
func NewCachedCount(fn func(context.Context) (Count, error), refresh time.Duration) *CachedCount {
	if refresh <= 0 {
		refresh = time.Minute
	}
	return &CachedCount{fn: fn, refresh: refresh, now: time.Now}
}

// Get returns the cached count, computing it first when there is none or it
// is older than the refresh interval. When recomputing fails and an older
// value exists, the older value is returned with no error; the next Get
// tries again. Cancelling ctx cancels the computation this caller runs;
// callers waiting for another caller's computation wait regardless of their ctx.
func (c *CachedCount) Get(ctx context.Context) (Count, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && !c.stale && c.now().Sub(c.at) < c.refresh {
		return c.val, nil
	}
	v, err := c.fn(ctx)
	if err != nil {
		if c.ok {
			return c.val, nil
		}
		return Count{}, err
	}
	c.val, c.at, c.ok, c.stale = v, c.now(), true, false
	c.computes++
	return v, nil
}

// Invalidate makes the next Get recompute (still falling back to the old
// value if that fails), e.g. after a bulk insert.
func (c *CachedCount) Invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}

// Stats returns a snapshot.
func (c *CachedCount) Stats() CachedCountStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CachedCountStats{Computes: c.computes, Value: c.val, At: c.at}
}
