package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/internal/integration/browser"
	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/wt"
)

type cursorsPage struct {
	Ready     bool   `json:"ready"`
	Transport string `json:"transport"`
	Reason    string `json:"reason"`
	Error     string `json:"error"`
	Me        int    `json:"me"`
}

const cursorsPageState = `({ready: !!window.cursors && window.cursors.ready, transport: window.cursors ? window.cursors.transport : '',
	reason: window.cursors ? window.cursors.reason : '', error: window.cursors ? window.cursors.error : '', me: window.cursors ? window.cursors.me : 0})`

// TestCursorsInChromium opens the live cursors page in headless
// Chromium: it gets WebTransport (the development certificate accepted by
// serverCertificateHashes, which the page is given), its chat line and
// pointer reach a Go visitor on the fallback; then the page's checkbox
// forces the fallback, and the page says so.
func TestCursorsInChromium(t *testing.T) {
	sc, base := startCursors(t)
	// The page is HTTPS with the development certificate (accepted by
	// IgnoreCertErrors); the browser helper disables QUIC, which
	// WebTransport needs.
	b := browser.Chromium(t, chromedp.IgnoreCertErrors, chromedp.Flag("disable-quic", false))
	ctx, cancel := context.WithTimeout(b, 90*time.Second)
	defer cancel()
	dctx, dcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer dcancel()
	goVisitor := dialCursors(t, dctx, sc, base, wt.TransportWebSocket)

	page := func(want string) cursorsPage {
		t.Helper()
		var st cursorsPage
		testenv.WaitFor(t, 30*time.Second, "the page to connect", func() bool {
			var err error
			st, err = chromedp.Run(ctx, chromedp.Evaluate[cursorsPage](cursorsPageState))
			return err == nil && st.Ready && st.Me != 0
		})
		if st.Transport != want {
			t.Fatalf("page got %q (fallback %q: %s), want %q", st.Transport, st.Reason, st.Error, want)
		}
		return st
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/cursors/")); err != nil {
		t.Fatal(err)
	}
	st := page("webtransport")
	goVisitor.waitLine(t, fmt.Sprintf("#%d joined over webtransport", st.Me))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.cursors.send('hi from chromium'), true`)); err != nil {
		t.Fatal(err)
	}
	goVisitor.waitLine(t, fmt.Sprintf("#%d: hi from chromium", st.Me))
	// The page's pointer, moved until the Go visitor sees it.
	for seen := false; !seen; {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.cursors.move(0.25, 0.5), true`)); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(dctx, 200*time.Millisecond)
		for !seen {
			d, err := goVisitor.s.ReceiveDatagram(rctx)
			if err != nil {
				break
			}
			for o := 0; o+8 <= len(d); o += 8 {
				if binary.BigEndian.Uint32(d[o:]) == uint32(st.Me) && binary.BigEndian.Uint16(d[o+4:]) == 16384 {
					seen = true
				}
			}
		}
		rcancel()
		if dctx.Err() != nil {
			t.Fatal("the page's pointer did not arrive")
		}
	}

	// The control: the checkbox reloads the page on the fallback.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('force').click(), true`)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the page to reload with ?fallback", func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.search === '?fallback'`))
		return err == nil && ok
	})
	st = page("websocket")
	if st.Reason != "forced" {
		t.Fatalf("fallback reason %q, want forced", st.Reason)
	}
	goVisitor.waitLine(t, fmt.Sprintf("#%d joined over websocket", st.Me))
	if n := sc.wt.Stats().Fallbacks.Forced; n != 2 { // the Go visitor's and the page's
		t.Fatalf("forced fallbacks %d, want 2", n)
	}
}
