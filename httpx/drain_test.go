package httpx_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// TestServerDrain follows a deploy: requests in flight over HTTP/1.1,
// HTTP/2 and HTTP/3 when draining starts all complete; readiness turns 503
// while requests are still served; after the delay new connections are
// refused.
func TestServerDrain(t *testing.T) {
	started := make(chan string, 3)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		started <- r.Proto
		select {
		case <-release:
			io.WriteString(w, "done over "+r.Proto)
		case <-r.Context().Done():
		}
	})
	mux.Handle("/", hello)
	srv := startServer(t, mux, &httpx.ServerOptions{DrainDelay: 50 * time.Millisecond}, true, false)
	mux.Handle("/readyz", srv.ReadyHandler())
	hookRan := make(chan struct{})
	srv.OnDrain(func() { close(hookRan) })
	ctx := testCtx(t)

	h1 := newClient(t, &httpx.Options{DisableHTTP2: true})
	h2 := newClient(t, nil)
	clients := map[string]*http.Client{"HTTP/1.1": h1.Client, "HTTP/2.0": h2.Client, "HTTP/3.0": h3Client(t)}
	if resp, body := get(t, ctx, h2.Client, srv.URL+"readyz"); resp.StatusCode != http.StatusOK || body != "ready\n" {
		t.Fatalf("readiness before draining: %s %q", resp.Status, body)
	}

	type result struct {
		proto, body string
		err         error
	}
	results := make(chan result, 3)
	for proto, c := range clients {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"slow", nil)
			resp, err := c.Do(req)
			if err != nil {
				results <- result{proto: proto, err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{proto, string(b), err}
		}()
	}
	for range 3 {
		<-started
	}

	// Draining starts: readiness fails, the hook runs, serving goes on.
	srv.StartDrain()
	<-srv.Draining()
	<-hookRan
	resp, body := get(t, ctx, h2.Client, srv.URL+"readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("readiness while draining: %s %q, want 503", resp.Status, body)
	}
	fresh := newClient(t, &httpx.Options{DisableHTTP2: true})
	if _, body := get(t, ctx, fresh.Client, srv.URL); body != "HTTP/1.1" {
		t.Errorf("new request during the drain delay: %q", body)
	}
	fresh.CloseIdleConnections()
	if !srv.Stats().Draining {
		t.Error("Stats().Draining is false")
	}

	// Shutdown: after the delay the listeners close.
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.URL, "https://"), "/")
	testenv.WaitFor(t, 10*time.Second, "new connections to be refused", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case r := <-results:
		t.Fatalf("a request in flight ended before it was released: %+v", r)
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with requests in flight", err)
	default:
	}

	close(release)
	for range 3 {
		r := <-results
		if r.err != nil || r.body != "done over "+r.proto {
			t.Errorf("in-flight %s request: %q, %v; want it completed", r.proto, r.body, r.err)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if st := srv.Stats(); st.InFlight != 0 {
		t.Errorf("InFlight = %d after Shutdown", st.InFlight)
	}
	// A hook registered after draining runs at once.
	ran := false
	srv.OnDrain(func() { ran = true })
	if !ran {
		t.Error("late OnDrain hook did not run")
	}
}

// TestServerDrainTimeout cuts off a request that never finishes.
func TestServerDrainTimeout(t *testing.T) {
	started := make(chan struct{}, 1)
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done() // only the connection closing ends it
	})
	srv := startServer(t, stuck, &httpx.ServerOptions{DrainTimeout: 100 * time.Millisecond}, true, false)
	c := newClient(t, nil)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	err := srv.Shutdown(testCtx(t))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 requests still in flight") {
		t.Errorf("Shutdown: %v, want the DrainTimeout error", err)
	}
	if err := <-errc; err == nil {
		t.Error("the cut-off request succeeded")
	}
}

// TestServerShutdownContext ends the drain delay early through the
// context: everything is closed at once.
func TestServerShutdownContext(t *testing.T) {
	srv := startServer(t, hello, &httpx.ServerOptions{DrainDelay: time.Hour}, true, false)
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	var err error
	wg.Go(func() { err = srv.Shutdown(ctx) })
	<-srv.Draining()
	cancel()
	wg.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want context.Canceled", err)
	}
}

// TestServerRegisterOnShutdown: a Server takes shutdown hooks under
// *http.Server's name, so code written for either accepts both; the hooks
// run when draining starts, while requests are still served, and a hook
// registered once draining has started runs at once.
func TestServerRegisterOnShutdown(t *testing.T) {
	type shutdownRegistrar interface{ RegisterOnShutdown(func()) }
	var (
		_ shutdownRegistrar = (*http.Server)(nil)
		_ shutdownRegistrar = (*httpx.Server)(nil)
	)
	srv := startServer(t, hello, nil, false, false)
	var reg shutdownRegistrar = srv.Server
	ctx := testCtx(t)
	client := newClient(t, nil)

	const hooks = 8
	ran := make(chan bool, hooks)
	for range hooks {
		reg.RegisterOnShutdown(func() {
			select {
			case <-srv.Draining():
				ran <- true
			default:
				ran <- false // ran before draining started
			}
		})
	}
	reg.RegisterOnShutdown(nil) // ignored, as OnDrain ignores it
	if resp, _ := get(t, ctx, client.Client, srv.URL); resp.StatusCode != http.StatusOK {
		t.Fatalf("before draining: %s", resp.Status)
	}
	if len(ran) != 0 {
		t.Fatalf("%d hooks ran before draining started", len(ran))
	}

	srv.StartDrain()
	for range hooks {
		select {
		case draining := <-ran:
			if !draining {
				t.Fatal("a hook ran before Draining was closed")
			}
		case <-ctx.Done():
			t.Fatal("the hooks did not run when draining started")
		}
	}
	// Draining, not closed: requests are still served.
	if resp, body := get(t, ctx, client.Client, srv.URL); resp.StatusCode != http.StatusOK || body != "HTTP/2.0" {
		t.Fatalf("while draining: %s %q", resp.Status, body)
	}

	// Registered late: runs before RegisterOnShutdown returns.
	late := false
	reg.RegisterOnShutdown(func() { late = true })
	if !late {
		t.Fatal("a hook registered while draining did not run at once")
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
