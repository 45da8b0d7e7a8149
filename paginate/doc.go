// Package paginate gives database/sql services keyset (cursor) pagination
// with opaque, HMAC-signed cursors, cheap counts and sparse fieldsets.
//
// Keyset pagination costs the same at any depth: instead of OFFSET n, which
// makes the database read and discard n rows, each page asks for the rows
// after the last one seen, "WHERE (price, id) > (?, ?) ORDER BY price, id
// LIMIT 21", which an index on (price, id) answers by seeking.
//
// # Quick start
//
//	signer, _ := paginate.NewSigner([][]byte{key}, nil)
//	p, _ := paginate.New(&paginate.Options{
//		Table:   "products",
//		Columns: []string{"id", "name", "price"},
//		Signer:  signer,
//	})
//	mux.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
//		req, err := p.ParseRequest(r)
//		if err != nil {
//			paginate.WriteError(w, err)
//			return
//		}
//		page, err := paginate.Query(r.Context(), db, p, req, paginate.AsRow)
//		if err != nil {
//			paginate.WriteError(w, err)
//			return
//		}
//		page.WriteLinks(w, r)
//		json.NewEncoder(w).Encode(page)
//	})
//
// # Cursors
//
// A cursor holds every sort key of the row it points at, a direction, an
// optional expiry and an 8-byte hash of the query it belongs to (table,
// sort, filter and filter arguments), signed with HMAC-SHA256 and encoded
// as unpadded base64url. A [Signer] signs with its first key and verifies
// with all of them, so keys rotate by prepending the new one. Tampered,
// expired and foreign cursors are rejected with an [*Error] whose Status is
// 400.
//
// Signed is not encrypted: anyone holding a cursor can decode the sort
// values of the row it points at (an email address, a salary, when the
// page is sorted by one). Applications that sort by columns clients must
// not read set SignerOptions.Encrypt, which seals cursors with AES-256-GCM
// under keys derived from the signing keys, so they rotate with them; a
// Signer accepts both forms, so encryption can be turned on without
// breaking the cursors clients hold.
//
// A cursor is at most SignerOptions.MaxCursorLen characters (2048 by
// default), a bound Sign and Verify share, so every cursor a Signer hands
// out can be followed. Since the cursor carries the sort values, a page
// sorted by long text can exceed it: Query then fails with
// [ErrCursorTooLong], an [*Error] with Status 500 that [WriteError]
// answers with a message asking for shorter sort columns. Sort by bounded
// columns (a digest cannot replace the value: the next page's WHERE needs
// it), or raise MaxCursorLen within the URL length your servers and
// proxies accept.
//
// # Sorting and NULLs
//
// Sort keys come from the Columns allow list; the unique tie-breaker
// (Options.Key, "id" by default) is appended when missing, so the order is
// total and no row is skipped or repeated between pages. When all keys
// share one direction and none is nullable, the predicate is a row-value
// comparison that a composite index serves; otherwise it is the expanded
// OR form. Nullable columns (Options.Nullable) get explicit NULLS FIRST or
// NULLS LAST in ORDER BY on both dialects (SQLite ≥ 3.30 and PostgreSQL
// both accept it), and predicates use IS NULL / IS NOT NULL, never a
// replacement value. [NullsDefault] orders NULLs as larger than every value
// (NULLS LAST ascending, NULLS FIRST descending), which is PostgreSQL's
// native order and so matches its B-tree indexes; SQLite's native order is
// the opposite (NULLs smallest), which the explicit clause overrides.
//
// # Counts
//
// COUNT(*) reads the whole table. [Paginator.BoundedCount] stops at a cap
// ("1000+"), [EstimateCount] reads PostgreSQL's pg_class.reltuples or
// SQLite's sqlite_stat1 (written by ANALYZE), and [CachedCount] refreshes
// any of them at most once per interval. A handler picks per endpoint.
//
// # Sparse fieldsets
//
// [ParseFields] and [FieldsFromQuery] read "fields=a,b" and JSON:API
// "fields[type]=a,b", validated against the allow list. Only the requested
// columns, plus the sort keys the cursor needs, are selected; a [Row]
// marshals to JSON with only the requested ones.
//
// # Caveats
//
// Cursor values are int64, float64, string, []byte, bool, time.Time or
// nil. SQLite stores time.Time arguments as text, so sort time columns
// stored as integers (Unix time) or ISO-8601 text consistently there.
package paginate
