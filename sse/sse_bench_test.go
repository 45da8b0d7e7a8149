package sse_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/sse"
)

func BenchmarkAppendEvent(b *testing.B) {
	ev := sse.Event{ID: "1732500000000-0", Type: "tick", Data: []byte(`{"sym":"WIRE","price":101.25}`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(ev.Data)))
	for b.Loop() {
		buf, _ = sse.AppendEvent(buf[:0], ev)
	}
}

func BenchmarkDecoder(b *testing.B) {
	one, _ := sse.AppendEvent(nil, sse.Event{ID: "1732500000000-0", Data: []byte(`{"sym":"WIRE","price":101.25}`)})
	stream := bytes.Repeat(one, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		d := sse.NewDecoder(bytes.NewReader(stream), 0)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}

// BenchmarkFanout publishes b.N events to n streams on loopback, one of
// which never reads, and reports events per second delivered to the
// others. bench/ compares it with go-sse.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			// History sized for the burst, so the fan-out never lags the
			// broker and the figure is the fan-out's own.
			broker, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 1 << 16, MaxBytes: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer broker.Close()
			s, err := sse.NewServer(&sse.ServerOptions{Broker: broker, PublicTopics: []string{"t"}, MaxConnsPerIP: -1, Policy: sse.DropOldest, QueueMessages: 256, WriteTimeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			defer s.Close()
			addr := strings.TrimPrefix(srv.URL, "http://")
			slow, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer slow.Close()
			slow.(*net.TCPConn).SetReadBuffer(4 << 10)
			fmt.Fprintf(slow, "GET /?topic=t HTTP/1.1\r\nHost: x\r\n\r\n")
			var delivered atomic.Int64
			var wg sync.WaitGroup
			for range n - 1 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				fmt.Fprintf(c, "GET /?topic=t HTTP/1.1\r\nHost: x\r\n\r\n")
				wg.Go(func() {
					r := bufio.NewReader(c)
					for {
						l, err := r.ReadSlice('\n')
						if err != nil {
							return
						}
						if d, ok := bytes.CutPrefix(l, []byte("data: ")); ok {
							if string(d) == "fin\n" {
								return
							}
							delivered.Add(1)
						}
					}
				})
			}
			for s.Stats().Conns < n {
				time.Sleep(time.Millisecond)
			}
			ctx := context.Background()
			payload := []byte(`{"sym":"WIRE","price":101.25,"pad":"xxxxxxxxxxxxxxxxxxxxxxxx"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.Publish(ctx, "t", payload)
			}
			s.Publish(ctx, "t", []byte("fin"))
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(delivered.Load())/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(delivered.Load())/float64(b.N*(n-1)), "delivered")
		})
	}
}
