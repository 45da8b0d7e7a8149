package wt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/internal/integration/browser"
	"github.com/wirespeed/wirespeed/internal/testenv/wtecho"
	"github.com/wirespeed/wirespeed/wt"
)

type pageResult struct {
	Transport   string `json:"transport"`
	Reason      string `json:"reason"`
	Error       string `json:"error"`
	Echo        string `json:"echo"`
	Uni         string `json:"uni"`
	Datagrams   int    `json:"datagrams"`
	CloseCode   int    `json:"closeCode"`
	CloseReason string `json:"closeReason"`
}

// page runs one echo + datagram exchange with wt.js and reports it;
// window.run(options) resolves with a pageResult.
const page = `<!doctype html><title>wt</title>
<script type="module">
import {connect} from '/wt.js';
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function readAll(readable) {
	const r = readable.getReader();
	let s = '';
	for (;;) {
		const {value, done} = await r.read();
		if (done) return s;
		s += dec(value);
	}
}
window.run = async (url, options) => {
	if (options.noWebTransport) delete window.WebTransport;
	const s = await connect(url, options);
	const out = {transport: s.transport, reason: s.fallbackReason, error: s.fallbackError};
	let closed = null;
	s.closed.then((c) => { closed = c; });
	const {readable, writable} = await s.createBidirectionalStream();
	const w = writable.getWriter();
	await w.write(enc('hello '));
	await w.write(enc('stream'));
	await w.close();
	out.echo = await readAll(readable);
	const uw = (await s.createUnidirectionalStream()).getWriter();
	await uw.write(enc('hello uni'));
	await uw.close();
	const {value: incoming} = await s.incomingUnidirectionalStreams.getReader().read();
	out.uni = await readAll(incoming);
	const dr = s.datagrams.getReader();
	let got = 0;
	const counting = (async () => { for (;;) { const {done} = await dr.read(); if (done) return; got++; } })();
	for (let i = 0; i < 20; i++) { s.sendDatagram(enc('d' + i)); await sleep(5); }
	for (let i = 0; i < 100 && got < 20; i++) await sleep(20);
	out.datagrams = got;
	for (let i = 0; i < 200 && !closed; i++) { try { s.sendDatagram(enc('close')); } catch (_) {} await sleep(25); }
	if (closed) { out.closeCode = closed.closeCode; out.closeReason = closed.reason; } else { out.closeCode = -2; }
	return out;
};
window.pageClose = async (url, options) => {
	if (options.noWebTransport) delete window.WebTransport;
	const s = await connect(url, options);
	const {writable} = await s.createBidirectionalStream();
	await writable.getWriter().write(enc('x')); // the server sees the session
	s.close({closeCode: 4003, reason: 'page says bye'});
	return s.transport;
};
// reasons connects with each options in turn and returns the fallback
// reasons, closing each session.
window.reasons = async (url, list) => {
	const out = [];
	for (const options of list) {
		const s = await connect(url, options);
		out.push(s.fallbackReason);
		s.close({closeCode: 4000, reason: ''});
		await s.closed;
	}
	return out.join(',');
};
window.ready = true;
</script>`

// TestChromium runs the page, served with the fallback and WebTransport
// by one httpx.Server on one port, in headless Chromium twice: over
// WebTransport (QUIC on loopback, the development certificate accepted
// through serverCertificateHashes; no QUIC flags are needed beyond
// undoing the browser helper's --disable-quic) and with WebTransport
// removed from the page, so wt.js falls back to the WebSocket. Same
// assertions on both: the stream and the unidirectional stream echo,
// datagrams arrive (all of them on the fallback, at least one on
// WebTransport), the page sees the server's close code and reason, and
// the server sees the page's.
func TestChromium(t *testing.T) {
	causes := make(chan error, 8)
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		wtecho.Serve(ctx, s)
		<-ctx.Done()
		causes <- context.Cause(ctx)
	})
	e.mux.Handle("GET /wt.js", wt.Script)
	e.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	})
	// The browser helper disables QUIC; WebTransport needs it. The page
	// and the fallback use the development certificate over TLS, which
	// IgnoreCertErrors accepts; WebTransport verifies it by its hash.
	b := browser.Chromium(t, chromedp.IgnoreCertErrors, chromedp.Flag("disable-quic", false))
	var (
		logMu sync.Mutex
		logs  []string
	)
	chromedp.Listen(b, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			line = fmt.Sprintf("log %s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text)
		case *cdpruntime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
		default:
			return
		}
		logMu.Lock()
		logs = append(logs, line)
		logMu.Unlock()
	})
	t.Cleanup(func() {
		if t.Failed() {
			logMu.Lock()
			defer logMu.Unlock()
			t.Logf("DevTools log (the real reason of a failed WebTransport handshake is here):\n%s", strings.Join(logs, "\n"))
		}
	})
	bctx, cancel := context.WithTimeout(b, 60*time.Second)
	defer cancel()
	enableLog := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdplog.Enable, cdp.Empty{})
		return err
	})
	origin := fmt.Sprintf("https://127.0.0.1:%d", e.port)
	if err := chromedp.Do(bctx, enableLog, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool]("window.ready === true")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		options string
		want    string
		reason  string
	}{
		{"webtransport", fmt.Sprintf(`{serverCertificateHashes: [%q], timeout: 10000}`, e.cert.HashHex()), "webtransport", ""},
		{"fallback", `{noWebTransport: true}`, "websocket", "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expr := fmt.Sprintf(`window.run(%q, %s)`, origin+"/wt", tc.options)
			res, err := chromedp.Run(bctx, chromedp.Evaluate[pageResult](expr, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("page: %+v", res)
			if res.Transport != tc.want || res.Reason != tc.reason {
				t.Fatalf("transport %q (fallback reason %q, WebTransport error %q), want %q", res.Transport, res.Reason, res.Error, tc.want)
			}
			if res.Echo != "hello stream" || res.Uni != "hello uni" {
				t.Fatalf("echo %q, uni %q", res.Echo, res.Uni)
			}
			if res.Datagrams == 0 || (tc.want == "websocket" && res.Datagrams != 20) {
				t.Fatalf("%d of 20 datagrams came back", res.Datagrams)
			}
			if res.CloseCode != 4001 || res.CloseReason != "bye" {
				t.Fatalf("page saw close %d %q, want 4001 \"bye\"", res.CloseCode, res.CloseReason)
			}
			<-causes // the session the server closed
			// And the other way: the page closes, the server sees the code.
			expr = fmt.Sprintf(`window.pageClose(%q, %s)`, origin+"/wt", tc.options)
			tr, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
			if err != nil || tr != tc.want {
				t.Fatalf("pageClose: %q, %v", tr, err)
			}
			var se *wt.SessionError
			if err := <-causes; !errors.As(err, &se) || se.Code != 4003 || se.Reason != "page says bye" || !se.Remote {
				t.Fatalf("server saw %v, want the page's 4003", err)
			}
		})
	}
	// A WebTransport attempt that timed out (a zero timeout: before any
	// handshake) is remembered for the origin: the next connect goes
	// straight to the fallback, and once the memory is gone WebTransport
	// is used again.
	t.Run("broken", func(t *testing.T) {
		// A fresh page: the fallback case removed WebTransport.
		if err := chromedp.Do(bctx, chromedp.Navigate(origin+"/")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool]("window.ready === true")); err != nil {
			t.Fatal(err)
		}
		h := fmt.Sprintf(`serverCertificateHashes: [%q]`, e.cert.HashHex())
		expr := fmt.Sprintf(`window.reasons(%q, [{%s, timeout: 0}, {%s, timeout: 10000}]).then(async (r) => {
			localStorage.removeItem('wt-broken:' + location.host);
			return r + ';' + await window.reasons(%[1]q, [{%[3]s, timeout: 10000}]);
		})`, origin+"/wt", h, h)
		got, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if got != "timeout,webtransport-broken;" {
			t.Fatalf("fallback reasons %q, want a timeout, then skipped, then WebTransport", got)
		}
	})
	st := e.srv.Stats()
	if st.Fallbacks.Unsupported != 2 || st.Fallbacks.Broken != 1 { // run and pageClose without WebTransport; the skipped one
		t.Fatalf("fallbacks %+v", st.Fallbacks)
	}
}
