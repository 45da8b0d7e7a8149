package httpx_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wirespeed/wirespeed/httpx"
)

// rawConns is the smallest HTTP3ConnServer: it serves each connection's
// requests through the http3.Server's raw connection API, as wt does
// (which also routes WebTransport streams), and counts what it sees.
type rawConns struct {
	h3                  *http3.Server
	qcfg                *quic.Config
	configured          atomic.Int32
	served, ended, live atomic.Int32
}

func (c *rawConns) ConfigureHTTP3(h3 *http3.Server, qcfg *quic.Config) {
	c.configured.Add(1)
	c.h3, c.qcfg = h3, qcfg
	qcfg.MaxIncomingStreams = 7
	qcfg.Allow0RTT = true // the Server turns it off again
	h3.Handler = nil      // and restores its handler
}

func (c *rawConns) ServeQUICConn(conn *quic.Conn) error {
	c.served.Add(1)
	c.live.Add(1)
	defer c.ended.Add(1)
	defer c.live.Add(-1)
	hc, err := c.h3.NewRawServerConn(conn)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			str, err := conn.AcceptUniStream(context.Background())
			if err != nil {
				return
			}
			wg.Go(func() { hc.HandleUnidirectionalStream(str) })
		}
	})
	for {
		str, err := conn.AcceptStream(context.Background())
		if err != nil {
			return nil
		}
		wg.Go(func() { hc.HandleRequestStream(str) })
	}
}

// TestServerHTTP3Conns serves HTTP/3 through an HTTP3ConnServer on the
// Server's port with its Alt-Svc: NewServer configures it once and keeps
// its own QUIC settings; Shutdown lets a request in flight finish, then
// closes the connections and Serve joins ServeQUICConn.
func TestServerHTTP3Conns(t *testing.T) {
	conns := &rawConns{}
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/", hello)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
			io.WriteString(w, "done over "+r.Proto)
		case <-r.Context().Done():
		}
	})
	srv := startServer(t, mux, &httpx.ServerOptions{HTTP3Conns: conns}, true, false)
	ctx := testCtx(t)
	if n := conns.configured.Load(); n != 1 {
		t.Fatalf("ConfigureHTTP3 called %d times, want 1", n)
	}
	if conns.qcfg.MaxIncomingStreams != 7 || conns.qcfg.Allow0RTT || conns.qcfg.MaxIdleTimeout != 120*time.Second {
		t.Errorf("QUIC config %+v: want the conn server's stream limit with the Server's idle timeout and no 0-RTT", conns.qcfg)
	}

	h2 := newClient(t, nil)
	if resp, _ := get(t, ctx, h2.Client, srv.URL); resp.Header.Get("Alt-Svc") != `h3=":`+strconv.Itoa(srv.Port)+`"` {
		t.Errorf("Alt-Svc %q", resp.Header.Get("Alt-Svc"))
	}
	h3 := h3Client(t)
	if resp, body := get(t, ctx, h3, srv.URL); body != "HTTP/3.0" || resp.Proto != "HTTP/3.0" {
		t.Fatalf("served over %s, want HTTP/3.0", body)
	}
	if conns.served.Load() != 1 {
		t.Errorf("ServeQUICConn got %d connections, want 1", conns.served.Load())
	}

	result := make(chan string, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"slow", nil)
		resp, err := h3.Do(req)
		if err != nil {
			result <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			result <- err.Error()
			return
		}
		result <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	<-srv.Draining()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with an HTTP/3 request in flight", err)
	case r := <-result:
		t.Fatalf("the request in flight ended early: %q", r)
	case <-time.After(50 * time.Millisecond): // the drain is under way
	}
	close(release)
	if r := <-result; r != "done over HTTP/3.0" {
		t.Errorf("in-flight HTTP/3 request: %q, want it completed", r)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if conns.live.Load() != 0 || conns.ended.Load() != conns.served.Load() {
		t.Errorf("after Shutdown: %d connections still served, %d of %d ended", conns.live.Load(), conns.ended.Load(), conns.served.Load())
	}
}

// TestServerHTTP3ConnsCut: a request that never finishes is cut by
// DrainTimeout, and Close ends a connection at once; ServeQUICConn
// returns in both cases.
func TestServerHTTP3ConnsCut(t *testing.T) {
	for _, how := range []string{"DrainTimeout", "Close"} {
		t.Run(how, func(t *testing.T) {
			conns := &rawConns{}
			started := make(chan struct{}, 1)
			stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				started <- struct{}{}
				<-r.Context().Done() // only the connection closing ends it
			})
			srv := startServer(t, stuck, &httpx.ServerOptions{HTTP3Conns: conns, DrainTimeout: 100 * time.Millisecond}, true, false)
			ctx := testCtx(t)
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := h3Client(t).Do(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				errc <- err
			}()
			<-started
			if how == "Close" {
				srv.Close()
			} else if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 requests still in flight") {
				t.Errorf("Shutdown: %v, want the DrainTimeout error", err)
			}
			if err := <-errc; err == nil {
				t.Error("the cut-off request succeeded")
			}
			if conns.live.Load() != 0 || conns.ended.Load() != 1 {
				t.Errorf("%d connections still served, %d ended; want 0 and 1", conns.live.Load(), conns.ended.Load())
			}
		})
	}
}

// TestServerHTTP3ConnsDrainFlushes: responses whose handlers return
// during the drain arrive whole. The drain closes the QUIC connections
// once no request is in flight; closing at once discarded what the
// connections had not sent yet, so the last responses lost their tails.
func TestServerHTTP3ConnsDrainFlushes(t *testing.T) {
	const (
		requests = 6 // under rawConns' stream limit of 7
		size     = 384 << 10
	)
	body := strings.Repeat("x", size)
	for round := range 5 {
		conns := &rawConns{}
		var started sync.WaitGroup
		started.Add(requests)
		release := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started.Done()
			<-release
			io.WriteString(w, body) // returns once the stream has taken it
		})
		srv := startServer(t, h, &httpx.ServerOptions{HTTP3Conns: conns}, true, false)
		ctx := testCtx(t)
		client := h3Client(t)
		results := make(chan error, requests)
		for range requests {
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := client.Do(req)
				if err != nil {
					results <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && len(b) != size {
					err = errors.New("short body: " + strconv.Itoa(len(b)) + " bytes")
				}
				results <- err
			}()
		}
		started.Wait()
		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(ctx) }()
		<-srv.Draining()
		close(release)
		for range requests {
			if err := <-results; err != nil {
				t.Fatalf("round %d: a response finished by its handler during the drain: %v", round, err)
			}
		}
		if err := <-shut; err != nil {
			t.Fatalf("round %d: Shutdown: %v", round, err)
		}
	}
}
