package batch_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/batch"
)

// stallSignal is a request body that reports, once, when the handler asks
// for more after the first bytes: the moment it waits on a silent client.
type stallSignal struct {
	io.ReadCloser
	got     int
	stalled func()
}

func (b *stallSignal) Read(p []byte) (int, error) {
	if b.got > 0 && b.stalled != nil {
		b.stalled()
		b.stalled = nil
	}
	n, err := b.ReadCloser.Read(p)
	b.got += n
	return n, err
}

func heapAlloc() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestBulkSilentBodiesHoldLittleMemory: clients that declare a large body,
// send one byte and go silent must not make the handler hold memory in
// proportion to what they declared.
func TestBulkSilentBodiesHoldLittleMemory(t *testing.T) {
	const conns = 32
	const declared = batch.DefaultMaxBytes // within the default limit
	h := newBulk(t, createOrder, &batch.BulkOptions{BodyTimeout: -1})
	var stalled sync.WaitGroup
	stalled.Add(conns)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &stallSignal{ReadCloser: r.Body, stalled: stalled.Done}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	base := heapAlloc()
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", declared)
	}
	stalled.Wait()
	held := heapAlloc() - base
	t.Logf("%d silent clients that declared %d bytes each: %d bytes held (%d per client)", conns, declared, held, held/conns)
	if held > conns*declared/8 {
		t.Fatalf("%d silent clients that sent 1 byte hold %d bytes of heap: the body buffer is sized by the declared Content-Length", conns, held)
	}
}

// TestBulkBodyTimeout: a body that stalls is cut off with 408 even when the
// server has no ReadTimeout, over HTTP/1.1 and HTTP/2; a server's shorter
// ReadTimeout is not extended by a longer BodyTimeout.
func TestBulkBodyTimeout(t *testing.T) {
	for _, tt := range []struct {
		name          string
		http2         bool
		serverTimeout time.Duration
		bodyTimeout   time.Duration
	}{
		{"http1", false, 0, 50 * time.Millisecond},
		{"http2", true, 0, 50 * time.Millisecond},
		{"server ReadTimeout is shorter", false, time.Second, time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newBulk(t, createOrder, &batch.BulkOptions{BodyTimeout: tt.bodyTimeout})
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ReadTimeout = tt.serverTimeout
			// Generous bounds, so a hang fails instead of timing out the
			// whole binary.
			deadline := time.Now().Add(10 * time.Second)
			var resp *http.Response
			if tt.http2 {
				srv.EnableHTTP2 = true
				srv.StartTLS()
				defer srv.Close()
				pr, pw := io.Pipe()
				defer pw.Close()
				go pw.Write([]byte(`[{"sku":"a"},`)) // then silence
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, pr)
				req.Header.Set("Content-Type", "application/json")
				var err error
				if resp, err = srv.Client().Do(req); err != nil {
					t.Fatal(err)
				}
				if resp.ProtoMajor != 2 {
					t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
				}
			} else {
				srv.Start()
				defer srv.Close()
				c, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(deadline)
				fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"sku\":\"a\"},")
				if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err != nil {
					t.Fatal(err)
				}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != batch.ProblemContentType {
				t.Fatalf("status %d %q; %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var p batch.Problem
			if err := json.Unmarshal(body, &p); err != nil || p.Status != http.StatusRequestTimeout || !strings.Contains(p.Detail, "body") {
				t.Fatalf("problem %s: %v", body, err)
			}
			if st := h.Stats(); st.Rejected != 1 || st.Items != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// TestBulkBodyTimeoutLiftedAfterRead: the body deadline ends with the body;
// items that run longer are not cancelled by it.
func TestBulkBodyTimeoutLiftedAfterRead(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprint("http2=", h2), func(t *testing.T) {
			const bodyTimeout = 20 * time.Millisecond
			fn := func(ctx context.Context, o order) (created, error) {
				// Run well past the body deadline; a deadline left on the
				// connection cancels the request's context meanwhile.
				select {
				case <-ctx.Done():
					return created{}, batch.NewProblem(http.StatusServiceUnavailable, "cancelled")
				case <-time.After(25 * bodyTimeout):
					return created{SKU: o.SKU}, nil
				}
			}
			h := newBulk(t, fn, &batch.BulkOptions{BodyTimeout: bodyTimeout})
			srv := httptest.NewUnstartedServer(h)
			if h2 {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`[{"sku":"a"}]`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
}
