package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	gosse "github.com/tmaxmax/go-sse"

	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/sse"
	"github.com/wirespeed/wirespeed/ws"
)

// sseImpl is an SSE server compared in the benchmarks: a handler serving
// topic "t" for GET /?topic=t, a publish function and a stop function.
type sseImpl struct {
	name  string
	start func(tb testing.TB) (h http.Handler, publish func([]byte), stop func())
	// streams, if set, counts the open streams of h; otherwise they are
	// counted by goroutines (two per stream).
	streams func(h http.Handler) int
}

var sseImpls = []sseImpl{
	{"wirespeed", func(tb testing.TB) (http.Handler, func([]byte), func()) {
		// History sized for a benchmark's burst, so the topic's fan-out
		// never falls behind the broker's buffer (which would skip
		// messages for every stream, reported with a "lost" event).
		broker, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: 1 << 16, MaxBytes: -1})
		if err != nil {
			tb.Fatal(err)
		}
		topics := []string{"t"}
		s, err := sse.NewServer(&sse.ServerOptions{
			Broker: broker,
			// Like go-sse's OnSession below: every stream gets topic "t".
			Topics:   func(*http.Request) ([]string, error) { return topics, nil },
			MaxConns: -1, MaxConnsPerIP: -1,
			// A live feed like go-sse's (which has no queue): drop the
			// oldest for a client that falls behind, never disconnect.
			Policy:        sse.DropOldest,
			QueueMessages: 256,
			// WriteTimeout: the default (10s). Over HTTP/2 a stream's
			// first write waits behind thousands of others when 10,000
			// streams open at once (BenchmarkSSEIdleMemory, proto=h2).
		})
		if err != nil {
			tb.Fatal(err)
		}
		ctx := context.Background()
		return s, func(m []byte) { s.Publish(ctx, "t", m) }, func() { s.Close(); broker.Close() }
	}, func(h http.Handler) int { return h.(*sse.Server).Stats().Conns }},
	{"go-sse", func(tb testing.TB) (http.Handler, func([]byte), func()) {
		s := &gosse.Server{OnSession: func(w http.ResponseWriter, r *http.Request) ([]string, bool) {
			return []string{"t"}, true
		}}
		return guardGoSSE(s), func(m []byte) {
			msg := &gosse.Message{}
			msg.AppendData(string(m))
			s.Publish(msg, "t")
		}, func() { s.Shutdown(context.Background()) }
	}, nil},
}

// guardGoSSE serves h (go-sse's Server) with a ResponseWriter that stops
// go-sse's publishing goroutine from writing once the handler has
// returned. go-sse v0.12.0 can flush a session from that goroutine while
// its handler returns, which the race detector reports as a race with
// net/http finishing the response (seen in TestSSEPeersAgree under
// -race). One uncontended mutex per write and flush is noise next to the
// system call each flush makes.
func guardGoSSE(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := &guardedWriter{w: w}
		defer g.finish()
		h.ServeHTTP(g, r)
	})
}

// guardedWriter is the writer guardGoSSE hands to go-sse. It implements
// only what go-sse looks for (Write, FlushError, Header, WriteHeader).
type guardedWriter struct {
	w    http.ResponseWriter
	mu   sync.Mutex // serialises go-sse's writes with finish
	done bool
}

func (g *guardedWriter) Header() http.Header { return g.w.Header() }

func (g *guardedWriter) WriteHeader(code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.done {
		g.w.WriteHeader(code)
	}
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return 0, errGoSSELateWrite
	}
	return g.w.Write(p)
}

func (g *guardedWriter) FlushError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return errGoSSELateWrite
	}
	return http.NewResponseController(g.w).Flush()
}

var errGoSSELateWrite = errors.New("bench: go-sse wrote after its handler returned")

func (g *guardedWriter) finish() {
	g.mu.Lock()
	g.done = true
	g.mu.Unlock()
}

// sseLatency is a log-linear histogram of nanoseconds (16 buckets per
// power of two), safe for concurrent use.
type sseLatency struct{ b [64 * 16]atomic.Uint64 }

func (h *sseLatency) add(ns int64) {
	v := uint64(max(ns, 0))
	if v < 16 {
		h.b[v].Add(1)
		return
	}
	e := 0
	for v>>e >= 32 {
		e++
	}
	h.b[(e+1)*16+int((v>>e)&15)].Add(1)
}

func (h *sseLatency) quantile(q float64) time.Duration {
	var total uint64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return 0
	}
	want, seen := uint64(q*float64(total)), uint64(0)
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

// newQuietServer starts h on loopback without net/http's error log
// (go-sse logs a superfluous WriteHeader for every stream cut at the end
// of a run).
func newQuietServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	return srv
}

// rawStream opens an event stream with a hand-written GET on a plain TCP
// connection: no client library, so both servers meet the same client.
func rawStream(tb testing.TB, addr string, rcvbuf int) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	if rcvbuf > 0 {
		c.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	fmt.Fprintf(c, "GET /?topic=t HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", addr)
	return c
}

// readEvents reads a chunked event stream's data lines. go-sse sends the
// response headers with the first event only, so a stream counts as
// started when it got its first "warm" event: ready is signalled then, and
// "warm" events are skipped. fn gets every other data line's payload until
// it returns false or the stream fails.
func readEvents(c net.Conn, ready chan<- struct{}, fn func(data []byte) bool) {
	r := bufio.NewReaderSize(c, 64<<10)
	warm := false
	for {
		l, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		d, ok := bytes.CutPrefix(l, []byte("data:"))
		if !ok {
			continue
		}
		d = bytes.TrimSpace(d)
		if string(d) == "warm" {
			if !warm {
				warm = true
				ready <- struct{}{}
			}
			continue
		}
		if !fn(d) {
			return
		}
	}
}

// warmUp publishes "warm" events until n streams have signalled ready,
// for at most a minute; it returns how many did not.
func warmUp(ready <-chan struct{}, n int, publish func([]byte)) int {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	stop := time.After(time.Minute)
	published := make(chan struct{}, 1)
	pub := func() {
		select {
		case published <- struct{}{}: // one publish in flight at a time
			go func() { publish([]byte("warm")); <-published }()
		default:
		}
	}
	pub()
	for n > 0 {
		select {
		case <-ready:
			n--
		case <-t.C:
			pub()
		case <-stop:
			return n
		}
	}
	published <- struct{}{} // wait for the last warm publish
	<-published
	return 0
}

// BenchmarkSSEFanout publishes b.N small events to n subscribers on
// loopback, one of which never reads (a 4 KiB receive buffer, so its
// socket fills soon), through wirespeed's sse.Server and go-sse's default
// Server (Joe provider) in the same run. Clients are raw TCP connections
// with a hand-written GET, the same for both. It reports msgs/s delivered
// to the fast subscribers, the fraction they got, and the p99 latency
// from publish to read. go-sse writes to every subscriber synchronously
// from one goroutine, so when the slow socket is full every subscriber
// waits: the run gives up after 20 s, closes the slow client (which
// unblocks go-sse) and counts what was delivered by then. Run with a fixed
// count:
//
//	go test -run '^$' -bench SSEFanout -benchtime 2000x .
//
// rate=max publishes as fast as Publish returns: go-sse's Publish waits
// until every subscriber was written to, wirespeed's does not, so its p99
// includes the burst's queueing and go-sse's does not. rate=50ps publishes
// 50 events a second (at most 250 of them, whatever b.N) and stamps each
// with the time it was due, so a publisher held up by the server counts
// as latency (no coordinated omission): the latency a live feed sees.
func BenchmarkSSEFanout(b *testing.B) {
	raiseNoFile(b)
	for _, n := range []int{1000, 5000} {
		for _, rate := range []int{0, 50} {
			for _, impl := range sseImpls {
				name := "max"
				if rate > 0 {
					name = fmt.Sprintf("%dps", rate)
				}
				b.Run(fmt.Sprintf("subscribers=%d/rate=%s/impl=%s", n, name, impl.name), func(b *testing.B) {
					b.ReportAllocs() // server and clients: both run in this process
					h, publish, stop := impl.start(b)
					srv := newQuietServer(h)
					defer srv.Close()
					defer stop()
					sseFanout(b, strings.TrimPrefix(srv.URL, "http://"), n, rate, publish)
				})
			}
		}
	}
}

func sseFanout(b *testing.B, addr string, n, rate int, publish func([]byte)) {
	ready := make(chan struct{}, n)
	var delivered atomic.Int64
	var hist sseLatency
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, n-1)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for range n - 1 {
		c := rawStream(b, addr, 0)
		conns = append(conns, c)
		wg.Go(func() {
			readEvents(c, ready, func(d []byte) bool {
				if string(d) == "fin" {
					return false
				}
				if i := bytes.Index(d, []byte(`"t":`)); i >= 0 {
					if t, err := strconv.ParseInt(string(bytes.TrimRight(d[i+4:], "}")), 10, 64); err == nil {
						hist.add(time.Now().UnixNano() - t)
					}
				}
				delivered.Add(1)
				return true
			})
		})
	}
	if left := warmUp(ready, n-1, publish); left > 0 {
		b.Skipf("%d of %d streams got no event within a minute of warming up; the server stalled", left, n-1)
	}
	// The slow subscriber joins last (it never reads, so it cannot say
	// when it is subscribed: give it a moment).
	slow := rawStream(b, addr, 4<<10)
	defer slow.Close()
	time.Sleep(200 * time.Millisecond)
	pad := strings.Repeat("x", 40)
	b.ResetTimer()
	start := time.Now()
	published := make(chan struct{})
	msgs := b.N
	var tick <-chan time.Time
	if rate > 0 {
		msgs = min(msgs, 250)
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		tick = t.C
	}
	go func() {
		defer close(published)
		for i := range msgs {
			t := time.Now()
			if tick != nil {
				<-tick
				// Stamp the time the event was due, not when Publish got
				// to run: a server whose Publish blocks (go-sse) would
				// otherwise hide its backlog in the publisher.
				t = start.Add(time.Duration(i+1) * time.Second / time.Duration(rate))
			}
			publish(fmt.Appendf(nil, `{"p":"%s","t":%d}`, pad, t.UnixNano()))
		}
		publish([]byte("fin"))
	}()
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		slow.Close() // unblock a server that waits for the slow client
		select {
		case <-finished:
		case <-time.After(20 * time.Second):
			for _, c := range conns {
				c.Close()
			}
			<-finished
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slow.Close()
	<-published
	got := delivered.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(got)/float64(int64(msgs)*int64(n-1)), "delivered")
	b.ReportMetric(float64(hist.quantile(0.99))/1e3, "p99-µs")
}

// BenchmarkSSEIdleMemory opens 10,000 streams, sends each one event and
// reports the server's memory per stream (heap in use plus goroutine
// stacks, after a GC, minus the same figure before the streams opened). The clients run
// in a child process (this test binary, re-executed), so their memory is
// not counted. Run once:
//
//	go test -run '^$' -bench SSEIdleMemory -benchtime 1x .
func BenchmarkSSEIdleMemory(b *testing.B) {
	raiseNoFile(b)
	const conns = 10000
	for _, proto := range []string{"h1", "h2"} {
		for _, impl := range sseImpls {
			name := fmt.Sprintf("conns=%d/impl=%s", conns, impl.name)
			if proto == "h2" {
				name = fmt.Sprintf("conns=%d/proto=h2/impl=%s", conns, impl.name)
			}
			b.Run(name, func(b *testing.B) { sseIdleMemory(b, impl, proto, conns) })
		}
	}
}

// sseIdleMemory is one BenchmarkSSEIdleMemory run: proto "h1" is plain
// HTTP/1.1 with raw clients, "h2" HTTP/2 over TLS with net/http clients
// (250 streams per connection, the server's default limit).
func sseIdleMemory(b *testing.B, impl sseImpl, proto string, conns int) {
	b.ReportAllocs()
	h, publish, stop := impl.start(b)
	// Handlers entered: go-sse's streams, which the clients
	// cannot see start (it sends no headers before an event).
	var entered atomic.Int64
	inner := h
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		inner.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if proto == "h2" {
		srv = httptest.NewUnstartedServer(counted)
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv = newQuietServer(counted)
	}
	defer srv.Close()
	defer stop()
	// A first message makes the broker's topic (wirespeed's
	// history ring, sized for the fan-out benchmarks): a fixed
	// cost of the server, not of its streams. go-sse drops it.
	publish([]byte("prime"))
	before := serverMemory()
	goroutines := runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSSEIdleClients$", "-test.v")
	cmd.Env = append(os.Environ(), "SSE_IDLE_ADDR="+strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://"), "SSE_IDLE_N="+strconv.Itoa(conns), "SSE_IDLE_PROTO="+proto)
	stdin, _ := cmd.StdinPipe()
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	// go-sse sends no headers before its first event, so the
	// clients cannot tell when their stream started: its streams
	// are counted as handlers entered (and given the half second
	// below to subscribe). wirespeed counts its streams.
	open := func() int { return int(entered.Load()) }
	if impl.streams != nil {
		open = func() int { return impl.streams(h) }
	}
	deadline := time.Now().Add(2 * time.Minute)
	for open() < conns {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d streams started", open(), conns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// One event to every stream, so both servers have written
	// (go-sse sends its headers only then), as a live stream has.
	time.Sleep(500 * time.Millisecond)
	publish([]byte("hello"))
	time.Sleep(500 * time.Millisecond) // let the server goroutines reach their idle state
	after := serverMemory()
	if dir := os.Getenv("SSE_IDLE_PROFILE_DIR"); dir != "" {
		// A heap profile of the idle streams (run with
		// -memprofilerate=512 for small objects to show).
		f, err := os.Create(filepath.Join(dir, "sse-idle-"+proto+"-"+impl.name+".heap"))
		if err != nil {
			b.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/float64(conns), "goroutines/conn")
	b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(conns), "B/conn")
	b.ReportMetric(float64(after.heap-before.heap)/float64(conns), "heap-B/conn")
	// Live objects only (HeapAlloc after GC): heap-B/conn minus
	// the free space in spans that hold them.
	b.ReportMetric(float64(after.live-before.live)/float64(conns), "live-B/conn")
	b.ReportMetric(float64(after.stack-before.stack)/float64(conns), "stack-B/conn")
	b.ReportMetric(0, "ns/op")
}

type memUse struct{ heap, live, stack int64 }

func serverMemory() memUse {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memUse{int64(ms.HeapInuse), int64(ms.HeapAlloc), int64(ms.StackInuse)}
}

// TestSSEIdleClients is the client side of BenchmarkSSEIdleMemory, run in
// a child process; it does nothing in a normal test run.
func TestSSEIdleClients(t *testing.T) {
	addr := os.Getenv("SSE_IDLE_ADDR")
	if addr == "" {
		t.Skip("client process of BenchmarkSSEIdleMemory")
	}
	raiseNoFile(t)
	n, _ := strconv.Atoi(os.Getenv("SSE_IDLE_N"))
	if os.Getenv("SSE_IDLE_PROTO") == "h2" {
		h2IdleClients(t, addr, n)
		return
	}
	var cs []net.Conn
	for range n {
		cs = append(cs, rawStream(t, addr, 0)) // never read
	}
	io.Copy(io.Discard, os.Stdin) // until the benchmark is done
	for _, c := range cs {
		c.Close()
	}
}

// BenchmarkSSEWireBytes sends events with the same 64-byte JSON payload
// through wirespeed's sse.Server, go-sse and ws.Hub, and reports the bytes
// that reached the client per event (read from the TCP connection after
// the handshake: framing, the id field, HTTP/1.1 chunk headers). Each
// event is flushed on its own, as a live feed does.
//
//	go test -run '^$' -bench SSEWireBytes -benchtime 1000x .
func BenchmarkSSEWireBytes(b *testing.B) {
	payload := []byte(`{"sym":"WIRE","price":101.25,"ts":1732500000000,"pad":"xxxxxxxx"}`)[:64]
	for _, impl := range sseImpls {
		b.Run("proto=sse/impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			h, publish, stop := impl.start(b)
			srv := newQuietServer(h)
			defer srv.Close()
			defer stop()
			c := rawStream(b, strings.TrimPrefix(srv.URL, "http://"), 0)
			defer c.Close()
			ready := make(chan struct{}, 1)
			got := make(chan struct{}, 1)
			cc := &countConn{Conn: c}
			go readEvents(cc, ready, func([]byte) bool { got <- struct{}{}; return true })
			if warmUp(ready, 1, publish) > 0 {
				b.Fatal("no event within a minute")
			}
			time.Sleep(50 * time.Millisecond) // let stray warm events arrive
			head := cc.n.Load()
			for range b.N { // lock-step: one event per flush
				publish(payload)
				<-got
			}
			b.ReportMetric(float64(cc.n.Load()-head)/float64(b.N), "B/event")
		})
	}
	b.Run("proto=ws/impl=wirespeed", func(b *testing.B) {
		b.ReportAllocs()
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
		var cc *countConn
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			cc = &countConn{Conn: c}
			return cc, err
		}}}
		ctx := context.Background()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{HTTPClient: client})
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseNow()
		<-joined
		head := cc.n.Load()
		for range b.N {
			hub.Publish(ctx, "t", payload)
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cc.n.Load()-head)/float64(b.N), "B/event")
	})
}

// countConn counts the bytes read from a connection.
type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestSSEPeersAgree: both SSE servers deliver the same payloads to a
// client, so the benchmarks compare like work.
func TestSSEPeersAgree(t *testing.T) {
	for _, impl := range sseImpls {
		t.Run(impl.name, func(t *testing.T) {
			h, publish, stop := impl.start(t)
			srv := newQuietServer(h)
			defer srv.Close()
			defer stop()
			c := rawStream(t, strings.TrimPrefix(srv.URL, "http://"), 0)
			defer c.Close()
			ready := make(chan struct{}, 1)
			got := make(chan string, 16)
			go readEvents(c, ready, func(d []byte) bool { got <- string(d); return string(d) != "3" })
			if warmUp(ready, 1, publish) > 0 {
				t.Fatal("no event within a minute")
			}
			for i := 1; i <= 3; i++ {
				publish([]byte(strconv.Itoa(i)))
			}
			var seq []string
			for s := range got {
				seq = append(seq, s)
				if s == "3" {
					break
				}
			}
			if strings.Join(seq, ",") != "1,2,3" {
				t.Fatalf("got %v", seq)
			}
		})
	}
}

// h2IdleClients opens n streams over HTTP/2, 200 per connection (under
// the server's limit of 250), and holds them, unread, until stdin closes.
// Each group of 200 has a transport of its own with one connection, so
// the server sees the same n/200 connections in every run.
func h2IdleClients(t *testing.T, addr string, n int) {
	const perConn = 200
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var once sync.Once
	var client *http.Client
	for i := range n {
		if i%perConn == 0 {
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client = &http.Client{Transport: tr}
		}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/?topic=t", nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := client.Do(req) // go-sse answers with its first event
			if err != nil {
				if ctx.Err() == nil {
					once.Do(func() { fmt.Fprintln(os.Stderr, "h2 idle client:", err) })
				}
				return
			}
			<-ctx.Done()
			resp.Body.Close()
		})
	}
	io.Copy(io.Discard, os.Stdin) // until the benchmark is done
	cancel()
	wg.Wait()
}
