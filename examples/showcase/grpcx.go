package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

// The grpcx demo serves the demo catalog from two in-process gRPC backends
// that allow 16 concurrent streams per connection, and the page's HTTP
// handlers call it through a grpcx.Client: a burst shows the pool opening
// connections past the stream limit instead of queueing, and the
// statistics show RPCs in flight per connection and RPCs by method and
// status code.

const grpcxStreams = 16

type grpcxDemo struct {
	backends []*grpcx.Server
	served   []chan error
	client   *grpcx.Client
	cat      catalogpb.CatalogClient
}

// slowCatalog answers Get after 20ms, like a service in front of a
// database, so that a burst keeps streams busy long enough to be seen.
type slowCatalog struct{ *catalogpb.Demo }

func (s slowCatalog) Get(ctx context.Context, req *catalogpb.GetRequest) (*catalogpb.Item, error) {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Demo.Get(ctx, req)
}

func setupGRPCX(ctx context.Context, sc *showcase) error {
	d := &grpcxDemo{}
	var addrs []string
	for range 2 {
		s, err := grpcx.NewServer(&grpcx.ServerOptions{
			MaxConcurrentStreams: grpcxStreams,
			Logger:               slog.New(slog.DiscardHandler),
		})
		if err != nil {
			d.close()
			return err
		}
		catalogpb.RegisterCatalogServer(s, slowCatalog{catalogpb.NewDemo(1000)})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.close()
			return fmt.Errorf("grpcx demo backend: %w", err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		d.backends = append(d.backends, s)
		d.served = append(d.served, done)
		addrs = append(addrs, l.Addr().String())
	}
	c, err := grpcx.NewClient("static:///"+strings.Join(addrs, ","), &grpcx.ClientOptions{
		MaxConns:          8,
		IdempotentMethods: []string{"wirespeed.catalog.v1.Catalog"},
	})
	if err != nil {
		d.close()
		return err
	}
	d.client = c
	d.cat = catalogpb.NewCatalogClient(c)
	sc.mux.HandleFunc("GET /grpcx/item", d.item)
	sc.mux.HandleFunc("GET /grpcx/list", d.list)
	sc.mux.HandleFunc("GET /grpcx/burst", d.burst)
	sc.add(demo{
		Name:    "grpcx",
		Title:   "gRPC channel pool",
		Summary: "The page's handlers call an in-process gRPC catalog (two backends, 16 streams per connection) through a grpcx pool that balances round robin and opens connections past the stream limit instead of queueing.",
		Try: []link{
			{Label: "one unary Get", Href: "/grpcx/item?id=item-00042"},
			{Label: "server-streaming List of 20 items", Href: "/grpcx/list?limit=20"},
			{Label: "burst of 200 concurrent Gets", Href: "/grpcx/burst?n=200"},
		},
		Measure: "/grpcx/burst?n=200",
		Stats:   d.stats,
		Close:   d.close,
	})
	return nil
}

func (d *grpcxDemo) close() {
	if d.client != nil {
		d.client.Close()
	}
	for i, s := range d.backends {
		s.Close()
		<-d.served[i]
	}
}

// grpcxStats is what the page shows: the pool's connections and the
// backends' RPCs by method and code.
type grpcxStats struct {
	Conns   []grpcx.ConnStats `json:"conns"`
	Dialed  uint64            `json:"dialed"`
	Retired uint64            `json:"retired"`
	GoAways uint64            `json:"goaways"`
	RPCs    map[string]uint64 `json:"rpcs_by_method_and_code"`
}

func (d *grpcxDemo) stats() any {
	cs := d.client.Stats()
	st := grpcxStats{Conns: cs.Conns, Dialed: cs.Dialed, Retired: cs.Retired, GoAways: cs.GoAways, RPCs: map[string]uint64{}}
	for _, b := range d.backends {
		for _, r := range b.Stats().RPCs {
			if strings.HasPrefix(r.Method, "/grpc.health") {
				continue
			}
			st.RPCs[r.Method[strings.LastIndexByte(r.Method, '/')+1:]+" "+r.Code.String()] += r.Count
		}
	}
	return st
}

func (d *grpcxDemo) item(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" || len(id) > 64 {
		http.Error(w, "id must have 1 to 64 bytes", http.StatusBadRequest)
		return
	}
	it, err := d.cat.Get(r.Context(), &catalogpb.GetRequest{Id: id})
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": it.GetId(), "name": it.GetName(), "price_cents": it.GetPriceCents(), "tags": it.GetTags()})
}

func (d *grpcxDemo) list(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 20, 1000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s, err := d.cat.List(r.Context(), &catalogpb.ListRequest{Limit: int32(limit)})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var ids []string
	for {
		it, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		ids = append(ids, it.GetId())
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": len(ids), "ids": ids})
}

func (d *grpcxDemo) burst(w http.ResponseWriter, r *http.Request) {
	n, err := queryInt(r, "n", 200, 1000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	before := d.client.Stats()
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("item-%05d", 1+i%1000)
			if _, err := d.cat.Get(r.Context(), &catalogpb.GetRequest{Id: id}); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := d.client.Stats()
	perConn := map[string]uint64{}
	for _, c := range after.Conns {
		var prev uint64
		for _, b := range before.Conns {
			if b.ID == c.ID {
				prev = b.RPCs
			}
		}
		perConn[fmt.Sprintf("conn %d", c.ID)] = c.RPCs - prev
	}
	var points []chartPoint
	for _, c := range after.Conns {
		points = append(points, chartPoint{X: fmt.Sprintf("conn %d", c.ID), Y: float64(perConn[fmt.Sprintf("conn %d", c.ID)])})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("%d concurrent RPCs on %d connections, %d failed", n, len(after.Conns), failed.Load()),
			Detail: fmt.Sprintf("Each backend allows %d streams per connection; the pool opened %d connections in all (up to 8) instead of queueing RPCs behind the limit. %v for the burst.",
				grpcxStreams, after.Dialed, elapsed.Round(time.Millisecond)),
		},
		"chart":           chart{Kind: "bars", Title: "RPCs of this burst per connection", Unit: "RPCs", Series: []chartSeries{{Name: "RPCs", Points: points}}},
		"requests":        n,
		"failed":          failed.Load(),
		"connections":     len(after.Conns),
		"rpcs_per_conn":   perConn,
		"elapsed_ms":      elapsed.Milliseconds(),
		"stream_limit":    grpcxStreams,
		"max_connections": 8,
	})
}
