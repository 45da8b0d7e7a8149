package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/batch"
	"github.com/wirespeed/wirespeed/bench/wanem"
)

// BenchmarkWanBulk creates 1000 items at RTT 50 ms: in one bulk request
// (batch.BulkClient to a batch.BulkHandler) and in 1000 single-item POSTs
// with 8 and with 64 in flight, all over one kept HTTP/2 connection of an
// httpx client (the item server is BenchmarkBatchBulk's). It reports each
// path's time and the ratio individual/bulk.
func BenchmarkWanBulk(b *testing.B) {
	l := wanLink(b)
	const rtt = 50 * time.Millisecond
	wanShape(b, l, wanem.Symmetric(rtt, 0))
	items := bulkItems(1000)
	for _, workers := range []int{8, 64} {
		b.Run(fmt.Sprintf("rtt=50ms/%dinflight", workers), func(b *testing.B) {
			srv := newItemServer(b) // its handler, served across the link
			url := wanServe(b, l, srv.Config.Handler, false)
			url = url[:len(url)-1]
			c := wanHTTPX(b, nil)
			bc, err := batch.NewBulkClient[bulkItem, bulkCreated](url+"/items/bulk", &batch.BulkClientOptions{Client: c.Client})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bc.Send(context.Background(), items[:1]); err != nil { // connects
				b.Fatal(err)
			}
			var bulkTime, eachTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := bc.Send(context.Background(), items); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, _, err := createEach(c.Client, url, items, workers); err != nil {
					b.Fatal(err)
				}
				bulkTime += t1.Sub(t0)
				eachTime += time.Since(t1)
			}
			n := time.Duration(b.N)
			b.ReportMetric(ms(bulkTime/n), "bulk-ms")
			b.ReportMetric(ms(eachTime/n), "individual-ms")
			b.ReportMetric(float64(eachTime)/float64(bulkTime), "individual/bulk")
		})
	}
}
