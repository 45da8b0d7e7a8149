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
			{"pooled vs new connection (50 requests)", "/pool/compare?n=50"},
			{"burst of 64 concurrent requests on a pool of 8", "/pool/burst?n=64"},
		},
		Stats: func() any { return poolStats(d.pool.Stats()) },
		Close: d.close,
	})
	return nil
}

// poolStats adds utilization, the leading indicator, to the snapshot.
func poolStats(s pool.Stats) any {
	return struct {
		pool.Stats
		Utilization float64
	}{s, s.Utilization()}
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

// compare runs n sequential requests each way and reports mean latencies.
func (d *poolDemo) compare(w http.ResponseWriter, r *http.Request) {
	n, err := queryInt(r, "n", 50, 1000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	measure := func(do func(context.Context, string) error) (time.Duration, error) {
		start := time.Now()
		for i := range n {
			if err := do(r.Context(), "ping "+strconv.Itoa(i)); err != nil {
				return 0, err
			}
		}
		return time.Since(start) / time.Duration(n), nil
	}
	before := d.pool.Stats().DialCount
	pooled, err := measure(d.pooledRequest)
	if err != nil {
		http.Error(w, "pooled requests: "+err.Error(), http.StatusBadGateway)
		return
	}
	dials := d.pool.Stats().DialCount - before
	fresh, err := measure(d.freshRequest)
	if err != nil {
		http.Error(w, "fresh requests: "+err.Error(), http.StatusBadGateway)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"requests":                 n,
		"pooled_mean_us":           pooled.Microseconds(),
		"pooled_dials":             dials,
		"new_connection_mean_us":   fresh.Microseconds(),
		"new_connection_dials":     n,
		"handshake_cost_us":        (fresh - pooled).Microseconds(),
		"pooled_speedup":           fmt.Sprintf("%.1f×", float64(fresh)/float64(max(pooled, 1))),
		"handshakes_saved_by_pool": int64(n) - dials,
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
	writeJSON(w, http.StatusOK, map[string]any{
		"requests":      n,
		"failed":        failed,
		"pool_max_size": after.MaxSize,
		"waited":        after.WaitCount - before.WaitCount,
		"dials":         after.DialCount - before.DialCount,
		"elapsed_ms":    time.Since(start).Milliseconds(),
		"total_wait_ms": (after.WaitDuration - before.WaitDuration).Milliseconds(),
	})
}
