package grpcx_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

// TestSlowReaderBounded streams 64 KiB messages to a client that reads
// none: HTTP/2 flow control must stop the sender after a bounded amount,
// instead of the server buffering without limit.
func TestSlowReaderBounded(t *testing.T) {
	_, addr, f := serveFaulty(t, nil)
	cat := catalogpb.NewCatalogClient(newClient(t, addr, nil))
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	if _, err := cat.List(ctx, &catalogpb.ListRequest{}); err != nil {
		t.Fatal(err)
	}
	// Wait until the sender stops: the count holds still for 50 polls.
	last, still := int64(-1), 0
	waitFor(t, "the sender to block", func() bool {
		n := f.sent.Load()
		if n == last && n > 0 {
			still++
		} else {
			last, still = n, 0
		}
		time.Sleep(5 * time.Millisecond)
		return still >= 50
	})
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	sentBytes := last * 64 << 10
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("unread stream: %d messages (%d KiB) sent before flow control stopped the sender; heap grew %d KiB", last, sentBytes>>10, heap>>10)
	if sentBytes > 8<<20 {
		t.Errorf("%d KiB sent to a client that reads nothing: flow control is not bounding it", sentBytes>>10)
	}
	if heap > 32<<20 {
		t.Errorf("heap grew %d KiB for one unread stream", heap>>10)
	}
}
