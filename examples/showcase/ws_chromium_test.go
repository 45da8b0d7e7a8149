package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/integration/browser"
)

// pageChat waits for the ws demo's script to connect, sends a chat line
// through the form and resolves once the line and a price are shown.
const pageChat = `new Promise((resolve) => {
	const box = document.getElementById('demo-ws');
	const until = (cond, then) => { const id = setInterval(() => { if (cond()) { clearInterval(id); then(); } }, 20); };
	until(() => box.querySelector('.ws-state').textContent === 'connected', () => {
		box.querySelector('form input').value = 'hello from chromium';
		box.querySelector('form button').click();
		until(() => box.querySelector('.ws-log').textContent.includes('hello from chromium') &&
			box.querySelector('.ws-prices').textContent.includes('WIRE'),
			() => resolve(box.querySelector('.ws-log').textContent + '|' + box.querySelector('.ws-prices').textContent));
	});
})`

// TestWSDemoInChromium loads the page with the ws demo registered and
// checks that its script chats and shows the ticker.
func TestWSDemoInChromium(t *testing.T) {
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	if err := setupWS(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sc.handler())
	defer srv.Close()
	defer sc.close()

	b := browser.Chromium(t, chromedp.IgnoreCertErrors)
	ctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](pageChat, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, ": hello from chromium") || !strings.Contains(got, "WIRE ") {
		t.Fatalf("page shows %q", got)
	}
}
