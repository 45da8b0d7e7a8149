package paginate_test

import (
	"database/sql"
	"encoding/json"
	"net/http"

	"github.com/wirespeed/wirespeed/paginate"
)

// The quick start of the package documentation: a handler that serves
// /products in pages, with a Link header to the next one. db is any
// database/sql handle of a supported dialect (SQLite or PostgreSQL),
// opened with its driver; the repository runs this handler against SQLite
// and PostgreSQL in its integration tests.
func Example_quickStart() {
	var db *sql.DB // from sql.Open with your driver
	key := []byte("example key, use 32 random bytes")
	mux := http.NewServeMux()

	signer, _ := paginate.NewSigner([][]byte{key}, nil)
	p, _ := paginate.New(&paginate.Options{
		Table:   "products",
		Columns: []string{"id", "name", "price"},
		Signer:  signer,
	})
	mux.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
		req, err := p.ParseRequest(r)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		page, err := paginate.Query(r.Context(), db, p, req, paginate.AsRow)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		page.WriteLinks(w, r)
		json.NewEncoder(w).Encode(page)
	})
	http.ListenAndServe("localhost:8080", mux)
}
