package bench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/paginate"
	_ "modernc.org/sqlite"
)

// paginateTable builds items(id, name, price) with n rows in one statement
// (a recursive CTE on SQLite, generate_series on PostgreSQL).
func paginateTable(b testing.TB, dialect string, n int) (*sql.DB, paginate.Dialect) {
	b.Helper()
	var db *sql.DB
	var err error
	var d paginate.Dialect
	var fill string
	switch dialect {
	case "sqlite":
		d = paginate.SQLite
		db, err = sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "bench.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
		fill = fmt.Sprintf("INSERT INTO items WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT x, 'item-' || x, (x * 7919) %% 100000 FROM c", n)
	default:
		d = paginate.PostgreSQL
		pg := testenv.StartPostgres(b)
		db, err = sql.Open("pgx", pg.DSN)
		fill = fmt.Sprintf("INSERT INTO items SELECT x, 'item-' || x, (x * 7919) %% 100000 FROM generate_series(1::bigint, %d) AS x", n)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for _, q := range []string{"CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, price BIGINT NOT NULL)", fill, "ANALYZE"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	return db, d
}

// TestPaginateSameRows checks that the two implementations the benchmark
// compares return the same page.
func TestPaginateSameRows(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgresql"} {
		t.Run(dialect, func(t *testing.T) {
			db, d := paginateTable(t, dialect, 2000)
			signer, _ := paginate.NewSigner([][]byte{[]byte("bench key, 32 bytes long........")}, nil)
			p, err := paginate.New(&paginate.Options{Table: "items", Columns: []string{"id", "name", "price"}, Dialect: d, Signer: signer})
			if err != nil {
				t.Fatal(err)
			}
			req := paginate.Request{Limit: 20}
			if req.After, err = p.Cursor(req, false, int64(1500)); err != nil {
				t.Fatal(err)
			}
			pg, err := paginate.Query(context.Background(), db, p, req, paginate.AsRow)
			if err != nil {
				t.Fatal(err)
			}
			q := "SELECT id FROM items ORDER BY id LIMIT 20 OFFSET 1500"
			rows, err := db.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			i := 0
			for ; rows.Next(); i++ {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				got, _ := pg.Items[i].Get("id")
				if got != id {
					t.Fatalf("row %d: cursor id %v, offset id %d", i, got, id)
				}
			}
			if i != len(pg.Items) || i != 20 {
				t.Fatalf("offset %d rows, cursor %d", i, len(pg.Items))
			}
		})
	}
}
