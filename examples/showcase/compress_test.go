package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wirespeed/wirespeed/httpx"
)

// TestCompressDemo runs the compress demo in process, behind the page's
// handler: its answers arrive compressed, and the comparison shows every
// coding well below the payload's size.
func TestCompressDemo(t *testing.T) {
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	defer sc.close()
	if err := setupCompress(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sc.handler())
	defer srv.Close()
	tr := &http.Transport{} // asks for gzip and decodes it, as browsers do
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	before := sc.compressor.Stats().Gzip.Responses

	var cmp struct {
		PayloadBytes int `json:"payload_bytes"`
		Results      []struct {
			Encoding string  `json:"encoding"`
			Bytes    int     `json:"bytes"`
			Ratio    float64 `json:"ratio"`
		} `json:"results"`
	}
	resp, err := client.Get(srv.URL + "/compress/payload?users=150")
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Uncompressed {
		t.Error("the page's API answer was not compressed")
	}
	resp.Body.Close()
	getJSON(t, client, srv.URL+"/compress/compare?users=150", &cmp)
	if len(cmp.Results) != 4 || cmp.PayloadBytes < 10000 {
		t.Fatalf("compare = %+v", cmp)
	}
	for _, r := range cmp.Results[1:] {
		if r.Bytes <= 0 || r.Bytes*4 > cmp.PayloadBytes || r.Ratio < 4 {
			t.Errorf("%s: %d bytes (ratio %.2f) for %d", r.Encoding, r.Bytes, r.Ratio, cmp.PayloadBytes)
		}
	}

	var users []map[string]any
	getJSON(t, client, srv.URL+"/compress/payload?users=20", &users)
	if len(users) != 20 {
		t.Errorf("payload has %d users, want 20", len(users))
	}
	for _, bad := range []string{"/compress/compare?users=0", "/compress/payload?users=x"} {
		resp, err := client.Get(srv.URL + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", bad, resp.Status)
		}
	}
	var st struct {
		Gzip struct {
			Responses int64   `json:"responses"`
			Ratio     float64 `json:"ratio"`
		} `json:"gzip"`
	}
	b, _ := json.Marshal(compressStats(sc.compressor))
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Gzip.Responses < before+2 || st.Gzip.Ratio <= 1 {
		t.Errorf("page statistics %s: want the gzip responses counted", b)
	}
}
