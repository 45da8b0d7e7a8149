package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/compress"
)

// BenchmarkWanCompress fetches a 128 KiB JSON response through
// compress.Middleware (default levels) over a kept HTTP/2 connection on a
// 1 Mbit/s link at RTT 50 ms (a slow mobile or congested path: bytes
// dominate) and on a 1 Gbit/s link at RTT 1 ms (a data centre: CPU may
// dominate), asking for each coding in turn; the client decodes the body.
// ns/op is one response; "wire-KiB" is the body on the wire.
func BenchmarkWanCompress(b *testing.B) {
	l := wanLink(b)
	mw, err := compress.Middleware(nil)
	if err != nil {
		b.Fatal(err)
	}
	body := compressJSON(128 << 10)
	url := wanServe(b, l, mw(jsonHandler(body)), false)
	for _, link := range []struct {
		name string
		rtt  time.Duration
		rate int64
	}{
		{"1Mbit-rtt50ms", 50 * time.Millisecond, 1e6},
		{"1Gbit-rtt1ms", time.Millisecond, 1e9},
	} {
		wanShape(b, l, wanem.Shape{Delay: link.rtt / 2, Rate: link.rate})
		for _, enc := range []string{"identity", compress.Gzip, compress.Zstd, compress.Brotli} {
			b.Run(link.name+"/"+enc, func(b *testing.B) {
				c := wanHTTPX(b, nil)
				fetch := func() (int, error) {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Accept-Encoding", enc)
					resp, err := c.Do(req)
					if err != nil {
						return 0, err
					}
					defer resp.Body.Close()
					raw, err := io.ReadAll(resp.Body)
					if err != nil {
						return 0, err
					}
					got := raw
					if ce := resp.Header.Get("Content-Encoding"); ce != "" {
						if ce != enc {
							return 0, fmt.Errorf("asked for %s, got %s", enc, ce)
						}
						if got, err = decodeBody(ce, raw); err != nil {
							return 0, err
						}
					}
					if !bytes.Equal(got, body) {
						return 0, fmt.Errorf("%s: body differs", enc)
					}
					return len(raw), nil
				}
				if _, err := fetch(); err != nil { // connects
					b.Fatal(err)
				}
				var wire int
				for b.Loop() {
					n, err := fetch()
					if err != nil {
						b.Fatal(err)
					}
					wire = n
				}
				b.ReportMetric(float64(wire)/1024, "wire-KiB")
			})
		}
	}
}
