package httpx_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/wirespeed/wirespeed/httpx"
)

// The quick start of the package documentation: one shared client; its
// Stats say how many requests reused a connection.
func Example_quickStart() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "[]")
	}))
	defer api.Close()
	url := api.URL + "/v1/items"

	run := func() error {
		client, err := httpx.NewClient(&httpx.Options{
			HTTP3: &httpx.HTTP3Options{}, // learn Alt-Svc, race QUIC against TCP
		})
		if err != nil {
			return err
		}
		defer client.Close()
		for range 3 {
			resp, err := client.Get(url) // https://api.example.com/v1/items
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		st := client.Stats() // requests per protocol, reuse ratio, handshakes, DNS hits
		fmt.Println("requests:", st.Requests, "new connections:", st.Dials)
		return nil
	}
	if err := run(); err != nil {
		fmt.Println(err)
	}
	// Output: requests: 3 new connections: 1
}
