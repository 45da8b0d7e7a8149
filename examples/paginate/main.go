// Command paginate shows keyset pagination with signed cursors on SQLite:
// it creates a product table in a temporary directory, serves it over HTTP
// on a loopback port, walks the pages forward and back by following the
// Link headers, shows a sparse fieldset, a rejected tampered cursor and
// the counts, then exits.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/wirespeed/wirespeed/paginate"
	_ "modernc.org/sqlite"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "paginate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "paginate-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seed(ctx, db); err != nil {
		return err
	}

	key := make([]byte, 32)
	rand.Read(key)
	signer, err := paginate.NewSigner([][]byte{key}, &paginate.SignerOptions{TTL: time.Hour})
	if err != nil {
		return err
	}
	p, err := paginate.New(&paginate.Options{
		Name:         "products",
		Table:        "products",
		Columns:      []string{"id", "name", "price", "category"},
		Nullable:     []string{"price"},
		DefaultLimit: 4,
		MaxLimit:     50,
		Signer:       signer,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
		req, err := p.ParseRequest(r)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		if c := r.URL.Query().Get("category"); c != "" {
			req.Where, req.Args = "category = ?", []any{c}
		}
		page, err := paginate.Query(r.Context(), db, p, req, paginate.AsRow)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		page.WriteLinks(w, r)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(page)
	})
	mux.HandleFunc("GET /products/count", func(w http.ResponseWriter, r *http.Request) {
		c, err := p.BoundedCount(r.Context(), db, paginate.Request{}, 10)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"count": c.String()})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-done
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	get := func(path string) (string, string, int, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return "", "", 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("Link"), resp.StatusCode, err
	}
	rel := func(link, name string) string {
		m := regexp.MustCompile(`<([^>]*)>; rel="` + name + `"`).FindStringSubmatch(link)
		if m == nil {
			return ""
		}
		return m[1]
	}

	fmt.Fprintln(out, "forward, sorted by price descending (NULL prices first: NULLs sort above every price):")
	path := "/products?sort=-price&fields=name,price"
	var last string
	for path != "" {
		body, link, _, err := get(path)
		if err != nil {
			return err
		}
		var pg struct {
			Items json.RawMessage `json:"items"`
		}
		json.Unmarshal([]byte(body), &pg)
		fmt.Fprintf(out, "  %s\n", pg.Items)
		last, path = link, rel(link, "next")
	}
	fmt.Fprintln(out, "back one page from the end:")
	if prev := rel(last, "prev"); prev != "" {
		body, _, _, err := get(prev)
		if err != nil {
			return err
		}
		var pg struct {
			Items json.RawMessage `json:"items"`
		}
		json.Unmarshal([]byte(body), &pg)
		fmt.Fprintf(out, "  %s\n", pg.Items)
	}

	body, _, status, err := get("/products?after=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tampered cursor: %d %s", status, body)
	body, _, status, err = get("/products?fields=password")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "unknown field: %d %s", status, body)
	body, _, _, err = get("/products/count")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bounded count (cap 10): %s", body)
	return nil
}

func seed(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER, category TEXT NOT NULL)"); err != nil {
		return err
	}
	names := []string{"anvil", "bolt", "crate", "drill", "epoxy", "file", "gasket", "hammer", "inkjet", "jigsaw", "kettle"}
	for i, n := range names {
		var price any = int64((i*37)%9+1) * 100
		if i%4 == 3 {
			price = nil
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO products VALUES (?, ?, ?, ?)", i+1, n, price, []string{"tools", "parts"}[i%2]); err != nil {
			return err
		}
	}
	return tx.Commit()
}
