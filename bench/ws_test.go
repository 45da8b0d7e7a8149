package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// wsImpl is one WebSocket hub under comparison: it serves HTTP, publishes
// a message to every subscriber, and stops.
type wsImpl struct {
	name   string
	joined bool // joins queued messages into one frame (newline-separated)
	// start returns the server's handler, the publish function and a
	// stop function; joined receives once per registered subscriber.
	start func(tb testing.TB, joined chan<- struct{}) (h http.Handler, publish func([]byte), stop func())
}

// wsImpls are the hubs compared. With every message its own WebSocket
// message: ws.Hub, a hub written the way gorilla/websocket's chat example
// does it but without its joining (gorilla-chat-unbatched), and
// coder/websocket's chat example. With the messages queued together
// joined into one newline-separated message: ws.Hub with JoinSeparator,
// and gorilla's chat example as it is. All use a 256-message queue per
// subscriber (the gorilla example's size; coder's example uses 16); ws.Hub
// drops the oldest message when it is full, the others disconnect the
// subscriber.
var wsImpls = []wsImpl{
	{"wirespeed", false, func(tb testing.TB, joined chan<- struct{}) (http.Handler, func([]byte), func()) {
		return startWirespeed(tb, joined, nil)
	}},
	{"wirespeed", true, func(tb testing.TB, joined chan<- struct{}) (http.Handler, func([]byte), func()) {
		return startWirespeed(tb, joined, []byte("\n"))
	}},
	{"gorilla-chat", true, func(tb testing.TB, joined chan<- struct{}) (http.Handler, func([]byte), func()) {
		h := newGorillaHub(joined)
		h.batch = true
		return h, func(m []byte) { h.broadcast <- m }, h.close
	}},
	{"gorilla-chat-unbatched", false, func(tb testing.TB, joined chan<- struct{}) (http.Handler, func([]byte), func()) {
		h := newGorillaHub(joined)
		return h, func(m []byte) { h.broadcast <- m }, h.close
	}},
	{"coder-chat", false, func(tb testing.TB, joined chan<- struct{}) (http.Handler, func([]byte), func()) {
		h := newCoderChat(joined)
		return h, h.publish, h.close
	}},
}

func startWirespeed(tb testing.TB, joined chan<- struct{}, sep []byte) (http.Handler, func([]byte), func()) {
	var hub *ws.Hub
	hub, err := ws.NewHub(&ws.HubOptions{
		MaxConns:      -1,
		MaxConnsPerIP: -1,
		QueueMessages: 256,
		JoinSeparator: sep,
		OnConnect: func(ctx context.Context, c *ws.Conn) {
			hub.Subscribe(ctx, c, "t")
			joined <- struct{}{}
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return hub, func(m []byte) { hub.Publish(context.Background(), "t", m) }, func() { hub.Close() }
}

// raiseNoFile lifts the soft open-files limit to the hard one: thousands
// of loopback connections need two descriptors each in one process.
func raiseNoFile(tb testing.TB) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		tb.Fatal(err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkWSBroadcast publishes b.N small messages to n subscribers on
// loopback, one of which never reads, through each hub in wsImpls in the
// same run, grouped by framing (separate messages, or joined ones) so each
// wirespeed figure has its like-for-like peers. The clients are
// coder/websocket for every hub. It reports
// msgs/s delivered to the fast subscribers, the fraction of messages they
// got, and the p99 delivery latency (publish call to client read, from a
// timestamp in the payload). Run with a fixed count:
//
//	go test -run '^$' -bench WSBroadcast -benchtime 1000x .
func BenchmarkWSBroadcast(b *testing.B) {
	raiseNoFile(b)
	for _, n := range []int{1000, 5000} {
		for _, impl := range wsImpls {
			framing := "separate"
			if impl.joined {
				framing = "joined"
			}
			b.Run(fmt.Sprintf("subscribers=%d/framing=%s/%s", n, framing, impl.name), func(b *testing.B) {
				joined := make(chan struct{}, n)
				h, publish, stop := impl.start(b, joined)
				srv := httptest.NewServer(h)
				defer srv.Close()
				defer stop()
				wsBroadcast(b, srv.URL, n, joined, publish, 0)
			})
		}
	}
}

// BenchmarkWSLatency is BenchmarkWSBroadcast with the publisher paced at
// rate messages per second, a load every hub sustains, so p99-µs is the
// delivery latency of a hub that keeps up rather than the backlog of one
// that does not (ws.Hub's Publish returns before the fan-out, the peers'
// publish blocks until it is done, so an unpaced p99 is not comparable).
//
//	go test -run '^$' -bench WSLatency -benchtime 100x .
func BenchmarkWSLatency(b *testing.B) {
	raiseNoFile(b)
	for _, tc := range []struct{ n, rate int }{{1000, 50}, {5000, 10}} {
		for _, impl := range wsImpls {
			framing := "separate"
			if impl.joined {
				framing = "joined"
			}
			b.Run(fmt.Sprintf("subscribers=%d/rate=%d/framing=%s/%s", tc.n, tc.rate, framing, impl.name), func(b *testing.B) {
				joined := make(chan struct{}, tc.n)
				h, publish, stop := impl.start(b, joined)
				srv := httptest.NewServer(h)
				defer srv.Close()
				defer stop()
				wsBroadcast(b, srv.URL, tc.n, joined, publish, tc.rate)
			})
		}
	}
}

// latencyHist is a log-linear histogram of nanoseconds: 16 buckets per
// power of two (≤ 6% error), safe for concurrent use.
type latencyHist struct{ b [64 * 16]atomic.Uint64 }

func (h *latencyHist) add(ns int64) {
	v := uint64(max(ns, 0))
	if v < 16 {
		h.b[v].Add(1)
		return
	}
	e := bits.Len64(v) - 5
	h.b[(e+1)*16+int((v>>e)&15)].Add(1)
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) time.Duration {
	var total uint64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i := range h.b {
		seen += h.b[i].Load()
		if seen > want || seen == total {
			if i < 16 {
				return time.Duration(i)
			}
			e := i/16 - 1
			return time.Duration((uint64(16+i%16+1) << e) - 1)
		}
	}
	return 0
}

// sentAt parses the "t" field (UnixNano at publish) of a message.
func sentAt(m []byte) (int64, bool) {
	i := bytes.LastIndex(m, []byte(`"t":`))
	if i < 0 {
		return 0, false
	}
	m = m[i+4:]
	j := bytes.IndexByte(m, '}')
	if j < 0 {
		return 0, false
	}
	t, err := strconv.ParseInt(string(m[:j]), 10, 64)
	return t, err == nil
}

// wsBroadcast runs one broadcast benchmark; rate > 0 paces the publisher
// at rate messages per second.
func wsBroadcast(b *testing.B, url string, n int, joined <-chan struct{}, publish func([]byte), rate int) {
	ctx := context.Background()
	url = "ws" + strings.TrimPrefix(url, "http")
	slow, _, err := websocket.Dial(ctx, url, nil) // never reads
	if err != nil {
		b.Fatal(err)
	}
	defer slow.CloseNow()
	<-joined
	var delivered atomic.Int64
	var hist latencyHist
	var wg sync.WaitGroup
	fast := make([]*websocket.Conn, 0, n-1)
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
				now := time.Now().UnixNano()
				for line := range bytes.SplitSeq(m, []byte("\n")) {
					if string(line) == "fin" {
						return
					}
					if t, ok := sentAt(line); ok {
						hist.add(now - t)
					}
					delivered.Add(1)
				}
			}
		})
	}
	defer func() {
		for _, c := range fast {
			c.CloseNow()
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var tick *time.Ticker
	if rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
	}
	for i := range b.N {
		if tick != nil {
			<-tick.C
		}
		// A fresh slice each time: the hubs keep the payload.
		publish(fmt.Appendf(nil, `{"sym":"WIRE","price":101.25,"seq":%d,"t":%d}`, i, time.Now().UnixNano()))
	}
	publish([]byte("fin")) // the newest message is never dropped
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(delivered.Load())/float64(b.N*(n-1)), "delivered-fraction")
	b.ReportMetric(float64(hist.quantile(0.99).Microseconds()), "p99-µs")
}

// gorillaHub follows github.com/gorilla/websocket/examples/chat: one hub
// goroutine, a 256-message channel per client, a client whose channel is
// full is dropped, and (batch) the writer joins queued messages into one
// frame with newlines.
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
		upgrader: gorilla.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}, // as in the example
		clients:  map[*gorillaClient]bool{}, broadcast: make(chan []byte),
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
			if h.joined != nil {
				h.joined <- struct{}{}
			}
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

// coderChat follows coder/websocket's internal/examples/chat: subscribers
// in a map under a mutex, each with a buffered channel and its own writer
// loop (CloseRead runs the reader), Write with a 5s timeout per message,
// and a subscriber whose channel is full closed as too slow.
type coderChat struct {
	joined chan<- struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // protects subs
	subs   map[*coderSub]struct{}
}

type coderSub struct {
	msgs      chan []byte
	closeSlow func()
}

func newCoderChat(joined chan<- struct{}) *coderChat {
	h := &coderChat{joined: joined, subs: map[*coderSub]struct{}{}}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

func (h *coderChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.subscribe(c)
	}()
}

func (h *coderChat) subscribe(c *websocket.Conn) {
	defer c.CloseNow()
	var once sync.Once
	s := &coderSub{msgs: make(chan []byte, 256), closeSlow: func() {
		once.Do(func() { c.Close(websocket.StatusPolicyViolation, "connection too slow to keep up with messages") })
	}}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}()
	if h.joined != nil {
		h.joined <- struct{}{}
	}
	ctx := c.CloseRead(h.ctx)
	for {
		select {
		case m := <-s.msgs:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Write(wctx, websocket.MessageText, m)
			cancel()
			if err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (h *coderChat) publish(m []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.msgs <- m:
		default:
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				s.closeSlow()
			}()
		}
	}
}

func (h *coderChat) close() {
	h.cancel()
	h.wg.Wait()
}
