package paginate_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/wirespeed/wirespeed/paginate"
)

// benchRows is the table size: WIRESPEED_PAGINATE_ROWS, default 1,000,000.
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("WIRESPEED_PAGINATE_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var benchDepths = []int{0, 10_000, 100_000, 500_000}

var (
	benchOnce   sync.Once
	benchSQLite *sql.DB // shared by every benchmark of the process
	benchErr    error
	benchDir    string
)

func closeBenchDBs() {
	if benchSQLite != nil {
		benchSQLite.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
}

// fillItems creates items(id, name, price) with n rows in one statement.
func fillItems(db *sql.DB, d paginate.Dialect, n int) error {
	var stmts []string
	if d == paginate.PostgreSQL {
		stmts = []string{
			"CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, price BIGINT NOT NULL)",
			fmt.Sprintf("INSERT INTO items SELECT x, 'item-' || x, (x * 7919) %% 100000 FROM generate_series(1::bigint, %d) AS x", n),
			"CREATE INDEX items_price_id ON items (price, id)",
			"ANALYZE items",
		}
	} else {
		stmts = []string{
			"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL)",
			fmt.Sprintf("INSERT INTO items WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT x, 'item-' || x, (x * 7919) %% 100000 FROM c", n),
			"CREATE INDEX items_price_id ON items (price, id)",
			"ANALYZE",
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func sqliteBenchDB(b *testing.B) *sql.DB {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "paginate-bench-")
		if benchErr != nil {
			return
		}
		benchSQLite, benchErr = sql.Open("sqlite", "file:"+benchDir+"/bench.db?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
		if benchErr != nil {
			return
		}
		benchErr = fillItems(benchSQLite, paginate.SQLite, benchRows())
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSQLite
}

func postgresBenchDB(b *testing.B) *sql.DB {
	db := openPostgres(b)
	if err := fillItems(db, paginate.PostgreSQL, benchRows()); err != nil {
		b.Fatal(err)
	}
	return db
}

func benchDBs(b *testing.B, fn func(b *testing.B, db *sql.DB, d paginate.Dialect)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, sqliteBenchDB(b), paginate.SQLite) })
	b.Run("postgresql", func(b *testing.B) { fn(b, postgresBenchDB(b), paginate.PostgreSQL) })
}

// BenchmarkDepth reads a page of 20 ordered by id at increasing depth, by
// keyset cursor and by OFFSET. The claim: cursor cost is flat, OFFSET's
// grows with depth.
func BenchmarkDepth(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *sql.DB, d paginate.Dialect) {
		p, err := paginate.New(&paginate.Options{Table: "items", Columns: []string{"id", "name", "price"}, Dialect: d, Signer: newSigner(b)})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		offsetSQL := "SELECT id, name, price FROM items ORDER BY id LIMIT 21 OFFSET ?"
		if d == paginate.PostgreSQL {
			offsetSQL = "SELECT id, name, price FROM items ORDER BY id LIMIT 21 OFFSET $1"
		}
		for _, depth := range benchDepths {
			if depth >= benchRows() {
				continue
			}
			req := paginate.Request{Limit: 20}
			if depth > 0 {
				// ids are 1..n, so the row before depth has id depth.
				if req.After, err = p.Cursor(req, false, int64(depth)); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("depth=%d/cursor", depth), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					pg, err := paginate.Query(ctx, db, p, req, paginate.AsRow)
					if err != nil || len(pg.Items) != 20 {
						b.Fatal(err, len(pg.Items))
					}
				}
			})
			b.Run(fmt.Sprintf("depth=%d/offset", depth), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rows, err := db.QueryContext(ctx, offsetSQL, depth)
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for rows.Next() {
						var id, price int64
						var name string
						if err := rows.Scan(&id, &name, &price); err != nil {
							b.Fatal(err)
						}
						n++
					}
					rows.Close()
					if n != 21 {
						b.Fatal("rows", n)
					}
				}
			})
		}
	})
}

// BenchmarkCount compares an exact COUNT(*) with a bounded count (cap
// 1000) and the planner's estimate.
func BenchmarkCount(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *sql.DB, d paginate.Dialect) {
		p, err := paginate.New(&paginate.Options{Table: "items", Columns: []string{"id", "name", "price"}, Dialect: d, Signer: newSigner(b)})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			fn   func() (paginate.Count, error)
		}{
			{"exact", func() (paginate.Count, error) { return p.ExactCount(ctx, db, paginate.Request{}) }},
			{"bounded", func() (paginate.Count, error) { return p.BoundedCount(ctx, db, paginate.Request{}, 1000) }},
			{"estimate", func() (paginate.Count, error) { return p.EstimateCount(ctx, db) }},
		} {
			b.Run(tc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tc.fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

// BenchmarkCursor signs and verifies a two-key cursor (a name and an id),
// signed-only and encrypted: the cost of SignerOptions.Encrypt per page.
func BenchmarkCursor(b *testing.B) {
	c := paginate.Cursor{Values: []any{"alice@example.com", int64(123456)}}
	for _, encrypt := range []bool{false, true} {
		s, err := paginate.NewSigner([][]byte{testKey}, &paginate.SignerOptions{Encrypt: encrypt})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("encrypt=%v", encrypt), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tok, err := s.Sign("users", c)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Verify("users", tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
