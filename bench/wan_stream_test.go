package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/sse"
	"github.com/wirespeed/wirespeed/ws"
)

// streamUpdate is one position update; T is when it was published (the
// publisher and the clients share this process's clock).
type streamUpdate struct {
	Seq int     `json:"seq"`
	T   int64   `json:"t"`
	X   float64 `json:"x"`
	Y   float64 `json:"y"`
}

// pollBuffer keeps the last updates for the polling endpoint.
type pollBuffer struct {
	mu  sync.Mutex
	buf []streamUpdate
}

func (p *pollBuffer) add(u streamUpdate) {
	p.mu.Lock()
	p.buf = append(p.buf, u)
	if len(p.buf) > 1000 {
		p.buf = p.buf[len(p.buf)-1000:]
	}
	p.mu.Unlock()
}

func (p *pollBuffer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	p.mu.Lock()
	var out []streamUpdate
	for _, u := range p.buf {
		if u.Seq > after {
			out = append(out, u)
		}
	}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// BenchmarkWanStream delivers 100 position updates per second for 2
// seconds at RTT 50 ms to one client over a WebSocket (ws.Hub), over
// Server-Sent Events (sse.Server, HTTP/2) and by polling every 10 ms (a
// GET, without waiting for the previous one, over a kept HTTP/2
// connection, returning the updates after the newest one the client has). "wire-B/update" counts every byte the link carried in both
// directions (headers, TLS, TCP/IP) per update received; the latency is
// from publishing to the client's receipt.
func BenchmarkWanStream(b *testing.B) {
	l := wanLink(b)
	const rtt = 50 * time.Millisecond
	wanShape(b, l, wanem.Symmetric(rtt, 0))
	var hub *ws.Hub
	hub, err := ws.NewHub(&ws.HubOptions{
		OnConnect: func(ctx context.Context, c *ws.Conn) { hub.Subscribe(ctx, c, "pos") },
	})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	events, err := sse.NewServer(&sse.ServerOptions{PublicTopics: []string{"pos"}})
	if err != nil {
		b.Fatal(err)
	}
	defer events.Close()
	poll := &pollBuffer{}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", hub)
	mux.Handle("GET /events", events)
	mux.Handle("GET /poll", poll)
	url := wanServe(b, l, mux, false)
	publish := func(ctx context.Context, seq int) {
		u := streamUpdate{Seq: seq, T: time.Now().UnixNano(), X: float64(seq) * 1.5, Y: float64(seq) * -0.5}
		msg, _ := json.Marshal(u)
		hub.Publish(ctx, "pos", msg)
		events.Publish(ctx, "pos", msg)
		poll.add(u)
	}
	seq := 0
	for _, tc := range []struct {
		name string
		// run connects, calls ready, then receives until ctx ends,
		// calling got for each update; from is the first update's Seq.
		run func(ctx context.Context, from int, ready func(), got func(streamUpdate)) error
	}{
		{"ws", func(ctx context.Context, from int, ready func(), got func(streamUpdate)) error {
			conf := wanClientTLS()
			conf.NextProtos = []string{"http/1.1"}
			tr := &http.Transport{TLSClientConfig: conf,
				TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			c, _, err := websocket.Dial(ctx, "wss"+url[len("https"):]+"ws", &websocket.DialOptions{HTTPClient: hc})
			if err != nil {
				return err
			}
			defer c.CloseNow()
			ready()
			for {
				_, m, err := c.Read(ctx)
				if err != nil {
					return nil
				}
				var u streamUpdate
				if json.Unmarshal(m, &u) == nil {
					got(u)
				}
			}
		}},
		{"sse", func(ctx context.Context, from int, ready func(), got func(streamUpdate)) error {
			c, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS()})
			if err != nil {
				return err
			}
			defer c.Close()
			sc, err := sse.NewClient(url+"events?topic=pos", &sse.ClientOptions{HTTPClient: c.Client})
			if err != nil {
				return err
			}
			readyOnce := sync.OnceFunc(ready)
			go func() { time.Sleep(3 * rtt); readyOnce() }() // the stream is open
			for ev, err := range sc.Events(ctx) {
				if err != nil {
					return nil
				}
				readyOnce()
				var u streamUpdate
				if json.Unmarshal(ev.Data, &u) == nil {
					got(u)
				}
			}
			return nil
		}},
		{"poll", func(ctx context.Context, from int, ready func(), got func(streamUpdate)) error {
			c, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS()})
			if err != nil {
				return err
			}
			defer c.Close()
			after := from - 1
			if err := wanGet(c.Client, url+"poll?after="+strconv.Itoa(after)); err != nil { // connects
				return err
			}
			ready()
			// One GET every 10 ms, not waiting for the previous one (at
			// RTT 50 ms a poller that waits polls only 20 times a second).
			var last atomic.Int64
			last.Store(int64(after))
			var wg sync.WaitGroup
			defer wg.Wait()
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
				wg.Go(func() {
					// Not cancelled with ctx: a stream reset at the end
					// leaves the connection busy past Close, and the link
					// is gone before the server's FIN could end it.
					rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					req, _ := http.NewRequestWithContext(rctx, "GET", url+"poll?after="+strconv.FormatInt(last.Load(), 10), nil)
					resp, err := c.Do(req)
					if err != nil {
						return
					}
					defer resp.Body.Close()
					var us []streamUpdate
					if json.NewDecoder(resp.Body).Decode(&us) != nil {
						return
					}
					for _, u := range us {
						got(u)
						for {
							cur := last.Load()
							if int64(u.Seq) <= cur || last.CompareAndSwap(cur, int64(u.Seq)) {
								break
							}
						}
					}
				})
			}
		}},
	} {
		b.Run("rtt=50ms/"+tc.name, func(b *testing.B) {
			var lat []time.Duration
			var wire, n int64
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				readyCh := make(chan struct{})
				var mu sync.Mutex
				seen := map[int]bool{}
				var base int64
				done := make(chan error, 1)
				from := seq + 1
				go func() {
					done <- tc.run(ctx, from, func() { close(readyCh) }, func(u streamUpdate) {
						mu.Lock()
						defer mu.Unlock()
						if u.Seq >= from && !seen[u.Seq] {
							seen[u.Seq] = true
							lat = append(lat, time.Since(time.Unix(0, u.T)))
						}
					})
				}()
				<-readyCh
				base = l.Counters(wanem.AtoB).ForwardedBytes + l.Counters(wanem.BtoA).ForwardedBytes
				for range 200 {
					seq++
					publish(ctx, seq)
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(4 * rtt) // the last updates arrive
				wire += l.Counters(wanem.AtoB).ForwardedBytes + l.Counters(wanem.BtoA).ForwardedBytes - base
				mu.Lock()
				n += int64(len(seen))
				mu.Unlock()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			if n == 0 {
				b.Fatal("no updates received")
			}
			b.ReportMetric(float64(wire)/float64(n), "wire-B/update")
			b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
			b.ReportMetric(ms(pct(lat, 95)), "p95-ms")
			b.ReportMetric(float64(n)/float64(200*b.N), "delivered")
		})
	}
}
