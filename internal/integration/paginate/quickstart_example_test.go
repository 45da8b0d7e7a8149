package paginate_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/wirespeed/wirespeed/paginate"
)

// The quick start of the package documentation: a handler that serves
// /products in pages, with a Link header to the next one.
func Example_quickStart() {
	db := exampleDB()
	defer db.Close()
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

	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, q := range []string{"?limit=2&fields=name", "?fields=password"} {
		resp, err := http.Get(srv.URL + "/products" + q)
		if err != nil {
			panic(err)
		}
		var body struct {
			Items []map[string]any `json:"items"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		json.Unmarshal(b, &body)
		fmt.Println(resp.StatusCode, body.Items, resp.Header.Get("Link") != "")
	}
	// Output:
	// 200 [map[name:anvil] map[name:bolt]] true
	// 400 [] false
}
