package grpcx_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

func getCount(s *testServer) uint64 {
	var n uint64
	for _, m := range s.Stats().Methods {
		if strings.HasSuffix(m.Method, "/Get") {
			n += m.RPCs
		}
	}
	return n
}

// TestRoundRobinAndDrain spreads RPCs over three backends named in a
// static target, then drains one while RPCs run: none may fail.
func TestRoundRobinAndDrain(t *testing.T) {
	var servers []*testServer
	var addrs []string
	for range 3 {
		s := startServer(t, nil)
		servers = append(servers, s)
		addrs = append(addrs, s.addr)
	}
	c := newClient(t, "static:///"+strings.Join(addrs, ","), nil)
	cat := catalogpb.NewCatalogClient(c)
	ctx := ctxT(t)
	// Wait until all three are in the rotation.
	waitFor(t, "all three backends to serve", func() bool {
		cat.Get(ctx, &catalogpb.GetRequest{Id: "item-00001"})
		return getCount(servers[0]) > 0 && getCount(servers[1]) > 0 && getCount(servers[2]) > 0
	})
	var before [3]uint64
	for i, s := range servers {
		before[i] = getCount(s)
	}
	const n = 600
	for range n {
		if _, err := cat.Get(ctx, &catalogpb.GetRequest{Id: "item-00001"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range servers {
		got := getCount(s) - before[i]
		if got < n/3*8/10 || got > n/3*12/10 {
			t.Errorf("backend %d served %d of %d calls, want %d ±20%%", i, got, n, n/3)
		}
	}

	// Drain backend 0 while 8 workers call; none may fail.
	var calls, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := cat.Get(ctx, &catalogpb.GetRequest{Id: "item-00002"})
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					t.Errorf("RPC failed during the drain: %v", err)
				}
			}
		})
	}
	waitFor(t, "calls to run", func() bool { return calls.Load() > 200 })
	if err := servers[0].Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	after := calls.Load()
	waitFor(t, "calls after the drain", func() bool { return calls.Load() > after+300 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d RPCs failed", failed.Load(), calls.Load())
	}
	t.Logf("%d RPCs, %d failed; client: %d dialed, %d retired, %d GOAWAYs", calls.Load(), failed.Load(), c.Stats().Dialed, c.Stats().Retired, c.Stats().GoAways)
}
