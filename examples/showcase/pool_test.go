package main

import (
	"encoding/json"
	"net/http"
	"testing"
)

// checkDemoStats checks each demo's part of /debug/stats and runs its Try
// endpoints against the running showcase at base (ending in "/").
func checkDemoStats(t *testing.T, client *http.Client, base string, demos map[string]json.RawMessage) {
	t.Helper()
	var ps struct {
		MaxSize     int     `json:"max_size"`
		Size        int     `json:"size"`
		Utilization float64 `json:"utilization"`
		WaitMS      float64 `json:"wait_ms"`
	}
	if err := json.Unmarshal(demos["pool"], &ps); err != nil {
		t.Fatalf("pool stats %s: %v", demos["pool"], err)
	}
	if ps.MaxSize != 8 {
		t.Errorf("pool stats MaxSize = %d, want 8", ps.MaxSize)
	}

	var cmp struct {
		Requests       int   `json:"requests"`
		PooledDials    int64 `json:"pooled_dials"`
		HandshakesSave int64 `json:"handshakes_saved_by_pool"`
	}
	getJSON(t, client, base+"pool/compare?n=20", &cmp)
	if cmp.Requests != 20 || cmp.PooledDials > 1 || cmp.HandshakesSave < 19 {
		t.Errorf("pool/compare = %+v, want 20 requests on at most one new pooled connection", cmp)
	}

	var burst struct {
		Requests int   `json:"requests"`
		Failed   int   `json:"failed"`
		Dials    int64 `json:"dials"`
	}
	getJSON(t, client, base+"pool/burst?n=64", &burst)
	if burst.Requests != 64 || burst.Failed != 0 || burst.Dials > 8 {
		t.Errorf("pool/burst = %+v, want 64 requests, none failed, at most 8 dials", burst)
	}

	resp, err := client.Get(base + "pool/burst?n=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("pool/burst?n=0: %s, want 400", resp.Status)
	}
}

func getJSON(t *testing.T, client *http.Client, url string, v any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
