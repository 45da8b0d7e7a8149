package ws_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// BenchmarkBroadcast publishes b.N small messages to a topic with n
// subscribers on loopback, one of which never reads. It reports messages
// delivered to the fast subscribers per second; the slow one only costs
// its bounded queue (DropOldest).
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			benchBroadcast(b, n)
		})
	}
}

func benchBroadcast(b *testing.B, n int) {
	ctx := context.Background()
	joined := make(chan struct{}, n)
	var hub *ws.Hub
	hub, err := ws.NewHub(&ws.HubOptions{
		MaxConnsPerIP: -1,
		QueueMessages: 4096,
		OnConnect: func(ctx context.Context, c *ws.Conn) {
			hub.Subscribe(ctx, c, "t")
			joined <- struct{}{}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	slow, _, err := websocket.Dial(ctx, url, nil) // never reads
	if err != nil {
		b.Fatal(err)
	}
	defer slow.CloseNow()
	<-joined
	var delivered atomic.Int64
	var wg sync.WaitGroup
	var fast []*websocket.Conn
	for range n - 1 {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		fast = append(fast, c)
		<-joined
		wg.Go(func() {
			for {
				_, m, err := c.Read(ctx)
				if err != nil {
					return
				}
				if string(m) == "fin" {
					return
				}
				delivered.Add(1)
			}
		})
	}
	msg := []byte(`{"sym":"WIRE","price":101.25,"seq":12345}`)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := hub.Publish(ctx, "t", msg); err != nil {
			b.Fatal(err)
		}
	}
	hub.Publish(ctx, "t", []byte("fin")) // the newest message is never dropped
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(delivered.Load())/float64(b.N*(n-1)), "delivered-fraction")
	st := hub.Stats()
	b.ReportMetric(float64(st.BrokerSkipped)/float64(b.N), "broker-skipped/op")
	for _, c := range fast {
		c.CloseNow()
	}
}

// BenchmarkIdleConnMemory holds 1000 idle connections and reports the
// process's heap and stack growth per connection. The clients are bare TCP
// connections that did the handshake by hand (no goroutine, no buffers), so
// the figure is the server's cost plus a client socket: the reader
// goroutine, coder/websocket's state and small buffers, the hub's
// connection and its empty queue (slots are allocated only while messages
// wait, so the queue bound no longer changes the figure). bench/'s
// BenchmarkWSIdleMemory measures 10,000 with the clients in another
// process.
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, q := range []int{256, 64, 16} {
		b.Run(fmt.Sprintf("queue=%d", q), func(b *testing.B) { benchIdle(b, q) })
	}
}

func benchIdle(b *testing.B, queue int) {
	const n = 1000
	for range b.N {
		hub, err := ws.NewHub(&ws.HubOptions{MaxConnsPerIP: -1, QueueMessages: queue})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(hub)
		addr := srv.Listener.Addr().String()
		before := memInUse()
		conns := make([]net.Conn, 0, n)
		for range n {
			conns = append(conns, rawHandshake(b, addr))
		}
		for hub.Stats().Conns < n { // handshakes done; the hub registers right after
			runtime.Gosched()
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/n, "B/conn")
		for _, c := range conns {
			c.Close()
		}
		hub.Close()
		srv.Close()
	}
}

func memInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

func rawHandshake(b *testing.B, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return c
}

// countingConn counts the bytes a client's connection reads and writes.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func countingClient(n *atomic.Int64) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, n}, nil
	}}}
}

// BenchmarkWireBytes reports the bytes on the wire, both directions, for
// one small message (a 41-byte price) pushed over an open WebSocket, and
// for the same payload fetched with an HTTP/1.1 GET on a kept-alive
// connection with Go's default client headers.
func BenchmarkWireBytes(b *testing.B) {
	ctx := context.Background()
	payload := []byte(`{"sym":"WIRE","price":101.25,"seq":12345}`)
	b.Run("websocket", func(b *testing.B) {
		joined := make(chan struct{}, 1)
		var hub *ws.Hub
		hub, err := ws.NewHub(&ws.HubOptions{OnConnect: func(ctx context.Context, c *ws.Conn) {
			hub.Subscribe(ctx, c, "t")
			joined <- struct{}{}
		}})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(hub)
		defer srv.Close()
		defer hub.Close()
		var n atomic.Int64
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{HTTPClient: countingClient(&n)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseNow()
		<-joined
		b.ReportAllocs()
		b.ResetTimer()
		start := n.Load()
		for range b.N {
			hub.Publish(ctx, "t", payload)
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n.Load()-start)/float64(b.N), "wire-B/msg")
	})
	b.Run("http-get", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(payload)
		}))
		defer srv.Close()
		var n atomic.Int64
		client := countingClient(&n)
		defer client.CloseIdleConnections()
		b.ReportAllocs()
		b.ResetTimer()
		start := n.Load()
		for range b.N {
			resp, err := client.Get(srv.URL + "/price")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		b.ReportMetric(float64(n.Load()-start)/float64(b.N), "wire-B/msg")
	})
}

// BenchmarkInbound sends b.N small messages from one client to a hub whose
// OnMessage counts them: the reader's per-message path (read, UTF-8 check,
// the recovered OnMessage call).
func BenchmarkInbound(b *testing.B) {
	ctx := context.Background()
	var got atomic.Int64
	done := make(chan struct{})
	var want int64
	hub, err := ws.NewHub(&ws.HubOptions{
		OnMessage: func(context.Context, *ws.Conn, websocket.MessageType, []byte) {
			if got.Add(1) == atomic.LoadInt64(&want) {
				close(done)
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	atomic.StoreInt64(&want, int64(b.N))
	msg := []byte(`{"sym":"WIRE","price":101.25,"seq":12345}`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}
