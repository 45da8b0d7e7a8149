package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

// The pool demo runs a small TLS "backend" in process (it answers each line
// with the same line) and talks to it two ways: through a pool.Pool that
// keeps connections warm, and with a fresh TLS connection per request, so
// the page can show what a handshake costs.

type poolDemo struct {
	backend net.Listener
	dialer  *tls.Dialer
	addr    string
	pool    *pool.Pool[net.Conn]
	wg      sync.WaitGroup // joins the backend's goroutines
}

func setupPool(ctx context.Context, sc *showcase) error {
	l, err := tls.Listen("tcp", "127.0.0.1:0", sc.cert.ServerTLS())
	if err != nil {
		return fmt.Errorf("pool demo backend: %w", err)
	}
	d := &poolDemo{
		backend: l,
		addr:    l.Addr().String(),
		dialer:  &tls.Dialer{Config: sc.cert.ClientTLS()},
	}
	d.wg.Go(d.serveBackend)
	cfg := pool.TCP(d.addr, &pool.TCPOptions{TLS: d.dialer.Config})
	cfg.MaxSize = 8
	cfg.MinIdle = 2
	d.pool, err = pool.New(cfg)
	if err != nil {
		l.Close()
		d.wg.Wait()
		return err
	}
	sc.mux.HandleFunc("GET /pool/compare", d.compare)
	sc.mux.HandleFunc("GET /pool/burst", d.burst)
	sc.add(demo{
		Name:    "pool",
		Title:   "connection pool",
		Summary: "Requests to an in-process TLS backend reuse warm connections instead of paying a TCP+TLS handshake each; a burst larger than the pool queues fairly and shows up in the stats.",
		Try: []link{
			{Label: "pooled vs new connection (50 requests each)", Href: "/pool/compare?n=50"},
			{Label: "burst of 64 concurrent requests on a pool of 8", Href: "/pool/burst?n=64"},
		},
		Measure: "/pool/compare?n=50",
		Stats:   func() any { return poolStats(d.pool.Stats()) },
		Close:   d.close,
	})
	return nil
}

// poolStats adds utilization, the leading indicator, to the snapshot.
func poolStats(s pool.Stats) any {
	return struct {
		pool.Stats
		Utilization float64
	}{s, round3(s.Utilization())}
}

func (d *poolDemo) close() {
	d.pool.Close()
	d.backend.Close()
	d.wg.Wait()
}

// serveBackend echoes each line until the listener closes; connections are
// closed when the demo closes.
func (d *poolDemo) serveBackend() {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := d.backend.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		d.wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		})
	}
}

// roundTrip sends one line on c and reads the echo.
func roundTrip(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return err
	}
	buf := make([]byte, len(msg)+1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf[:len(msg)]) != msg {
		return errors.New("backend answered with other bytes")
	}
	return nil
}

// pooledRequest runs one request on a pooled connection, discarding the
// connection if the request failed on it.
func (d *poolDemo) pooledRequest(ctx context.Context, msg string) error {
	l, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	if err := roundTrip(l.Value(), msg); err != nil {
		l.Discard()
		return err
	}
	l.Release()
	return nil
}

// freshRequest dials, handshakes, runs one request and closes.
func (d *poolDemo) freshRequest(ctx context.Context, msg string) error {
	c, err := d.dialer.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, msg)
}

func queryInt(r *http.Request, name string, def, limit int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > limit {
		return 0, fmt.Errorf("%s must be an integer from 1 to %d", name, limit)
	}
	return n, nil
}

// compare runs n requests each way, interleaved so both see the same
// machine load, and reports the distribution of per-request latencies:
// medians and p10–p90, not means, because one descheduled request moves a
// mean of tens of microseconds by a factor.
func (d *poolDemo) compare(w http.ResponseWriter, r *http.Request) {
	n, err := queryInt(r, "n", 50, 1000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pooled := make([]float64, 0, n)
	fresh := make([]float64, 0, n)
	before := d.pool.Stats().DialCount
	for i := range n {
		msg := "ping " + strconv.Itoa(i)
		start := time.Now()
		if err := d.pooledRequest(r.Context(), msg); err != nil {
			http.Error(w, "pooled request: "+err.Error(), http.StatusBadGateway)
			return
		}
		pooled = append(pooled, ms(time.Since(start)))
		start = time.Now()
		if err := d.freshRequest(r.Context(), msg); err != nil {
			http.Error(w, "new-connection request: "+err.Error(), http.StatusBadGateway)
			return
		}
		fresh = append(fresh, ms(time.Since(start)))
	}
	dials := d.pool.Stats().DialCount - before
	p, f := summarize(pooled), summarize(fresh)
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("%s pooled vs %s on a new TLS connection, per request", fmtMS(p.Median), fmtMS(f.Median)),
			Detail: fmt.Sprintf("Medians of %d requests each, interleaved; p10–p90 pooled %s–%s, new %s–%s. "+
				"The ratio (%.0f× this run) swings widely between runs because a pooled round trip takes tens of microseconds, "+
				"where one scheduler hiccup doubles it; the handshake the pool saves, %s a request, is the stable number.",
				n, fmtMS(p.P10), fmtMS(p.P90), fmtMS(f.P10), fmtMS(f.P90), f.Median/max(p.Median, 0.001), fmtMS(f.Median-p.Median)),
		},
		"chart": chart{
			Kind: "dist", Title: "latency of each request (log scale)", Unit: "ms", Log: true,
			Series: []chartSeries{{Name: "pooled", Values: pooled}, {Name: "new connection", Values: fresh}},
		},
		"requests":                 n,
		"pooled_dials":             dials,
		"new_connection_dials":     n,
		"handshakes_saved_by_pool": int64(n) - dials,
		"pooled_ms":                p,
		"new_connection_ms":        f,
		"handshake_cost_median_ms": round3(f.Median - p.Median),
	})
}

// burst runs n concurrent requests through the pool and reports how many
// had to wait for a connection.
func (d *poolDemo) burst(w http.ResponseWriter, r *http.Request) {
	n, err := queryInt(r, "n", 64, 1024)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	before := d.pool.Stats()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			if err := d.pooledRequest(r.Context(), "burst "+strconv.Itoa(i)); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	after := d.pool.Stats()
	waited := after.WaitCount - before.WaitCount
	dials := after.DialCount - before.DialCount
	writeJSON(w, http.StatusOK, map[string]any{
		"headline": headline{
			Value: fmt.Sprintf("%d concurrent requests on %d connections: %d queued, %d failed", n, after.MaxSize, waited, failed),
			Detail: fmt.Sprintf("The pool never opens more than %d connections (%d dials this burst); requests beyond that wait in FIFO order, %s in total.",
				after.MaxSize, dials, fmtMS(ms(after.WaitDuration-before.WaitDuration))),
		},
		"requests":      n,
		"failed":        failed,
		"pool_max_size": after.MaxSize,
		"waited":        waited,
		"dials":         dials,
		"elapsed_ms":    time.Since(start).Milliseconds(),
		"total_wait_ms": (after.WaitDuration - before.WaitDuration).Milliseconds(),
	})
}
