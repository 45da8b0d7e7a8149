package pool_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

// BenchmarkAcquireRelease measures an Acquire and Release pair on a pool of
// 8 warm connections, from 1, 8 and 128 goroutines: uncontended, as many
// callers as connections, and 16 callers per connection.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, goroutines := range []int{1, 8, 128} {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			var n atomic.Int64
			p := newPool(b, pool.Config[*int64]{
				Dial: func(context.Context) (*int64, error) {
					v := n.Add(1)
					return &v, nil
				},
				MaxSize: 8,
			})
			ctx := context.Background()
			var warm []pool.Lease[*int64]
			for range 8 {
				warm = append(warm, mustAcquire(b, p))
			}
			for _, l := range warm {
				l.Release()
			}
			b.ReportAllocs()
			b.ResetTimer()

			var wg sync.WaitGroup
			for g := range goroutines {
				ops := b.N / goroutines
				if g < b.N%goroutines {
					ops++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range ops {
						l, err := p.Acquire(ctx)
						if err != nil {
							b.Error(err)
							return
						}
						l.Release()
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if s := p.Stats(); s.DialCount != 8 {
				b.Fatalf("%d dials, want 8", s.DialCount)
			}
		})
	}
}

// BenchmarkTLSRequest sends one small request per op to a loopback TLS 1.3
// server, over a pooled connection or over a new connection per request.
// handshake-ns/req is the dial and handshake time spent per request.
func BenchmarkTLSRequest(b *testing.B) {
	serverTLS, clientTLS := testTLS(b)
	srv := newLineServer(b, serverTLS)

	b.Run("pooled", func(b *testing.B) {
		cfg := pool.TCP(srv.addr(), &pool.TCPOptions{TLS: clientTLS})
		var dialNS atomic.Int64
		dial := cfg.Dial
		cfg.Dial = func(ctx context.Context) (net.Conn, error) {
			start := time.Now()
			c, err := dial(ctx)
			dialNS.Add(int64(time.Since(start)))
			return c, err
		}
		p := newPool(b, cfg)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			l, err := p.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := roundTrip(l.Value()); err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
		b.StopTimer()
		b.ReportMetric(float64(dialNS.Load())/float64(b.N), "handshake-ns/req")
		b.ReportMetric(float64(p.Stats().DialCount)/float64(b.N), "handshakes/req")
	})

	b.Run("new-conn", func(b *testing.B) {
		d := &tls.Dialer{Config: clientTLS}
		ctx := context.Background()
		var dialNS time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			c, err := d.DialContext(ctx, "tcp", srv.addr())
			if err != nil {
				b.Fatal(err)
			}
			dialNS += time.Since(start)
			if err := roundTrip(c); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		b.StopTimer()
		b.ReportMetric(float64(dialNS)/float64(b.N), "handshake-ns/req")
		b.ReportMetric(1, "handshakes/req")
	})
}

// BenchmarkConnAlive measures the liveness probe that TCP's Check runs on
// a connection idle for CheckAfterIdle.
func BenchmarkConnAlive(b *testing.B) {
	serverTLS, clientTLS := testTLS(b)
	for _, tt := range []struct {
		name string
		tls  bool
	}{{"tcp", false}, {"tls", true}} {
		b.Run(tt.name, func(b *testing.B) {
			var srv *lineServer
			opts := &pool.TCPOptions{}
			if tt.tls {
				srv = newLineServer(b, serverTLS)
				opts.TLS = clientTLS
			} else {
				srv = newLineServer(b, nil)
			}
			c, err := pool.TCP(srv.addr(), opts).Dial(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := roundTrip(c); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := pool.ConnAlive(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
