package browser_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/internal/integration/browser"
)

// TestChromium starts the browser, loads a page from a local server and
// reads a value the page's script computed.
func TestChromium(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><script>window.answer = 6 * 7;</script>`))
	}))
	defer srv.Close()
	ctx := browser.Chromium(t)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	answer, err := chromedp.Run(tctx, chromedp.Evaluate[int](`window.answer`))
	if err != nil {
		t.Fatal(err)
	}
	if answer != 42 {
		t.Fatalf("answer %d, want 42", answer)
	}
}
