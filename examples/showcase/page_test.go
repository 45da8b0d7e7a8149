package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/httpx"
)

// newTestShowcase returns a showcase with the given demos set up, closed
// when the test ends.
func newTestShowcase(t *testing.T, setups ...func(context.Context, *showcase) error) *showcase {
	t.Helper()
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	t.Cleanup(sc.close)
	for _, setup := range setups {
		if err := setup(context.Background(), sc); err != nil {
			t.Fatal(err)
		}
	}
	return sc
}

func TestFavicon(t *testing.T) {
	sc := newTestShowcase(t)
	for _, path := range []string{"/favicon.ico", "/favicon.svg"} {
		rec := httptest.NewRecorder()
		sc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(rec.Body.String(), "<svg") {
			t.Errorf("GET %s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	rec := httptest.NewRecorder()
	sc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !strings.Contains(rec.Body.String(), `rel="icon" href="/favicon.svg"`) {
		t.Error("the page names no icon")
	}
}

// TestAllDemos runs checks that cover every registered demo, on one
// showcase.
func TestAllDemos(t *testing.T) {
	sc := newTestShowcase(t, demos...)
	t.Run("measurements lead", func(t *testing.T) { testMeasurementsLead(t, sc) })
	t.Run("stats names", func(t *testing.T) { testStatsNames(t, sc) })
}

// testMeasurementsLead: every demo's measurement answers with a headline
// (a number with its unit) and, where the page draws one, a chart the
// page's SVG function knows.
func testMeasurementsLead(t *testing.T, sc *showcase) {
	h := sc.handler()
	for _, d := range sc.demos {
		if d.Measure == "" {
			if d.Headline == nil {
				continue
			}
			if hl := d.Headline(); hl == nil || hl.Value == "" {
				t.Errorf("%s: live headline %+v", d.Name, hl)
			}
			continue
		}
		found := false
		for _, l := range d.Try {
			found = found || l.Href == d.Measure
		}
		if !found {
			t.Errorf("%s: Measure %q is not one of its Try links", d.Name, d.Measure)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, d.Measure, nil))
		var got struct {
			Headline headline `json:"headline"`
			Chart    *chart   `json:"chart"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("%s: GET %s: %d %v", d.Name, d.Measure, rec.Code, err)
		}
		if got.Headline.Value == "" || !strings.ContainsAny(got.Headline.Value, "0123456789") {
			t.Errorf("%s: headline %+v has no number", d.Name, got.Headline)
		}
		if got.Chart != nil {
			switch got.Chart.Kind {
			case "bars", "lines", "dist":
			default:
				t.Errorf("%s: chart kind %q", d.Name, got.Chart.Kind)
			}
			if len(got.Chart.Series) == 0 || got.Chart.Unit == "" {
				t.Errorf("%s: chart %+v", d.Name, got.Chart)
			}
		}
	}
}
