package compress_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wirespeed/wirespeed/compress"
)

// The quick start of the package documentation: wrap a mux, and responses
// go out in the best coding the client accepts.
func Example_quickStart() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[%s0]`, strings.Repeat(`"item",`, 400))
	})

	mw, err := compress.Middleware(nil) // zstd, br, gzip; 1 KiB minimum; text-like types
	if err != nil {
		log.Fatal(err)
	}
	handler := mw(mux) // serve it: http.ListenAndServe(":8080", handler)

	srv := httptest.NewServer(handler)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/items", nil)
	req.Header.Set("Accept-Encoding", "gzip, br")
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Encoding"))
	// Output: br
}
