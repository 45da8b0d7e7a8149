package paginate

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
)

// Querier is what [Query] and the counts run on: *sql.DB, *sql.Tx and
// *sql.Conn satisfy it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Page is one page of items in display order (the sort order, also for a
// page fetched backward).
type Page[T any] struct {
	// Items are the page's items, at most the limit.
	Items []T `json:"items"`
	// Next is the cursor for the following page ("after="), empty when
	// no row follows.
	Next string `json:"next,omitempty"`
	// Prev is the cursor for the preceding page ("before="), empty on the
	// first page.
	Prev string `json:"prev,omitempty"`
	// HasMore reports whether rows exist beyond this page in the direction
	// it was fetched: after it for a first or "after" page, before it for
	// a "before" page.
	HasMore bool `json:"has_more"`
}

// Row is one result row: the requested fields plus any sort keys the cursor
// needed. It marshals to a JSON object with only the requested fields, in
// request order. A Row is not safe for concurrent mutation; reading is.
type Row struct {
	cols    []string
	vals    []any
	visible []int
}

// Get returns the value of column name and whether the row has it (sort
// keys are present even when not requested).
func (r Row) Get(name string) (any, bool) {
	i := slices.Index(r.cols, name)
	if i < 0 {
		return nil, false
	}
	return r.vals[i], true
}

// Fields returns the requested fields in order.
func (r Row) Fields() []string {
	out := make([]string, len(r.visible))
	for i, j := range r.visible {
		out[i] = r.cols[j]
	}
	return out
}

// Map returns the requested fields as a map.
func (r Row) Map() map[string]any {
	m := make(map[string]any, len(r.visible))
	for _, j := range r.visible {
		m[r.cols[j]] = r.vals[j]
	}
	return m
}

// MarshalJSON writes the requested fields in request order. []byte values
// from text columns of some drivers are written as strings.
func (r Row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for n, j := range r.visible {
		if n > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(r.cols[j])
		b.Write(k)
		b.WriteByte(':')
		v := r.vals[j]
		if bs, ok := v.([]byte); ok {
			v = string(bs)
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("paginate: field %q: %w", r.cols[j], err)
		}
		b.Write(enc)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// AsRow is the identity conversion for [Query], for handlers that answer
// with the selected fields as they are.
func AsRow(r Row) (Row, error) { return r, nil }

// Query builds req with p, runs it on db and returns the page, converting
// each row with conv. It reads limit+1 rows to know whether another page
// follows. Client errors are [*Error] values with Status 400; a page whose
// cursor would exceed SignerOptions.MaxCursorLen fails with an [*Error]
// with Status 500 wrapping [ErrCursorTooLong]; database errors are
// wrapped. Cancelling ctx cancels the query. Query is safe for
// concurrent use.
func Query[T any](ctx context.Context, db Querier, p *Paginator, req Request, conv func(Row) (T, error)) (Page[T], error) {
	pl, err := p.Build(req)
	if err != nil {
		return Page[T]{}, err
	}
	return Run(ctx, db, pl, conv)
}

// Run runs a plan from [Paginator.Build]; see [Query].
func Run[T any](ctx context.Context, db Querier, pl *Plan, conv func(Row) (T, error)) (Page[T], error) {
	rows, err := db.QueryContext(ctx, pl.SQL, pl.Args...)
	if err != nil {
		return Page[T]{}, fmt.Errorf("paginate: query: %w", err)
	}
	defer rows.Close()
	var raw [][]any
	for rows.Next() {
		vals := make([]any, len(pl.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return Page[T]{}, fmt.Errorf("paginate: scan: %w", err)
		}
		raw = append(raw, vals)
	}
	if err := rows.Err(); err != nil {
		return Page[T]{}, fmt.Errorf("paginate: rows: %w", err)
	}
	more := len(raw) > pl.limit
	if more {
		raw = raw[:pl.limit]
	}
	if pl.backward {
		slices.Reverse(raw)
	}
	var pg Page[T]
	pg.HasMore = more
	pg.Items = make([]T, 0, len(raw))
	for _, vals := range raw {
		it, err := conv(Row{cols: pl.Columns, vals: vals, visible: pl.visible})
		if err != nil {
			return Page[T]{}, err
		}
		pg.Items = append(pg.Items, it)
	}

	// Anchors: the first and last rows, or the cursor's row when empty.
	// An empty page's anchor is the cursor's row, which belongs to the
	// page on the other side: include it there.
	var firstKeys, lastKeys []any
	incl := false
	if len(raw) > 0 {
		firstKeys, lastKeys = pl.keys(raw[0]), pl.keys(raw[len(raw)-1])
	} else if pl.anchor != nil {
		firstKeys, lastKeys = pl.anchor, pl.anchor
		incl = !pl.incl
	}
	hasNext := (!pl.backward && more) || (pl.backward && pl.anchor != nil)
	hasPrev := (pl.backward && more) || (!pl.backward && pl.anchor != nil)
	if hasNext && lastKeys != nil {
		if pg.Next, err = pl.signer.Sign(pl.scope, Cursor{Values: lastKeys, Inclusive: incl}); err != nil {
			return Page[T]{}, err
		}
	}
	if hasPrev && firstKeys != nil {
		if pg.Prev, err = pl.signer.Sign(pl.scope, Cursor{Backward: true, Values: firstKeys, Inclusive: incl}); err != nil {
			return Page[T]{}, err
		}
	}
	return pg, nil
}

func (pl *Plan) keys(vals []any) []any {
	out := make([]any, len(pl.keyIdx))
	for i, j := range pl.keyIdx {
		out[i] = vals[j]
	}
	return out
}
