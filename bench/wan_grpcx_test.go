package bench

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

// grpcRecords is the chapter's count: 1000 records fetched either way.
const grpcRecords = 1000

// BenchmarkWanGrpc fetches 1000 catalog records at RTT 50 ms through a
// grpcx client (the pool) from a grpcx server on side B: in one
// server-streaming List, in 1000 unary Gets one after another, and in 1000
// unary Gets with 100 in flight (the server's MaxConcurrentStreams, what
// one connection carries) and with all 1000 in flight (the pool opens
// connections past 100 streams each). One op is all 1000 records; the
// connection is open before the clock starts. It reports the time in ms
// and in RTTs.
func BenchmarkWanGrpc(b *testing.B) {
	l := wanLink(b)
	const rtt = 50 * time.Millisecond
	wanShape(b, l, wanem.Symmetric(rtt, 0))
	addr := wanGrpcServe(b, l)
	ids := make([]string, grpcRecords)
	for i := range ids {
		ids[i] = catalogpb.DemoItem(i + 1).Id
	}
	for _, tc := range []struct {
		name  string
		fetch func(context.Context, catalogpb.CatalogClient) (int, error)
	}{
		{"stream", grpcStreamAll},
		{"unary-sequential", func(ctx context.Context, c catalogpb.CatalogClient) (int, error) {
			return grpcUnaryAll(ctx, c, ids, 1)
		}},
		{"unary-100inflight", func(ctx context.Context, c catalogpb.CatalogClient) (int, error) {
			return grpcUnaryAll(ctx, c, ids, 100)
		}},
		{"unary-1000inflight", func(ctx context.Context, c catalogpb.CatalogClient) (int, error) {
			return grpcUnaryAll(ctx, c, ids, grpcRecords)
		}},
	} {
		b.Run("rtt=50ms/"+tc.name, func(b *testing.B) {
			// A client per case, so that connections the pool opened for
			// 1000 in flight do not serve the next case.
			pool, err := grpcx.NewClient(addr, &grpcx.ClientOptions{MaxConns: 16})
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			cat := catalogpb.NewCatalogClient(pool)
			ctx := context.Background()
			if _, err := cat.Get(ctx, &catalogpb.GetRequest{Id: ids[0]}); err != nil { // connects
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				n, err := tc.fetch(ctx, cat)
				if err != nil {
					b.Fatal(err)
				}
				if n != grpcRecords {
					b.Fatalf("%d records, want %d", n, grpcRecords)
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(ms(per), "total-ms")
			b.ReportMetric(rtts(per, rtt), "RTTs")
			b.ReportMetric(float64(len(pool.Stats().Conns)), "conns")
		})
	}
}

// wanGrpcServe serves the demo catalog (1000 items) with a grpcx server
// on side B and returns its address.
func wanGrpcServe(b *testing.B, l *wanem.Link) string {
	b.Helper()
	srv, err := grpcx.NewServer(&grpcx.ServerOptions{Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	catalogpb.RegisterCatalogServer(srv, catalogpb.NewDemo(grpcRecords))
	ln, err := l.B.Listen("tcp", wanAddr(l))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	b.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			b.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// grpcStreamAll receives every record of one server-streaming List.
func grpcStreamAll(ctx context.Context, c catalogpb.CatalogClient) (int, error) {
	s, err := c.List(ctx, &catalogpb.ListRequest{Limit: grpcRecords})
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		if _, err := s.Recv(); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n++
	}
}

// grpcUnaryAll gets each id with a unary call, inflight at a time.
func grpcUnaryAll(ctx context.Context, c catalogpb.CatalogClient, ids []string, inflight int) (int, error) {
	var (
		mu    sync.Mutex
		n     int
		first error
		wg    sync.WaitGroup
	)
	next := make(chan string)
	for range inflight {
		wg.Go(func() {
			for id := range next {
				_, err := c.Get(ctx, &catalogpb.GetRequest{Id: id})
				mu.Lock()
				if err == nil {
					n++
				} else if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return n, first
}
