package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wirespeed/wirespeed/httpx"
)

// TestGRPCXDemo runs the grpcx demo in process: its handlers reach the
// gRPC backends through the pool, a burst spreads over more connections
// than one, and the statistics count RPCs by method and code.
func TestGRPCXDemo(t *testing.T) {
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	defer sc.close()
	if err := setupGRPCX(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sc.handler())
	defer srv.Close()
	client := srv.Client()

	var item struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	getJSON(t, client, srv.URL+"/grpcx/item?id=item-00042", &item)
	if item.ID != "item-00042" || item.Name != "Widget 42" {
		t.Errorf("item = %+v", item)
	}
	var list struct {
		Items int `json:"items"`
	}
	getJSON(t, client, srv.URL+"/grpcx/list?limit=20", &list)
	if list.Items != 20 {
		t.Errorf("list = %+v", list)
	}
	var burst struct {
		Requests    int `json:"requests"`
		Failed      int `json:"failed"`
		Connections int `json:"connections"`
	}
	getJSON(t, client, srv.URL+"/grpcx/burst?n=200", &burst)
	if burst.Requests != 200 || burst.Failed != 0 || burst.Connections < 2 {
		t.Errorf("burst = %+v, want 200 RPCs, none failed, on more than one connection", burst)
	}
	for _, bad := range []string{"/grpcx/burst?n=0", "/grpcx/burst?n=100000", "/grpcx/item?id=", "/grpcx/list?limit=-1"} {
		resp, err := client.Get(srv.URL + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", bad, resp.Status)
		}
	}
	st := sc.demos[0].Stats().(grpcxStats)
	if st.RPCs["Get OK"] != 201 || st.RPCs["List OK"] != 1 {
		t.Errorf("RPCs by method and code: %v", st.RPCs)
	}
	if len(st.Conns) < 2 {
		t.Errorf("stats conns: %+v", st.Conns)
	}
}
