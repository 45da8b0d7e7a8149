package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// BenchmarkWSBroadcast publishes small messages to n subscribers on
// loopback, one of which never reads, through ws.Hub and through a hub
// written the way gorilla/websocket's chat example does it (one hub
// goroutine, a 256-message channel per client, a writer that batches
// queued messages into one frame with newlines, the slow client dropped
// when its channel is full). The clients are coder/websocket in both
// cases. msgs/s counts messages delivered to the fast subscribers.
//
// The chat example's batching changes message boundaries (one WebSocket
// message carries many, newline-separated) and saves a write per message;
// gorilla-chat-unbatched writes each message as its own WebSocket message,
// as ws.Hub does, for a like-for-like comparison.
func BenchmarkWSBroadcast(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("impl=wirespeed/subscribers=%d", n), func(b *testing.B) {
			joined := make(chan struct{}, n)
			var hub *ws.Hub
			hub, err := ws.NewHub(&ws.HubOptions{
				MaxConnsPerIP: -1,
				QueueMessages: 256, // the chat example's channel size
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
			wsBroadcast(b, srv.URL, n, joined, func(m []byte) { hub.Publish(context.Background(), "t", m) })
		})
		for _, batch := range []bool{true, false} {
			name := "gorilla-chat"
			if !batch {
				name = "gorilla-chat-unbatched"
			}
			b.Run(fmt.Sprintf("impl=%s/subscribers=%d", name, n), func(b *testing.B) {
				joined := make(chan struct{}, n)
				h := newGorillaHub(joined)
				h.batch = batch
				srv := httptest.NewServer(h)
				defer srv.Close()
				defer h.close()
				wsBroadcast(b, srv.URL, n, joined, func(m []byte) { h.broadcast <- m })
			})
		}
	}
}

func wsBroadcast(b *testing.B, url string, n int, joined <-chan struct{}, publish func([]byte)) {
	ctx := context.Background()
	url = "ws" + strings.TrimPrefix(url, "http")
	slow, _, err := websocket.Dial(ctx, url, nil)
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
		c.SetReadLimit(-1)
		fast = append(fast, c)
		<-joined
		wg.Go(func() {
			for {
				_, m, err := c.Read(ctx)
				if err != nil {
					return
				}
				for line := range bytes.SplitSeq(m, []byte("\n")) {
					if string(line) == "fin" {
						return
					}
					delivered.Add(1)
				}
			}
		})
	}
	msg := []byte(`{"sym":"WIRE","price":101.25,"seq":12345}`)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		publish(msg)
	}
	publish([]byte("fin"))
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(delivered.Load())/float64(b.N*(n-1)), "delivered-fraction")
	for _, c := range fast {
		c.CloseNow()
	}
}

// gorillaHub follows github.com/gorilla/websocket/examples/chat.
type gorillaHub struct {
	upgrader   gorilla.Upgrader
	clients    map[*gorillaClient]bool // owned by run
	broadcast  chan []byte
	register   chan *gorillaClient
	unregister chan *gorillaClient
	joined     chan<- struct{}
	batch      bool // join queued messages into one frame, as the chat example does
	quit       chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex // protects conns
	conns      map[*gorilla.Conn]struct{}
}

type gorillaClient struct {
	conn *gorilla.Conn
	send chan []byte
}

func newGorillaHub(joined chan<- struct{}) *gorillaHub {
	h := &gorillaHub{
		clients: map[*gorillaClient]bool{}, broadcast: make(chan []byte),
		register: make(chan *gorillaClient), unregister: make(chan *gorillaClient),
		joined: joined, quit: make(chan struct{}), conns: map[*gorilla.Conn]struct{}{},
	}
	h.wg.Go(h.run)
	return h
}

func (h *gorillaHub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
			h.joined <- struct{}{}
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
			}
		case m := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- m:
				default:
					close(c.send)
					delete(h.clients, c)
				}
			}
		case <-h.quit:
			for c := range h.clients {
				close(c.send)
			}
			return
		}
	}
}

func (h *gorillaHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	h.mu.Lock()
	h.conns[conn] = struct{}{}
	h.mu.Unlock()
	c := &gorillaClient{conn: conn, send: make(chan []byte, 256)}
	select {
	case h.register <- c:
	case <-h.quit:
		conn.Close()
		return
	}
	h.wg.Go(func() { h.writePump(c) })
	h.wg.Go(func() { h.readPump(c) })
}

func (h *gorillaHub) readPump(c *gorillaClient) {
	defer func() {
		select {
		case h.unregister <- c:
		case <-h.quit:
		}
		c.conn.Close()
	}()
	c.conn.SetReadLimit(512)
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (h *gorillaHub) writePump(c *gorillaClient) {
	ticker := time.NewTicker(54 * time.Second)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case m, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if !ok {
				c.conn.WriteMessage(gorilla.CloseMessage, []byte{})
				return
			}
			w, err := c.conn.NextWriter(gorilla.TextMessage)
			if err != nil {
				return
			}
			w.Write(m)
			for range len(c.send) * btoi(h.batch) {
				w.Write([]byte("\n"))
				w.Write(<-c.send)
			}
			if err := w.Close(); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.conn.WriteMessage(gorilla.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func (h *gorillaHub) close() {
	close(h.quit)
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
