package paginate_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/paginate"
	_ "modernc.org/sqlite"
)

// testDB is one real database the suite runs on.
type testDB struct {
	name    string
	dialect paginate.Dialect
	db      *sql.DB
}

func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/test.db?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t testing.TB) *sql.DB {
	t.Helper()
	pg := testenv.StartPostgres(t)
	db, err := sql.Open("pgx", pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after StartPostgres's cleanup, so it runs first.
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// forEachDB runs fn on SQLite and on a PostgreSQL server the test starts.
func forEachDB(t *testing.T, fn func(t *testing.T, d testDB)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, testDB{"sqlite", paginate.SQLite, openSQLite(t)})
	})
	t.Run("postgresql", func(t *testing.T) {
		fn(t, testDB{"postgresql", paginate.PostgreSQL, openPostgres(t)})
	})
}

func (d testDB) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if d.dialect == paginate.PostgreSQL {
		n := 0
		q = rebindDollar(q, &n)
	}
	if _, err := d.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func rebindDollar(q string, n *int) string {
	var b strings.Builder
	for _, c := range q {
		if c == '?' {
			*n++
			fmt.Fprintf(&b, "$%d", *n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// product is a row of the test table.
type product struct {
	ID       int64
	Name     string
	Price    *int64 // nullable
	Category string
}

// createProducts creates table name with n products: prices repeat and
// every fifth is NULL, names repeat, categories alternate a/b/c.
func createProducts(t testing.TB, d testDB, name string, n int) []product {
	t.Helper()
	d.exec(t, "CREATE TABLE "+name+" (id BIGINT PRIMARY KEY, name TEXT NOT NULL, price BIGINT, category TEXT NOT NULL)")
	tx, err := d.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	q := "INSERT INTO " + name + " (id, name, price, category) VALUES (?, ?, ?, ?)"
	if d.dialect == paginate.PostgreSQL {
		q = "INSERT INTO " + name + " (id, name, price, category) VALUES ($1, $2, $3, $4)"
	}
	var ps []product
	for i := 1; i <= n; i++ {
		p := product{ID: int64(i), Name: fmt.Sprintf("item-%02d", (i*7)%13), Category: string(rune('a' + i%3))}
		if i%5 != 0 {
			v := int64((i * 37) % 11)
			p.Price = &v
		}
		var price any
		if p.Price != nil {
			price = *p.Price
		}
		if _, err := tx.Exec(q, p.ID, p.Name, price, p.Category); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return ps
}
