package ws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/internal/integration/browser"
	"github.com/wirespeed/wirespeed/ws"
)

type pageResult struct {
	Msg    string `json:"msg"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// pageClient subscribes, asks the server to publish, and asks it to shut
// down once the broadcast arrived; it resolves with what the close event
// said.
const pageClient = `new Promise((resolve, reject) => {
	const sock = new WebSocket(%q);
	let msg = '';
	sock.onopen = () => sock.send(JSON.stringify({op: 'subscribe', topic: 'news'}));
	sock.onmessage = (e) => {
		if (e.data.startsWith('{"op":"subscribed"')) { fetch('/publish', {method: 'POST'}); return; }
		msg = e.data;
		fetch('/shutdown', {method: 'POST'});
	};
	sock.onclose = (e) => resolve({msg, code: e.code, reason: e.reason});
	sock.onerror = () => reject(new Error('WebSocket error'));
})`

// TestChromium has a page in headless Chromium subscribe, receive a
// broadcast and see 1001 with the reconnect hint at shutdown. The page and
// the hub share an origin, so the default origin check lets it in.
func TestChromium(t *testing.T) {
	ctx := testCtx(t)
	hub, err := ws.NewHub(&ws.HubOptions{ClientTopics: true, PublicTopics: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	shutdown := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("GET /ws", hub)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>ws</title>")
	})
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		hub.Publish(r.Context(), "news", []byte("hello, browser"))
	})
	mux.HandleFunc("POST /shutdown", func(w http.ResponseWriter, r *http.Request) {
		go func() { shutdown <- hub.Shutdown(ctx) }()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer hub.Close()

	b := browser.Chromium(t, chromedp.IgnoreCertErrors)
	bctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(bctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	res, err := chromedp.Run(bctx, chromedp.Evaluate[pageResult](fmt.Sprintf(pageClient, url), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg != "hello, browser" || res.Code != 1001 || !strings.Contains(res.Reason, "reconnect") {
		t.Fatalf("page saw %+v", res)
	}
	if err := <-shutdown; err != nil {
		t.Fatal(err)
	}
}
