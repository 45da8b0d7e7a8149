package wt_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/wt"
)

// stallProxy forwards TCP connections to target until stall is set; from
// then on it silently discards what either side sends, like a NAT or a
// proxy that lost the connection without a reset.
type stallProxy struct {
	l     net.Listener
	stall atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{l: l}
	p.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Go(func() { p.pipe(u, c) })
			p.wg.Go(func() { p.pipe(c, u) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	b := make([]byte, 32<<10)
	for {
		n, err := src.Read(b)
		if n > 0 && !p.stall.Load() {
			if _, werr := dst.Write(b[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestFallbackKeepAlive: an idle fallback session stays open past many
// keep-alive periods, and one whose path silently stops delivering ends
// with ErrSessionLost on both sides.
func TestFallbackKeepAlive(t *testing.T) {
	ctx := testCtx(t)
	so := &wt.Options{KeepAlive: 20 * time.Millisecond, PongTimeout: 2 * time.Second}
	ended := make(chan error, 1)
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		<-ctx.Done()
		ended <- context.Cause(ctx)
	}, &wt.ServerOptions{Session: so})
	p := startStallProxy(t, "127.0.0.1:"+strconv.Itoa(e.port))
	u, _ := url.Parse(e.url)
	u.Host = p.l.Addr().String()
	s, _, err := wt.Dial(ctx, u.String(), &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: wt.TransportWebSocket, Session: so})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(0, "")

	// Idle and healthy: still open after many periods and two pong
	// timeouts.
	select {
	case <-s.Context().Done():
		t.Fatalf("idle healthy session ended: %v", context.Cause(s.Context()))
	case err := <-ended:
		t.Fatalf("server ended an idle healthy session: %v", err)
	case <-time.After(2 * so.PongTimeout):
	}
	if got := e.srv.Stats().PingTimeouts; got != 0 {
		t.Fatalf("PingTimeouts = %d on a healthy session", got)
	}

	p.stall.Store(true)
	select {
	case <-s.Context().Done():
	case <-time.After(20 * time.Second):
		t.Fatal("client did not notice a silent connection")
	}
	if err := context.Cause(s.Context()); !errors.Is(err, wt.ErrSessionLost) {
		t.Fatalf("client: cause %v, want ErrSessionLost", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, wt.ErrSessionLost) {
			t.Fatalf("server: cause %v, want ErrSessionLost", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not notice a silent connection")
	}
	eventually(t, "the server's PingTimeouts", func() bool { return e.srv.Stats().PingTimeouts == 1 })
}
