package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"ConnsAccepted":    "conns_accepted",
		"PingRTTAvg":       "ping_rtt_avg",
		"HTTP1":            "http1",
		"QueueDepthP50":    "queue_depth_p50",
		"TLSHandshakes":    "tls_handshakes",
		"H3":               "h3",
		"MaxSize":          "max_size",
		"already_snake":    "already_snake",
		"slow-consumer":    "slow_consumer",
		"SlowConsumerDrop": "slow_consumer_drop",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

type tidyInner struct{ DialCount int64 }

type tidyReason string

func TestTidy(t *testing.T) {
	in := struct {
		tidyInner
		WaitDuration time.Duration
		PingRTTAvg   time.Duration
		Tagged       int `json:"tagged_bytes"`
		Closed       map[tidyReason]uint64
		Skip         int `json:"-"`
		unexported   int
	}{tidyInner{3}, 1500 * time.Microsecond, 2 * time.Millisecond, 7, map[tidyReason]uint64{"slow-consumer": 1}, 1, 2}
	_ = in.unexported
	got := tidy(in)
	want := map[string]any{
		"dial_count":      int64(3),
		"wait_ms":         1.5,
		"ping_rtt_avg_ms": 2.0,
		"tagged_bytes":    7,
		"closed":          map[string]any{"slow_consumer": uint64(1)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tidy = %#v\nwant %#v", got, want)
	}
}

// snakeKey is what every name in the statistics the page shows looks
// like.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkKeys fails for every object key under path that is not snake_case.
func checkKeys(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeKey.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", path, k)
			}
			checkKeys(t, path+"."+k, x)
		}
	case []any:
		for _, x := range v {
			checkKeys(t, path+"[]", x)
		}
	}
}

// testStatsNames: every name in /debug/stats, with every demo registered,
// is snake_case, and durations are milliseconds under a name that says
// so (the pool's WaitDuration was nanoseconds under a Go name).
func testStatsNames(t *testing.T, sc *showcase) {
	rec := httptest.NewRecorder()
	sc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/stats", nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "stats", doc)
	pool, _ := doc["demos"].(map[string]any)["pool"].(map[string]any)
	for _, want := range []string{"wait_ms", "max_size", "utilization", "dial_count"} {
		if _, ok := pool[want]; !ok {
			t.Errorf("pool stats lack %q: %v", want, pool)
		}
	}
	ws, _ := doc["demos"].(map[string]any)["ws"].(map[string]any)
	if _, ok := ws["ping_rtt_avg_ms"]; !ok {
		t.Errorf("ws stats lack ping_rtt_avg_ms: %v", ws)
	}
	if strings.Contains(rec.Body.String(), "Duration") {
		t.Errorf("stats name a Duration: %s", rec.Body)
	}
	// The raw statistics endpoints of ws and sse read the same way.
	for _, path := range []string{"/ws/stats", "/sse/stats"} {
		rec := httptest.NewRecorder()
		sc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		checkKeys(t, path, doc)
	}
}
