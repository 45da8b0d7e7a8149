package paginate_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/wirespeed/wirespeed/paginate"
	_ "modernc.org/sqlite"
)

// exampleDB opens an in-memory SQLite database with six products.
func exampleDB() *sql.DB {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	for _, q := range []string{
		"CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER)",
		"INSERT INTO products VALUES (1,'anvil',900),(2,'bolt',5),(3,'crate',120),(4,'drill',NULL),(5,'epoxy',120),(6,'file',40)",
	} {
		if _, err := db.Exec(q); err != nil {
			panic(err)
		}
	}
	return db
}

func Example() {
	db := exampleDB()
	defer db.Close()
	signer, _ := paginate.NewSigner([][]byte{[]byte("example key, use 32 random bytes")}, nil)
	p, _ := paginate.New(&paginate.Options{
		Table:    "products",
		Columns:  []string{"id", "name", "price"},
		Nullable: []string{"price"},
		Signer:   signer,
	})
	req := paginate.Request{Sort: []paginate.SortKey{{Column: "price"}}, Fields: []string{"name", "price"}, Limit: 4}
	for {
		page, err := paginate.Query(context.Background(), db, p, req, paginate.AsRow)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := json.Marshal(page.Items)
		fmt.Println(string(b), "more:", page.HasMore)
		if page.Next == "" {
			break
		}
		req.After = page.Next
	}
	// Output:
	// [{"name":"bolt","price":5},{"name":"file","price":40},{"name":"crate","price":120},{"name":"epoxy","price":120}] more: true
	// [{"name":"anvil","price":900},{"name":"drill","price":null}] more: false
}

func ExamplePaginator_ParseRequest() {
	db := exampleDB()
	defer db.Close()
	signer, _ := paginate.NewSigner([][]byte{[]byte("example key, use 32 random bytes")}, nil)
	p, _ := paginate.New(&paginate.Options{Table: "products", Columns: []string{"id", "name", "price"}, Signer: signer})

	r := httptest.NewRequest("GET", "/products?limit=2&fields=name&sort=-id", nil)
	req, err := p.ParseRequest(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	page, _ := paginate.Query(r.Context(), db, p, req, paginate.AsRow)
	w := httptest.NewRecorder()
	page.WriteLinks(w, r)
	json.NewEncoder(os.Stdout).Encode(page.Items)
	fmt.Println(w.Header().Get("Link") != "")

	_, err = p.ParseRequest(httptest.NewRequest("GET", "/products?fields=password", nil))
	fmt.Println(paginate.StatusOf(err), err)
	// Output:
	// [{"name":"file"},{"name":"epoxy"}]
	// true
	// 400 paginate: unknown field "password"; valid: id, name, price
}

func ExamplePaginator_BoundedCount() {
	db := exampleDB()
	defer db.Close()
	signer, _ := paginate.NewSigner([][]byte{[]byte("example key, use 32 random bytes")}, nil)
	p, _ := paginate.New(&paginate.Options{Table: "products", Columns: []string{"id", "name", "price"}, Signer: signer})
	c, _ := p.BoundedCount(context.Background(), db, paginate.Request{}, 3)
	fmt.Println(c)
	c, _ = p.BoundedCount(context.Background(), db, paginate.Request{Where: "price > ?", Args: []any{100}}, 3)
	fmt.Println(c)
	// Output:
	// 3+
	// 3
}

// Cursors are signed, and their sort values readable; Encrypt hides them.
func ExampleSignerOptions_encrypt() {
	key := []byte("example key, use 32 random bytes")
	signed, _ := paginate.NewSigner([][]byte{key}, nil)
	sealed, _ := paginate.NewSigner([][]byte{key}, &paginate.SignerOptions{Encrypt: true})
	c := paginate.Cursor{Values: []any{"alice@example.com", int64(7)}}
	for _, s := range []*paginate.Signer{signed, sealed} {
		tok, _ := s.Sign("users", c)
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		back, err := s.Verify("users", tok)
		fmt.Println(strings.Contains(string(raw), "alice"), back.Values, err)
	}
	// Output:
	// true [alice@example.com 7] <nil>
	// false [alice@example.com 7] <nil>
}
