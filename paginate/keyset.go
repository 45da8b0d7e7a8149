package paginate

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Nulls says where NULLs of a nullable sort column go.
type Nulls int

const (
	// NullsDefault orders NULLs as larger than every value: last in
	// ascending order, first in descending order (PostgreSQL's native
	// order, so its indexes serve the sort).
	NullsDefault Nulls = iota
	// NullsFirst puts NULLs first whatever the direction.
	NullsFirst
	// NullsLast puts NULLs last whatever the direction.
	NullsLast
)

// SortKey is one column of the sort order.
type SortKey struct {
	Column string // from Options.Columns
	Desc   bool   // descending; false is ascending
}

// Options configures a [Paginator]. Table, Columns and Signer are
// required; every other zero value picks the documented default.
type Options struct {
	// Name identifies the resource in cursors (a cursor of "orders" is
	// foreign to "products") and in "fields[Name]=". Defaults to Table.
	Name string
	// Table is the table or view to read, a plain identifier, optionally
	// schema-qualified ("public.products").
	Table string
	// Columns is the allow list of columns that may be selected and sorted
	// by, in the order a full row is selected. It must contain Key.
	Columns []string
	// Key is the unique, non-NULL tie-breaker column appended to every
	// sort that lacks it. Defaults to "id".
	Key string
	// Nullable lists the columns of Columns that can hold NULL; sorting by
	// them uses NULL-aware predicates. A nullable column missing here
	// makes pages skip rows whose sort value is NULL.
	Nullable []string
	// Nulls places NULLs of nullable columns. Defaults to NullsDefault.
	Nulls Nulls
	// DefaultSort is the order when a request has none. Defaults to Key
	// ascending.
	DefaultSort []SortKey
	// DefaultLimit is the page size when a request has none or asks for
	// zero or less. Defaults to 20.
	DefaultLimit int
	// MaxLimit caps the page size. Defaults to 100.
	MaxLimit int
	// MaxSortKeys caps the sort keys of a request, tie-breaker included.
	// Defaults to 4.
	MaxSortKeys int
	// Dialect is the SQL flavour. Defaults to SQLite.
	Dialect Dialect
	// Signer signs and verifies cursors. Required.
	Signer *Signer
}

// Paginator builds keyset queries for one resource. It is immutable after
// [New] and safe for concurrent use.
type Paginator struct {
	o        Options
	columns  map[string]int // column → position in o.Columns
	nullable map[string]bool
}

// New validates opts and returns a Paginator. opts is copied.
func New(opts *Options) (*Paginator, error) {
	if opts == nil {
		return nil, errors.New("paginate: New needs Options with Table, Columns and Signer")
	}
	o := *opts
	o.Columns = slices.Clone(o.Columns)
	o.Nullable = slices.Clone(o.Nullable)
	o.DefaultSort = slices.Clone(o.DefaultSort)
	if o.Signer == nil {
		return nil, errors.New("paginate: Options.Signer is required")
	}
	if !validIdent(o.Table) {
		return nil, identError("table", o.Table)
	}
	if o.Name == "" {
		o.Name = o.Table
	}
	if o.Key == "" {
		o.Key = "id"
	}
	if o.DefaultLimit <= 0 {
		o.DefaultLimit = 20
	}
	if o.MaxLimit <= 0 {
		o.MaxLimit = 100
	}
	if o.DefaultLimit > o.MaxLimit {
		o.DefaultLimit = o.MaxLimit
	}
	if o.MaxSortKeys <= 0 {
		o.MaxSortKeys = 4
	}
	if !o.Dialect.valid() {
		return nil, fmt.Errorf("paginate: unknown %v", o.Dialect)
	}
	if o.Nulls < NullsDefault || o.Nulls > NullsLast {
		return nil, fmt.Errorf("paginate: unknown Nulls %d", o.Nulls)
	}
	p := &Paginator{o: o, columns: map[string]int{}, nullable: map[string]bool{}}
	for i, c := range o.Columns {
		if strings.Contains(c, ".") || !validIdent(c) {
			return nil, identError("column", c)
		}
		if _, dup := p.columns[c]; dup {
			return nil, fmt.Errorf("paginate: column %q listed twice", c)
		}
		p.columns[c] = i
	}
	if _, ok := p.columns[o.Key]; !ok {
		return nil, fmt.Errorf("paginate: Key %q is not in Columns", o.Key)
	}
	for _, c := range o.Nullable {
		if _, ok := p.columns[c]; !ok {
			return nil, fmt.Errorf("paginate: Nullable column %q is not in Columns", c)
		}
		if c == o.Key {
			return nil, fmt.Errorf("paginate: Key %q cannot be nullable", c)
		}
		p.nullable[c] = true
	}
	if len(o.DefaultSort) == 0 {
		p.o.DefaultSort = []SortKey{{Column: o.Key}}
	}
	if _, err := p.normalizeSort(p.o.DefaultSort); err != nil {
		return nil, fmt.Errorf("paginate: DefaultSort: %w", err)
	}
	return p, nil
}

// Name returns the resource name (Options.Name, or Table).
func (p *Paginator) Name() string { return p.o.Name }

// Columns returns a copy of the allow list.
func (p *Paginator) Columns() []string { return slices.Clone(p.o.Columns) }

// Dialect returns the SQL flavour.
func (p *Paginator) Dialect() Dialect { return p.o.Dialect }

// Request is one page request. The zero value asks for the first page in
// the default sort with the default limit and every column.
type Request struct {
	// Sort is the order; nil means Options.DefaultSort. The tie-breaker
	// is appended when missing.
	Sort []SortKey
	// Fields are the columns the caller wants; nil means all Columns.
	// Sort keys are selected too when missing, for the cursor, but a
	// [Row] does not show them.
	Fields []string
	// Where is a trusted SQL condition with "?" markers for Args, ANDed
	// with the keyset predicate (never put client text in it; pass
	// client values in Args). It is part of the cursor's scope. Every "?"
	// outside quotes is a marker, so write PostgreSQL's jsonb "?"
	// operators as functions (jsonb_exists).
	Where string
	// Args are the values of Where's markers; part of the cursor's scope.
	Args []any
	// Limit is the page size; zero or less means Options.DefaultLimit,
	// more than Options.MaxLimit means MaxLimit.
	Limit int
	// After is a Next cursor: the page starts after its row.
	After string
	// Before is a Prev cursor: the page ends before its row.
	Before string
}

// Plan is a built page query. It is immutable and safe to share.
type Plan struct {
	// SQL is the statement, with the dialect's placeholders.
	SQL string
	// Args are its arguments.
	Args []any
	// Columns are the selected columns in order: the requested fields,
	// then sort keys the fields lack.
	Columns []string

	limit    int
	backward bool
	anchor   []any // decoded cursor values, nil on a first page
	incl     bool  // the anchor row itself is included
	keyIdx   []int // position in Columns of each sort key
	visible  []int // positions in Columns of the requested fields
	scope    string
	signer   *Signer
}

// Limit returns the page size the plan fetches (one more row is read to
// know whether another page follows).
func (pl *Plan) Limit() int { return pl.limit }

func (p *Paginator) normalizeSort(sort []SortKey) ([]SortKey, error) {
	out := make([]SortKey, 0, len(sort)+1)
	seen := map[string]bool{}
	for _, k := range sort {
		if _, ok := p.columns[k.Column]; !ok {
			return nil, p.unknown("sort column", k.Column)
		}
		if seen[k.Column] {
			continue
		}
		seen[k.Column] = true
		out = append(out, k)
		if k.Column == p.o.Key {
			break // the order is total; later keys never matter
		}
	}
	if !seen[p.o.Key] {
		desc := len(out) > 0 && out[len(out)-1].Desc
		out = append(out, SortKey{Column: p.o.Key, Desc: desc})
	}
	if len(out) > p.o.MaxSortKeys {
		return nil, badRequest(ErrBadFields, fmt.Sprintf("paginate: %d sort keys; at most %d including %q", len(out), p.o.MaxSortKeys, p.o.Key))
	}
	return out, nil
}

func (p *Paginator) unknown(kind, name string) error {
	return badRequest(ErrUnknownField, fmt.Sprintf("paginate: unknown %s %q; valid: %s", kind, truncate(name, 64), strings.Join(p.o.Columns, ", ")))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// scope is what a cursor is bound to: resource, table, sort, filter.
func (p *Paginator) scope(sort []SortKey, req *Request) string {
	var b strings.Builder
	b.WriteString(p.o.Name)
	b.WriteByte(0)
	b.WriteString(p.o.Table)
	b.WriteByte(0)
	for _, k := range sort {
		b.WriteString(k.Column)
		if k.Desc {
			b.WriteString(" desc")
		}
		b.WriteByte(',')
	}
	b.WriteByte(0)
	b.WriteString(req.Where)
	for _, a := range req.Args {
		fmt.Fprintf(&b, "\x00%T:%v", a, a)
	}
	return b.String()
}

func (p *Paginator) limit(n int) int {
	if n <= 0 {
		return p.o.DefaultLimit
	}
	return min(n, p.o.MaxLimit)
}

// nullsLast reports whether NULLs of a column come after its values in
// the given direction.
func (p *Paginator) nullsLast(desc bool) bool {
	switch p.o.Nulls {
	case NullsFirst:
		return false
	case NullsLast:
		return true
	}
	return !desc
}

// Build validates req, verifies its cursor and returns the page query.
// Client errors are [*Error] values with Status 400.
func (p *Paginator) Build(req Request) (*Plan, error) {
	if req.After != "" && req.Before != "" {
		return nil, badRequest(ErrBothCursors, "")
	}
	sort := req.Sort
	if len(sort) == 0 {
		sort = p.o.DefaultSort
	}
	sort, err := p.normalizeSort(sort)
	if err != nil {
		return nil, err
	}
	pl := &Plan{limit: p.limit(req.Limit), scope: p.scope(sort, &req), signer: p.o.Signer}
	if tok := req.After + req.Before; tok != "" {
		c, err := p.o.Signer.Verify(pl.scope, tok)
		if err != nil {
			return nil, err
		}
		if c.Backward != (req.Before != "") || len(c.Values) != len(sort) {
			return nil, badRequest(ErrForeignCursor, "")
		}
		pl.backward = c.Backward
		pl.anchor = c.Values
		pl.incl = c.Inclusive
	}

	// SELECT list: requested fields, then the sort keys they lack.
	fields := req.Fields
	if fields == nil {
		fields = p.o.Columns
	}
	pos := map[string]int{}
	for _, f := range fields {
		if _, ok := p.columns[f]; !ok {
			return nil, p.unknown("field", f)
		}
		if _, dup := pos[f]; dup {
			continue
		}
		pos[f] = len(pl.Columns)
		pl.visible = append(pl.visible, len(pl.Columns))
		pl.Columns = append(pl.Columns, f)
	}
	for _, k := range sort {
		i, ok := pos[k.Column]
		if !ok {
			i = len(pl.Columns)
			pos[k.Column] = i
			pl.Columns = append(pl.Columns, k.Column)
		}
		pl.keyIdx = append(pl.keyIdx, i)
	}

	d := p.o.Dialect
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range pl.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c))
	}
	b.WriteString(" FROM ")
	b.WriteString(quote(p.o.Table))
	var conds []string
	if req.Where != "" {
		w, n := d.rebind(req.Where, 1)
		if n != len(req.Args) {
			return nil, fmt.Errorf("paginate: Where has %d markers but %d Args", n, len(req.Args))
		}
		conds = append(conds, "("+w+")")
		pl.Args = append(pl.Args, req.Args...)
	}
	if pl.anchor != nil {
		pred, args := p.predicate(sort, pl.anchor, pl.backward, pl.incl, len(pl.Args)+1)
		conds = append(conds, pred)
		pl.Args = append(pl.Args, args...)
	}
	if len(conds) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(conds, " AND "))
	}
	b.WriteString(" ORDER BY ")
	for i, k := range sort {
		if i > 0 {
			b.WriteString(", ")
		}
		desc := k.Desc != pl.backward
		b.WriteString(quote(k.Column))
		if desc {
			b.WriteString(" DESC")
		}
		if p.nullable[k.Column] {
			last := p.nullsLast(k.Desc) != pl.backward
			if last {
				b.WriteString(" NULLS LAST")
			} else {
				b.WriteString(" NULLS FIRST")
			}
		}
	}
	b.WriteString(" LIMIT ")
	b.WriteString(strconv.Itoa(pl.limit + 1))
	pl.SQL = b.String()
	return pl, nil
}

// predicate returns the condition selecting rows strictly after (or, when
// backward, strictly before) the anchor row in the sort order, or also the
// anchor row when incl.
func (p *Paginator) predicate(sort []SortKey, anchor []any, backward, incl bool, first int) (string, []any) {
	d := p.o.Dialect
	n := first
	ph := func() string { s := d.placeholder(n); n++; return s }

	sameDir, anyNullable := true, false
	for _, k := range sort {
		sameDir = sameDir && k.Desc == sort[0].Desc
		anyNullable = anyNullable || p.nullable[k.Column]
	}
	if sameDir && !anyNullable {
		// Row-value comparison: one range an index on the keys serves.
		op := ">"
		if sort[0].Desc != backward {
			op = "<"
		}
		if incl {
			op += "="
		}
		if len(sort) == 1 {
			return quote(sort[0].Column) + " " + op + " " + ph(), []any{anchor[0]}
		}
		cols := make([]string, len(sort))
		phs := make([]string, len(sort))
		for i, k := range sort {
			cols[i] = quote(k.Column)
			phs[i] = ph()
		}
		return "(" + strings.Join(cols, ", ") + ") " + op + " (" + strings.Join(phs, ", ") + ")", slices.Clone(anchor)
	}

	// Expanded form: OR over i of (keys before i equal AND key i after).
	// Each term gets its own markers so "?" stays positional.
	var args []any
	var ors []string
	eq := func(j int) string {
		col := quote(sort[j].Column)
		if anchor[j] == nil {
			return col + " IS NULL"
		}
		args = append(args, anchor[j])
		return col + " = " + ph()
	}
	for i, k := range sort {
		col := quote(k.Column)
		v := anchor[i]
		desc := k.Desc != backward
		nullsAfter := p.nullable[k.Column] && (p.nullsLast(k.Desc) != backward)
		if v == nil && nullsAfter {
			continue // nothing sorts after NULL
		}
		parts := make([]string, 0, i+1)
		for j := range i {
			parts = append(parts, eq(j))
		}
		var after string
		if v == nil {
			after = col + " IS NOT NULL"
		} else {
			op := ">"
			if desc {
				op = "<"
			}
			if incl && i == len(sort)-1 {
				op += "=" // the tie-breaker: never NULL
			}
			args = append(args, v)
			after = col + " " + op + " " + ph()
			if nullsAfter {
				after = "(" + after + " OR " + col + " IS NULL)"
			}
		}
		parts = append(parts, after)
		ors = append(ors, "("+strings.Join(parts, " AND ")+")")
	}
	if len(ors) == 0 {
		return "1 = 0", nil
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// Cursor returns an "after" cursor (or a "before" cursor when backward) for
// the row whose sort keys (tie-breaker included, in sort order) are values,
// valid for requests with req's Sort, Where and Args. It lets a service
// resume from a known row, such as a bookmark. Values too long for
// SignerOptions.MaxCursorLen give [ErrCursorTooLong]. It is safe for
// concurrent use.
func (p *Paginator) Cursor(req Request, backward bool, values ...any) (string, error) {
	sort := req.Sort
	if len(sort) == 0 {
		sort = p.o.DefaultSort
	}
	sort, err := p.normalizeSort(sort)
	if err != nil {
		return "", err
	}
	if len(values) != len(sort) {
		return "", fmt.Errorf("paginate: Cursor got %d values for %d sort keys", len(values), len(sort))
	}
	return p.o.Signer.Sign(p.scope(sort, &req), Cursor{Backward: backward, Values: values})
}
