package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/pubsub"
	"github.com/wirespeed/wirespeed/sse"
)

// The sse demo is a stock ticker over Server-Sent Events. Every tick is
// an event with the broker's ID; the page keeps the last ID in
// sessionStorage and, after a reload, opens the stream with
// ?lastEventID=, so the server replays what the page missed from the
// broker's history (about half a minute of ticks) and the page counts
// the events it recovered and the ones that were lost for good.

type sseDemo struct {
	sse    *sse.Server
	broker *pubsub.Memory
	stop   context.CancelFunc
	wg     sync.WaitGroup // joins the ticker

	mu      sync.Mutex // protects drained
	drained map[*httpx.Server]bool
}

// sseTick is the JSON data of a "tick" event.
type sseTick struct {
	Seq   uint64  `json:"seq"`   // per process, to count gaps
	Sym   string  `json:"sym"`   // symbol
	Price float64 `json:"price"` // new price
	T     int64   `json:"t"`     // publish time, Unix ms
}

// sseHistory is how many ticks the broker keeps for resumption: with 3
// symbols every 200ms, about 34 seconds.
const sseHistory = 512

func setupSSE(ctx context.Context, sc *showcase) error {
	b, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: sseHistory})
	if err != nil {
		return err
	}
	s, err := sse.NewServer(&sse.ServerOptions{
		Broker:         b,
		Topics:         func(*http.Request) ([]string, error) { return []string{"ticker"}, nil },
		EventType:      func(string, []byte) string { return "tick" },
		MaxConnsPerIP:  20,
		Retry:          time.Second,
		ShutdownWindow: 3 * time.Second,
	})
	if err != nil {
		b.Close()
		return err
	}
	d := &sseDemo{sse: s, broker: b, drained: map[*httpx.Server]bool{}}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stop = cancel
	d.wg.Go(func() { d.ticker(tctx) })

	sc.mux.HandleFunc("GET /sse/feed", func(w http.ResponseWriter, r *http.Request) {
		d.onDrain(sc)
		s.ServeHTTP(w, r)
	})
	sc.mux.HandleFunc("GET /sse/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, tidy(s.Stats()))
	})
	sc.add(demo{
		Name:  "sse",
		Title: "Server-Sent Events feed",
		Summary: "A stock ticker over EventSource that survives a page reload: the page keeps the last event ID and reconnects with ?lastEventID=, " +
			"the server replays what it missed from the broker's history (or says events were lost), with heartbeats, a bounded queue per stream and a spread-out reconnect on shutdown.",
		Try: []link{{"stream statistics", "/sse/stats"}},
		Live: []liveSeries{
			{Key: "events_out", Label: "events sent/s", Rate: true},
			{Key: "queue_depth_max", Label: "deepest send queue"},
		},
		Headline: func() *headline {
			st := s.Stats()
			if st.Resumed == 0 {
				return &headline{
					Value:  fmt.Sprintf("%d events to %d %s, none resumed yet", st.EventsOut, st.Conns, plural(int64(st.Conns), "stream", "streams")),
					Detail: "Reload the page: it reconnects with the last event ID it saw, and the server replays the ticks it missed from the broker's history.",
				}
			}
			return &headline{
				Value: fmt.Sprintf("%d missed events replayed to %d resumed %s, %d told events were lost", st.Replayed, st.Resumed, plural(int64(st.Resumed), "stream", "streams"), st.ResumedLost),
				Detail: fmt.Sprintf("A stream that resumes within the history (%d ticks, about half a minute) gets every event it missed, in order; older ones get a \"lost\" event and start fresh. %d events sent in all.",
					sseHistory, st.EventsOut),
			}
		},
		Stats: func() any {
			st := s.Stats()
			bs := b.Stats()
			return map[string]any{
				"conns": st.Conns, "opened": st.Opened, "closed": st.Closed,
				"resumed": st.Resumed, "resumed_lost": st.ResumedLost, "replayed": st.Replayed,
				"events_out": st.EventsOut, "bytes_out": st.BytesOut, "heartbeats": st.Heartbeats,
				"slow_consumer_disconnects": st.SlowConsumerDrop, "queue_depth_max": st.QueueDepthMax,
				"history_retained": bs.Retained, "published": bs.Published,
			}
		},
		Close: d.close,
	})
	return nil
}

// onDrain makes every showcase server end the streams when it starts
// draining: http.Server's shutdown waits for handlers, and a stream's
// handler returns only when the stream ends. Servers are registered by
// run after the demos are set up, so this runs per request (cheaply).
func (d *sseDemo) onDrain(sc *showcase) {
	for _, ns := range sc.servers.list() {
		d.mu.Lock()
		seen := d.drained[ns.srv]
		d.drained[ns.srv] = true
		d.mu.Unlock()
		if !seen {
			ns.srv.OnDrain(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				d.sse.Shutdown(ctx)
			})
		}
	}
}

// ticker publishes a random walk per symbol every 200ms until ctx ends.
func (d *sseDemo) ticker(ctx context.Context) {
	prices := map[string]float64{}
	for i, s := range tickerSymbols {
		prices[s] = 100 * float64(i+1)
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range tickerSymbols {
			p := prices[s] * (1 + (rand.Float64()-0.5)/50)
			prices[s] = float64(int(p*100)) / 100
			seq++
			b, _ := json.Marshal(sseTick{Seq: seq, Sym: s, Price: prices[s], T: time.Now().UnixMilli()})
			d.sse.Publish(ctx, "ticker", b)
		}
	}
}

// close stops the ticker and ends the streams gracefully (each page gets
// a randomized retry and reconnects to the next instance).
func (d *sseDemo) close() {
	d.stop()
	d.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.sse.Shutdown(ctx)
	d.broker.Close()
}
