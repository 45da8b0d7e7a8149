package compress_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/internal/integration/browser"
)

// jsonResult is what the page's script reports about one fetch.
type jsonResult struct {
	Status   int    `json:"status"`
	Encoding string `json:"encoding"`
	Vary     string `json:"vary"`
	ETag     string `json:"etag"`
	Text     string `json:"text"`
	Encoded  int    `json:"encoded"` // PerformanceResourceTiming.encodedBodySize: bytes on the wire
	Decoded  int    `json:"decoded"` // decodedBodySize: after the browser's own decoding
}

const fetchJSON = `(async (url) => {
	const r = await fetch(url);
	const text = await r.text();
	const e = performance.getEntriesByName(new URL(url, location).href).pop();
	return {status: r.status, encoding: r.headers.get('content-encoding') || '', vary: r.headers.get('vary') || '',
		etag: r.headers.get('etag') || '', text, encoded: e.encodedBodySize, decoded: e.decodedBodySize};
})(%q)`

// readEvents opens an EventSource and acknowledges each event with a
// request to /ack, which the server waits for before it writes the next
// one: the script only sees event 2 if event 1 arrived on its own.
const readEvents = `new Promise((resolve, reject) => {
	const es = new EventSource(%q);
	const got = [];
	es.onmessage = async (e) => {
		got.push(e.lastEventId + ':' + e.data);
		const last = got.length === 3;
		await fetch('/ack', {method: 'POST'});
		if (last) { es.close(); resolve(got); }
	};
	// The server ends the stream after the last acknowledgement, which
	// EventSource reports as an error; only an earlier one is a failure.
	es.onerror = () => {
		if (got.length === 3) return;
		es.close();
		reject(new Error('EventSource failed after ' + got.length + ' events'));
	};
})`

// TestChromium has headless Chromium, which sends "gzip, deflate, br,
// zstd", fetch JSON and read Server-Sent Events through the middleware for
// every coding, over HTTP/1.1 and over HTTP/2 with TLS. Chromium decodes
// with its own gzip, brotli and zstd decoders and reports, per resource,
// the bytes on the wire and after decoding.
func TestChromium(t *testing.T) {
	app := newConformanceApp(t)
	plain := httptest.NewServer(app)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(app)
	secure.EnableHTTP2 = true
	secure.StartTLS()
	defer secure.Close()

	browser := browser.Chromium(t, chromedp.IgnoreCertErrors)
	for _, site := range []struct {
		name, url  string
		revalidate bool // Chromium does not cache from hosts with certificate errors
	}{
		{"http1", plain.URL, true},
		{"http2-tls", secure.URL, false},
	} {
		t.Run(site.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(browser, safety)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Navigate(site.url+"/")); err != nil {
				t.Fatal(err)
			}
			for _, v := range conformanceVariants {
				t.Run(v.name, func(t *testing.T) {
					path := "/" + v.name + "/data.json"
					res, err := chromedp.Run(ctx, chromedp.Evaluate[jsonResult](fmt.Sprintf(fetchJSON, path), chromedp.EvalAwaitPromise))
					if err != nil {
						t.Fatal(err)
					}
					app.expectSent(t, path, v.encoding)
					if res.Status != 200 || res.Encoding != v.encoding || res.Vary != "Accept-Encoding" || res.ETag != `W/"data-v1"` {
						t.Fatalf("status %d, Content-Encoding %q, Vary %q, ETag %q", res.Status, res.Encoding, res.Vary, res.ETag)
					}
					if res.Text != string(json16) {
						t.Fatalf("Chromium decoded %d bytes that differ from the %d sent", len(res.Text), len(json16))
					}
					if res.Decoded != len(json16) || res.Encoded <= 0 || res.Encoded*3 > res.Decoded {
						t.Fatalf("Chromium saw %d bytes on the wire for %d decoded; want at least 3× smaller", res.Encoded, res.Decoded)
					}
					t.Logf("%s: %d bytes on the wire for %d", v.name, res.Encoded, res.Decoded)

					if site.revalidate {
						// The page's cache holds the weak tag; the byte-comparing
						// handler misses it and the middleware answers 304.
						before := app.comps[v.name].Stats().NotModified
						res, err = chromedp.Run(ctx, chromedp.Evaluate[jsonResult](fmt.Sprintf(fetchJSON, path), chromedp.EvalAwaitPromise))
						if err != nil {
							t.Fatal(err)
						}
						app.expectSent(t, path, "")
						if res.Status != 200 || res.Text != string(json16) {
							t.Fatalf("revalidated fetch: status %d, %d bytes", res.Status, len(res.Text))
						}
						if after := app.comps[v.name].Stats().NotModified; after != before+1 {
							t.Fatalf("NotModified %d → %d: the browser did not revalidate with 304", before, after)
						}
					}

					events, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(readEvents, "/"+v.name+"/events"), chromedp.EvalAwaitPromise))
					if err != nil {
						t.Fatal(err)
					}
					app.expectSent(t, "/"+v.name+"/events", v.encoding)
					for i, e := range events {
						if want := fmt.Sprintf("%d:event %d of %s", i, i, v.name); e != want {
							t.Errorf("event %d = %q, want %q", i, e, want)
						}
					}
					if len(events) != 3 {
						t.Fatalf("%d events", len(events))
					}
				})
			}
		})
	}
}
