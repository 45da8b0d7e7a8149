package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
)

func newPubsubShowcase(t *testing.T) http.Handler {
	t.Helper()
	return newTestShowcase(t, setupPubsub).handler()
}

// TestPubsubDemoRelay: every message published through instance A reaches
// the subscriber of instance B once and in order, across its reconnect.
func TestPubsubDemoRelay(t *testing.T) {
	h := newPubsubShowcase(t)
	for _, n := range []int{2, 100, 301} {
		var got struct {
			Headline   headline `json:"headline"`
			Published  int      `json:"published"`
			Delivered  int      `json:"delivered"`
			Lost       int      `json:"lost"`
			Duplicated int      `json:"duplicated"`
			InOrder    bool     `json:"in_order"`
			ResumedAt  string   `json:"resumed_after_id"`
			Chart      chart    `json:"chart"`
		}
		url := "/pubsub/relay?n=" + strconv.Itoa(n)
		if code := batchGet(t, h, url, &got); code != http.StatusOK {
			t.Fatalf("GET %s: status %d", url, code)
		}
		if got.Published != n || got.Delivered != n || got.Lost != 0 || got.Duplicated != 0 || !got.InOrder {
			t.Fatalf("n=%d: %+v", n, got)
		}
		if !pubsub.ValidID(got.ResumedAt) || !strings.Contains(got.Headline.Value, "0 lost, 0 twice") || len(got.Chart.Series) != 1 {
			t.Fatalf("n=%d: headline %+v, resumed after %q, chart %+v", n, got.Headline, got.ResumedAt, got.Chart)
		}
	}
	for _, bad := range []string{"1", "x", "1001"} {
		if code := batchGet(t, h, "/pubsub/relay?n="+bad, nil); code != http.StatusBadRequest {
			t.Errorf("n=%s: status %d, want 400", bad, code)
		}
	}
}

// TestPubsubInstanceBadInput: an instance's own API answers bad input
// with a 4xx and a long poll with nothing new with 204.
func TestPubsubInstanceBadInput(t *testing.T) {
	b, err := pubsub.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv := httptest.NewServer(pubsubHandler(b))
	defer srv.Close()
	client := &http.Client{Timeout: 20 * time.Second}
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/poll/t?after=yesterday", "", http.StatusBadRequest},
		{"POST", "/publish/t", strings.Repeat("x", 5<<10), http.StatusRequestEntityTooLarge},
		{"PUT", "/publish/t", "", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
}
