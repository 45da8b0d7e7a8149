package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// The ws demo runs one hub with two topics: "chat", where every line a
// visitor sends is published to everyone, and "prices", a ticker that
// publishes a random walk for a few symbols several times a second under
// CoalesceByKey, so a slow browser tab gets only the latest price per
// symbol instead of a backlog. The page subscribes to both with the hub's
// JSON control protocol.

type wsDemo struct {
	hub  *ws.Hub
	stop context.CancelFunc
	wg   sync.WaitGroup // joins the ticker
}

// chatLine and tick are the JSON messages the page receives.
type chatLine struct {
	Chat string `json:"chat"`
}

type tick struct {
	Sym   string  `json:"sym"`
	Price float64 `json:"price"`
}

var tickerSymbols = []string{"WIRE", "SPD", "GOPH"}

// wsQueueMessages bounds each connection's send queue.
const wsQueueMessages = 64

func setupWS(ctx context.Context, sc *showcase) error {
	d := &wsDemo{}
	hub, err := ws.NewHub(&ws.HubOptions{
		ClientTopics:  true,
		PublicTopics:  []string{"chat", "prices"},
		ReadLimit:     4 << 10,
		MaxConnsPerIP: 20,
		QueueMessages: wsQueueMessages,
		TopicPolicy:   map[string]ws.Policy{"prices": ws.CoalesceByKey},
		TopicKey: func(topic string, data []byte) string {
			if topic != "prices" {
				return ""
			}
			var t tick
			json.Unmarshal(data, &t)
			return t.Sym
		},
		PingInterval: 20 * time.Second,
		OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, data []byte) {
			text := strings.TrimSpace(string(data))
			if typ != websocket.MessageText || text == "" {
				return
			}
			if utf8.RuneCountInString(text) > 280 {
				text = string([]rune(text)[:280]) + "…"
			}
			b, _ := json.Marshal(chatLine{Chat: "#" + itoa(c.ID()) + ": " + text})
			d.hub.Publish(ctx, "chat", b)
		},
	})
	if err != nil {
		return err
	}
	d.hub = hub
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stop = cancel
	d.wg.Go(func() { d.ticker(tctx) })

	sc.mux.HandleFunc("GET /ws/live", func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(w, r)
	})
	sc.mux.HandleFunc("GET /ws/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, tidy(hub.Stats()))
	})
	sc.add(demo{
		Name:    "ws",
		Title:   "WebSocket hub",
		Summary: "A chat room and a price ticker over one WebSocket: topics through a pubsub broker, a bounded send queue per connection (prices coalesce per symbol, so a slow tab never builds a backlog), heartbeats and origin checks.",
		Try:     []link{{"hub statistics", "/ws/stats"}},
		Live: []liveSeries{
			{Key: "messages_out", Label: "messages sent/s", Rate: true},
			{Key: "queue_depth_max", Label: "deepest send queue"},
		},
		Headline: func() *headline {
			st := hub.Stats()
			return &headline{
				Value: fmt.Sprintf("deepest send queue: %d of %d messages, %d %s open", st.QueueDepthMax, wsQueueMessages, st.Conns, plural(int64(st.Conns), "connection", "connections")),
				Detail: fmt.Sprintf("The bound holds however slow a tab is: %d stale prices were replaced by newer ones for the same symbol (CoalesceByKey), "+
					"%d oldest messages dropped, %d slow consumers disconnected. Ping round trip %s.",
					st.Coalesced, st.DroppedOldest, st.SlowConsumerDrop, fmtMS(ms(st.PingRTTAvg))),
			}
		},
		Stats: func() any {
			st := hub.Stats()
			return map[string]any{
				"conns": st.Conns, "opened": st.Opened, "closed": st.Closed,
				"messages_in": st.MessagesIn, "messages_out": st.MessagesOut,
				"bytes_out": st.BytesOut, "coalesced": st.Coalesced, "dropped_oldest": st.DroppedOldest,
				"queue_depth_max": st.QueueDepthMax, "slow_consumer_disconnects": st.SlowConsumerDrop,
				"ping_rtt_avg_ms": float64(st.PingRTTAvg) / 1e6,
			}
		},
		Close: d.close,
	})
	return nil
}

// ticker publishes a random walk per symbol every 250ms until ctx ends.
func (d *wsDemo) ticker(ctx context.Context) {
	prices := map[string]float64{}
	for i, s := range tickerSymbols {
		prices[s] = 100 * float64(i+1)
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range tickerSymbols {
			p := prices[s] * (1 + (rand.Float64()-0.5)/50)
			prices[s] = float64(int(p*100)) / 100
			b, _ := json.Marshal(tick{Sym: s, Price: prices[s]})
			d.hub.Publish(ctx, "prices", b)
		}
	}
}

// close stops the ticker and shuts the hub down: 1001 to every tab, which
// reconnects to the next instance.
func (d *wsDemo) close() {
	d.stop()
	d.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.hub.Shutdown(ctx)
}

// itoa formats n as JSON does.
func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
