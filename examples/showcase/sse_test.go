package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/integration/browser"
	"github.com/wirespeed/wirespeed/sse"
)

// TestSSEDemo: the ticker streams through the showcase's handler (and so
// through its compress middleware), a page reload with ?lastEventID= gets
// the ticks it missed in order, the stats show the stream, and a server
// drain ends the stream gracefully instead of waiting for it.
func TestSSEDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	if err := setupSSE(ctx, sc); err != nil {
		t.Fatal(err)
	}
	defer sc.close()
	srv, err := httpx.NewServer(sc.handler(), &httpx.ServerOptions{DrainTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc.servers.add("http", srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, nil) }()
	base := "http://" + l.Addr().String()

	// A first visit: a few ticks.
	first, err := sse.Subscribe(ctx, base+"/sse/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var ids []string
	for len(ids) < 4 {
		select {
		case ev := <-first.C:
			var tk sseTick
			if ev.Type != "tick" || json.Unmarshal(ev.Data, &tk) != nil || tk.Sym == "" || tk.Price <= 0 {
				t.Fatalf("event %+v", ev)
			}
			ids = append(ids, ev.ID)
		case <-ctx.Done():
			t.Fatal("no ticks")
		}
	}

	// A reload that remembered the first ID: the replay brings the next
	// ones, in order, none twice.
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/sse/feed?lastEventID="+ids[0], nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(sse.HeaderLost) != "" {
		t.Fatal("resumption within history reported lost events")
	}
	dec := sse.NewDecoder(resp.Body, 0)
	for _, want := range ids[1:] {
		if ev, err := dec.Next(); err != nil || ev.ID != want {
			t.Fatalf("replayed %+v, %v; want %s", ev, err, want)
		}
	}

	rec := httptest.NewRecorder()
	sc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/stats", nil))
	var st struct {
		Demos map[string]struct {
			Conns    int    `json:"conns"`
			Resumed  uint64 `json:"resumed"`
			Replayed uint64 `json:"replayed"`
		} `json:"demos"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if s := st.Demos["sse"]; s.Conns != 2 || s.Resumed != 1 || s.Replayed < 3 {
		t.Fatalf("sse stats %+v", s)
	}

	// The drain ends the streams with a retry spread over the window.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	for {
		_, err := dec.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatal(err)
			}
			break
		}
	}
	if r := dec.Retry(); r < 300*time.Millisecond || r > 3*time.Second {
		t.Fatalf("goodbye retry %v", r)
	}

	page := httptest.NewRecorder()
	sc.handler().ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/", nil))
	for _, want := range []string{`id="demo-sse"`, "lastEventID", "sessionStorage"} {
		if !strings.Contains(page.Body.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// pageTicks resolves with the sse demo's counters once the page has
// received at least min ticks (and, if recovered, at least one replayed).
const pageTicks = `new Promise((resolve) => {
	const id = setInterval(() => {
		const c = window.sseCounts;
		if (c && c.received >= %d && c.recovered >= %d) { clearInterval(id); resolve(JSON.stringify(c)); }
	}, 20);
})`

type sseCounts struct {
	Received, Recovered, Missed, LostReports int
}

// TestSSEDemoInChromium: the page shows ticks, and after the visitor left
// and came back (ticks went on meanwhile) it resumes from the last ID it
// kept in sessionStorage: the ticks it missed are replayed (recovered),
// none is missing and no loss is reported.
func TestSSEDemoInChromium(t *testing.T) {
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	if err := setupSSE(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sc.handler())
	defer srv.Close()
	defer sc.close()

	b := browser.Chromium(t)
	ctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	counts := func(min, recovered int) sseCounts {
		t.Helper()
		js, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(pageTicks, min, recovered), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		var c sseCounts
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	// A first visit resumes nothing, so it recovers nothing (the page once
	// counted ticks published while its stream was opening).
	if c := counts(3, 0); c.Missed != 0 || c.LostReports != 0 || c.Recovered != 0 {
		t.Fatalf("first visit: %+v", c)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // pacing: ticks are published while no page listens
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if c := counts(3, 1); c.Missed != 0 || c.LostReports != 0 {
		t.Fatalf("after coming back: %+v", c)
	}
	if st := sc.demoStats(t, "sse"); st["resumed"] != float64(1) {
		t.Fatalf("server stats %v", st)
	}
}

// demoStats returns one demo's entry of /debug/stats.
func (sc *showcase) demoStats(t *testing.T, name string) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	sc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/stats", nil))
	var st struct {
		Demos map[string]map[string]any `json:"demos"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	return st.Demos[name]
}
