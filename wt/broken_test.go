package wt_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/wt"
)

// startTCPOnly serves the wt.Server over HTTPS on TCP only: nothing
// answers on UDP, as when a network blocks it, so WebTransport times out.
func startTCPOnly(t *testing.T, h wt.Handler) *env {
	t.Helper()
	cert, srv, mux := newServer(t, h, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, TLSConfig: cert.ServerTLS(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = hs.ServeTLS(l, "", "") })
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		wg.Wait()
	})
	port := l.Addr().(*net.TCPAddr).Port
	return &env{srv: srv, cert: cert, url: "https://127.0.0.1:" + strconv.Itoa(port) + "/wt", port: port, mux: mux}
}

// TestClientRemembersBrokenWebTransport: with UDP blocked, a Client pays
// the WebTransport timeout once; its redials go straight to the fallback.
func TestClientRemembersBrokenWebTransport(t *testing.T) {
	var served atomic.Int64
	e := startTCPOnly(t, func(ctx context.Context, s wt.Session) {
		if served.Add(1) <= 3 {
			s.Close(wt.CodeGoingAway, "go away")
			return
		}
		<-ctx.Done()
	})
	c, err := wt.NewClient(e.url, func(ctx context.Context, s wt.Session) { <-ctx.Done() },
		&wt.ClientOptions{Dial: &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), WebTransportTimeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "a fourth session that stays", func() bool { return served.Load() == 4 && c.Stats().Connected })
	fb := e.srv.Stats().Fallbacks
	if fb.Timeout+fb.Failed != 1 || fb.Broken != 3 {
		t.Fatalf("fallback reasons %+v, want one WebTransport attempt and three redials that skipped it", fb)
	}
	if st := c.Stats(); st.WebTransportSkipped != 3 || st.WebSocket != 4 {
		t.Fatalf("client stats %+v, want 3 dials that skipped WebTransport", st)
	}
}

// TestDialBrokenCache: a BrokenCache shared by plain Dials remembers a
// failed WebTransport per origin for its backoff, doubling; after the
// backoff WebTransport is tried again, and a success forgets the origin.
func TestDialBrokenCache(t *testing.T) {
	e := startTCPOnly(t, func(ctx context.Context, s wt.Session) { <-ctx.Done() })
	ctx := testCtx(t)
	bc, err := wt.NewBrokenCache(&wt.BrokenOptions{Backoff: time.Minute, MaxBackoff: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	wt.SetBrokenClock(bc, func() time.Time { return now })
	o := &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), WebTransportTimeout: 100 * time.Millisecond, Broken: bc}
	dial := func(want string) {
		t.Helper()
		s, info, err := wt.Dial(ctx, e.url, o)
		if err != nil {
			t.Fatal(err)
		}
		s.Close(0, "")
		if info.FallbackReason != want {
			t.Fatalf("FallbackReason %q (%v), want %q", info.FallbackReason, info.WebTransportErr, want)
		}
	}
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{
		{0, "timeout"},
		{0, wt.FallbackBroken},
		{59 * time.Second, wt.FallbackBroken},
		{time.Second, "timeout"}, // the first backoff is over: tried again, now for 2 min
		{119 * time.Second, wt.FallbackBroken},
		{time.Second, "timeout"},
		{179 * time.Second, wt.FallbackBroken}, // capped at 3 min
		{time.Second, "timeout"},
	} {
		now = now.Add(step.advance)
		dial(step.want)
	}
	if st := bc.Stats(); st.Marks != 4 || st.Skips != 4 || st.Origins != 1 {
		t.Fatalf("stats %+v", st)
	}

	// A working origin is never marked; a success forgets a marked one.
	w := startEnv(t, func(ctx context.Context, s wt.Session) { <-ctx.Done() }, nil)
	wo := &wt.DialOptions{TLSConfig: w.cert.ClientTLS(), Broken: bc}
	s, info, err := wt.Dial(ctx, w.url, wo)
	if err != nil || info.Transport != wt.TransportWebTransport {
		t.Fatalf("Dial %v (%+v)", err, info)
	}
	s.Close(0, "")
	if st := bc.Stats(); st.Origins != 1 || st.Marks != 4 {
		t.Fatalf("stats %+v after a working origin", st)
	}
}

// TestBrokenOptions: negative backoffs are refused; a 503 is not broken.
func TestBrokenOptions(t *testing.T) {
	for _, o := range []wt.BrokenOptions{{Backoff: -1}, {MaxBackoff: -1}, {Backoff: time.Hour, MaxBackoff: time.Minute}} {
		if _, err := wt.NewBrokenCache(&o); err == nil {
			t.Errorf("NewBrokenCache(%+v) accepted", o)
		}
	}
	e := startEnv(t, func(ctx context.Context, s wt.Session) { <-ctx.Done() }, &wt.ServerOptions{MaxSessions: 1, RetryAfter: time.Second})
	ctx := testCtx(t)
	e.dial(t, ctx, wt.TransportWebSocket, nil)
	bc, err := wt.NewBrokenCache(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Broken: bc})
	var re *wt.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("Dial at the limit: %v", err)
	}
	if st := bc.Stats(); st.Marks != 0 {
		t.Fatalf("a 503 marked the origin broken: %+v", st)
	}
}

// TestFallbackDatagramBurst: datagrams that arrive over the fallback's
// TCP in a burst, faster than the application reads (as after TCP
// recovers a lost segment), are kept at the default bounds, not dropped
// at DatagramQueue; past a small FallbackDatagramBuffer the oldest are
// dropped, and SessionStats shows how many.
func TestFallbackDatagramBurst(t *testing.T) {
	const n = 2000
	var srv atomic.Pointer[wt.Server]
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		base := srv.Load().Stats().DatagramsSent
		var b [16]byte
		for i := range n {
			b[0], b[1] = byte(i), byte(i>>8)
			if err := s.SendDatagram(b[:]); err != nil {
				return
			}
		}
		// Every datagram is on the wire before the stream opens, so the
		// client has queued them all when it accepts the stream.
		for srv.Load().Stats().DatagramsSent < base+n {
			time.Sleep(time.Millisecond)
		}
		st, err := s.OpenUniStream(ctx)
		if err != nil {
			return
		}
		st.Write([]byte("done"))
		st.Close()
		<-ctx.Done()
	}, &wt.ServerOptions{Session: &wt.Options{DatagramQueue: 4 * n, DatagramMaxAge: -1}})
	srv.Store(e.srv)
	for _, tc := range []struct {
		name    string
		so      *wt.Options
		dropped bool
	}{
		{"defaults", nil, false},
		{"small buffer", &wt.Options{FallbackDatagramBuffer: 8 << 10}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, wt.TransportWebSocket, tc.so)
			r, err := s.AcceptUniStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
			st, ok := wt.SessionStats(s)
			if !ok {
				t.Fatal("no SessionStats for a dialled session")
			}
			dropped := int(st.DatagramsDropped.QueueFull)
			if (dropped > 0) != tc.dropped || dropped >= n {
				t.Fatalf("%d of %d datagrams dropped", dropped, n)
			}
			for i := dropped; i < n; i++ { // the oldest were dropped
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				b, err := s.ReceiveDatagram(rctx)
				cancel()
				if err != nil {
					t.Fatalf("datagram %d of %d (%d dropped): %v", i, n, dropped, err)
				}
				if got := int(b[0]) | int(b[1])<<8; got != i {
					t.Fatalf("datagram %d is #%d", i, got)
				}
			}
			if st, _ := wt.SessionStats(s); st.DatagramsReceived != int64(n-dropped) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestDialBadTransport: an unknown Transport is refused even with the
// default WebTransportTimeout (the zero value used to skip the check).
func TestDialBadTransport(t *testing.T) {
	for _, o := range []wt.DialOptions{{Transport: 7}, {Transport: 7, WebTransportTimeout: time.Second}} {
		if _, _, err := wt.Dial(context.Background(), "https://127.0.0.1:1/wt", &o); err == nil || !strings.Contains(err.Error(), "not a Transport") {
			t.Errorf("Dial(%+v): %v, want the Transport refused", o, err)
		}
	}
}
