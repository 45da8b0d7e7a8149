package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/pubsub"
)

// The pubsub demo runs two "instances" of a small service, each its own
// HTTP server on loopback, over one broker (the memory broker standing in
// for Redis, which pubsub/redis puts behind the same interface):
//
//	POST /publish/{topic}        a message; answers its ID
//	GET  /poll/{topic}?after=ID  the messages after ID (a long poll)
//
// GET /pubsub/relay?n=100 publishes n messages through instance A while a
// subscriber polls instance B; halfway the subscriber goes away, and comes
// back with the last ID it saw. The answer counts what arrived, lost and
// duplicated, and the live delivery times.

// pubsubMaxRelay bounds n of /pubsub/relay.
const pubsubMaxRelay = 1000

type pubsubDemo struct {
	broker *pubsub.Memory
	a, b   *pubsubInstance
	client *http.Client

	relayMu  sync.Mutex // one relay at a time, so each one's numbers are its own
	relaySeq atomic.Int64
	relays   atomic.Int64
}

// pubsubInstance is one server of the service.
type pubsubInstance struct {
	url    string
	srv    *http.Server
	served chan struct{}
}

func setupPubsub(ctx context.Context, sc *showcase) error {
	b, err := pubsub.NewMemory(&pubsub.MemoryOptions{MaxMessages: pubsubMaxRelay})
	if err != nil {
		return err
	}
	d := &pubsubDemo{broker: b, client: &http.Client{Timeout: 30 * time.Second}}
	if d.a, err = startPubsubInstance(b); err != nil {
		b.Close()
		return err
	}
	if d.b, err = startPubsubInstance(b); err != nil {
		d.a.stop()
		b.Close()
		return err
	}
	sc.mux.HandleFunc("GET /pubsub/relay", d.relay)
	sc.add(demo{
		Name:    "pubsub",
		Title:   "one broker behind several instances",
		Summary: "Two instances of a service share a broker (the memory broker here; pubsub/redis puts Redis Streams behind the same interface): a message published through instance A reaches a subscriber of instance B, and a subscriber that went away resumes from the last ID it saw, with nothing lost and nothing twice.",
		Try: []link{
			{Label: "publish 100 on A, read on B, reconnect halfway", Href: "/pubsub/relay?n=100"},
		},
		Measure: "/pubsub/relay?n=100",
		Stats: func() any {
			return struct {
				Broker pubsub.MemoryStats `json:"broker"`
				Relays int64              `json:"relays"`
			}{b.Stats(), d.relays.Load()}
		},
		Close: func() {
			d.a.stop()
			d.b.stop()
			b.Close()
		},
	})
	return nil
}

func startPubsubInstance(broker pubsub.Broker) (*pubsubInstance, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &pubsubInstance{
		url:    "http://" + l.Addr().String(),
		srv:    &http.Server{Handler: pubsubHandler(broker), ReadHeaderTimeout: 5 * time.Second},
		served: make(chan struct{}),
	}
	go func() { defer close(in.served); in.srv.Serve(l) }()
	return in, nil
}

func (in *pubsubInstance) stop() {
	in.srv.Close()
	<-in.served
}

// pubsubMessage is one message of a /poll answer.
type pubsubMessage struct {
	ID   string `json:"id"`
	Data string `json:"data"`
}

// pubsubHandler is one instance's API over the shared broker.
func pubsubHandler(broker pubsub.Broker) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish/{topic}", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err != nil {
			http.Error(w, "message too large (4 KiB at most)", http.StatusRequestEntityTooLarge)
			return
		}
		id, err := broker.Publish(r.Context(), r.PathValue("topic"), data)
		if err != nil {
			http.Error(w, "publish failed", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, id)
	})
	mux.HandleFunc("GET /poll/{topic}", func(w http.ResponseWriter, r *http.Request) {
		after := r.URL.Query().Get("after")
		if after == "" {
			after = "0"
		} else if !pubsub.ValidID(after) {
			http.Error(w, "after: not a message ID", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		sub, err := broker.Subscribe(ctx, r.PathValue("topic"), after)
		if err != nil {
			http.Error(w, "subscribe failed", http.StatusServiceUnavailable)
			return
		}
		defer sub.Close()
		var out []pubsubMessage
		for len(out) < 100 {
			wait := ctx
			if len(out) > 0 { // take what is already there, then answer
				var c context.CancelFunc
				wait, c = context.WithTimeout(ctx, time.Millisecond)
				defer c()
			}
			m, err := sub.Next(wait)
			if err != nil {
				break
			}
			out = append(out, pubsubMessage{ID: m.ID, Data: string(m.Data)})
		}
		if len(out) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	return mux
}

// relay publishes n messages through A while a subscriber reads them from
// B, going away halfway and resuming from its last ID.
func (d *pubsubDemo) relay(w http.ResponseWriter, r *http.Request) {
	n := 100
	if s := r.URL.Query().Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 2 || v > pubsubMaxRelay {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("n must be a number from 2 to %d", pubsubMaxRelay)})
			return
		}
		n = v
	}
	d.relayMu.Lock()
	defer d.relayMu.Unlock()
	d.relays.Add(1)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	topic := fmt.Sprintf("relay-%d", d.relaySeq.Add(1))

	sent := make([]time.Time, n)
	published := make(chan struct{})
	half := n / 2
	type result struct {
		seen           []int
		live           []float64 // ms from publish to delivery, before the reconnect
		err            error
		resumedAfterID string
	}
	done := make(chan result, 1)
	go func() {
		var res result
		after := ""
		for len(res.seen) < n && res.err == nil {
			if len(res.seen) >= half && res.resumedAfterID == "" {
				// The subscriber goes away; it comes back after the rest
				// was published, with the last ID it saw.
				select {
				case <-published:
				case <-ctx.Done():
					res.err = ctx.Err()
					continue
				}
				res.resumedAfterID = after
			}
			var msgs []pubsubMessage
			msgs, res.err = d.poll(ctx, d.b.url+"/poll/"+topic, after)
			now := time.Now()
			for _, m := range msgs {
				i, err := strconv.Atoi(m.Data)
				if err != nil || i < 0 || i >= n {
					res.err = fmt.Errorf("unexpected message %q", m.Data)
					break
				}
				if res.resumedAfterID == "" {
					res.live = append(res.live, ms(now.Sub(sent[i])))
				}
				res.seen = append(res.seen, i)
				after = m.ID
				if len(res.seen) == half && res.resumedAfterID == "" {
					break // the rest of this answer is "in flight" when it leaves
				}
			}
		}
		done <- res
	}()

	var pubErr error
	for i := range n {
		sent[i] = time.Now()
		if pubErr = d.publish(ctx, d.a.url+"/publish/"+topic, strconv.Itoa(i)); pubErr != nil {
			break
		}
		if i < half {
			time.Sleep(time.Millisecond) // a paced feed while the subscriber is there
		}
	}
	close(published)
	res := <-done
	if pubErr != nil || res.err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": errors.Join(pubErr, res.err).Error()})
		return
	}

	count := map[int]int{}
	for _, i := range res.seen {
		count[i]++
	}
	lost, dup := 0, 0
	for i := range n {
		switch c := count[i]; {
		case c == 0:
			lost++
		case c > 1:
			dup += c - 1
		}
	}
	inOrder := true
	for k := 1; k < len(res.seen); k++ {
		inOrder = inOrder && res.seen[k] > res.seen[k-1]
	}
	live := summarize(res.live)
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("%d published on A → %d delivered by B, %d lost, %d twice", n, len(count), lost, dup),
			Detail: fmt.Sprintf("the subscriber left after message %d and resumed from its last ID (%s); live delivery from publish on A to receipt on B: median %s (p10 %s, p90 %s; loopback HTTP long polls, one broker)",
				half, res.resumedAfterID, fmtMS(live.Median), fmtMS(live.P10), fmtMS(live.P90)),
		},
		"chart": chart{
			Kind: "dist", Title: "publish on A → receipt on B, before the reconnect", Unit: "ms", Log: true,
			Series: []chartSeries{{Name: "live", Values: res.live}},
		},
		"published":        n,
		"delivered":        len(count),
		"lost":             lost,
		"duplicated":       dup,
		"in_order":         inOrder,
		"resumed_after_id": res.resumedAfterID,
		"live_delivery_ms": live,
	})
}

func (d *pubsubDemo) publish(ctx context.Context, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish: %s", resp.Status)
	}
	return nil
}

func (d *pubsubDemo) poll(ctx context.Context, url, after string) ([]pubsubMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?after="+after, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusOK:
		var msgs []pubsubMessage
		err := json.NewDecoder(resp.Body).Decode(&msgs)
		return msgs, err
	default:
		return nil, fmt.Errorf("poll: %s", resp.Status)
	}
}
