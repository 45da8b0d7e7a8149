package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// rawConn is a client that speaks WebSocket by hand over TCP, to send
// frames no WebSocket library would.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func rawUpgrade(t *testing.T, url string) *rawConn {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	return &rawConn{c, br}
}

type rawFrame struct {
	op      byte
	payload []byte
}

// readFrame reads one frame from the server, failing the test if there is
// none within 30s.
func (c *rawConn) readFrame(t *testing.T) rawFrame {
	t.Helper()
	f, err := c.next()
	if err != nil {
		t.Errorf("read: %v", err)
	}
	return f
}

// readAll reads the server's frames until the server closes the TCP
// connection, and fails the test if it does not within 30s.
func (c *rawConn) readAll(t *testing.T) []rawFrame {
	t.Helper()
	var out []rawFrame
	for {
		f, err := c.next()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("the server kept the connection open after %d frames", len(out))
			} else if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Errorf("read: %v", err)
			}
			return out
		}
		out = append(out, f)
	}
}

func (c *rawConn) next() (rawFrame, error) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return rawFrame{}, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return rawFrame{}, err
		}
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return rawFrame{}, err
		}
		n = int(binary.BigEndian.Uint64(b[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return rawFrame{}, err
	}
	return rawFrame{h[0] & 0x0f, p}, nil
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

func closeCode(f rawFrame) int {
	if f.op != 0x8 || len(f.payload) < 2 {
		return -1
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// An unmasked frame carrying a masked ping: the hub must fail the
// connection at the outer frame and never answer the inner ping.
func TestProtocolErrorStopsReading(t *testing.T) {
	s := newServer(t, &ws.HubOptions{PingInterval: -1})
	c := rawUpgrade(t, s.url)
	ctx := testCtx(t)
	s.waitJoined(t, ctx)
	smuggled := []byte{0x82, 0x0e, 0x89, 0x88, 0, 0, 0, 0, 's', 'm', 'u', 'g', 'g', 'l', 'e', 'd'}
	if _, err := c.Write(smuggled); err != nil {
		t.Fatal(err)
	}
	frames := c.readAll(t)
	for _, f := range frames {
		if f.op == 0xa {
			t.Fatalf("the hub answered a ping inside a bad frame: pong %q", f.payload)
		}
	}
	if len(frames) != 1 || closeCode(frames[0]) != 1002 {
		t.Fatalf("got frames %v, want one close frame with 1002", frames)
	}
	if r := s.waitClosed(t, ctx); r != ws.ReasonProtocol {
		t.Fatalf("reason %q", r)
	}
}

// Each malformed frame below must get 1002 and the TCP connection closed
// by the server at once, while the peer keeps it open and, after the
// close frame, sends what looks like a small message and the header of a
// large one. The old hub went on reading after the error: its close
// handshake took the large frame's header and waited for its payload, with
// no deadline, while the reader waited for the handshake, so the
// connection stayed open and counted until ping and pong timeouts (a
// minute each here). Many tries run at once, since it was a race.
func TestProtocolErrorClosesAtOnce(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{
		PingInterval:  time.Minute,
		PongTimeout:   time.Minute,
		MaxConnsPerIP: -1,
		OnConnect:     func(context.Context, *ws.Conn) {},
		OnClose:       func(*ws.Conn, ws.CloseReason) {},
	})
	junk := []byte{0x81, 0x80, 0, 0, 0, 0, 0x82, 0xfe, 0x03, 0xe8, 0, 0, 0, 0}
	bad := map[string][]byte{
		"rsv2 text":           {0xa1, 0x80, 0, 0, 0, 0},
		"continuation first":  {0x80, 0x80, 0, 0, 0, 0},
		"reserved opcode 3":   {0x83, 0x80, 0, 0, 0, 0},
		"reserved opcode 0xb": {0x8b, 0x80, 0, 0, 0, 0},
		"unmasked":            {0x81, 0x00},
		"fragmented ping":     {0x09, 0x80, 0, 0, 0, 0},
	}
	const tries = 12 // per kind
	var wg sync.WaitGroup
	n := 0
	for name, frame := range bad {
		for range tries {
			n++
			c := rawUpgrade(t, s.url)
			wg.Go(func() {
				if _, err := c.Write(frame); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				first := c.readFrame(t)
				c.Write(junk) // fails once the server has closed
				if rest := c.readAll(t); closeCode(first) != 1002 || len(rest) != 0 {
					t.Errorf("%s: got %v then %v, want one close frame with 1002", name, first, rest)
				}
			})
		}
	}
	wg.Wait()
	// Closed and no longer counted (cleanup follows the TCP close).
	for st := s.hub.Stats(); st.Conns != 0 || st.Closed[ws.ReasonProtocol] != uint64(n); st = s.hub.Stats() {
		select {
		case <-ctx.Done():
			t.Fatalf("stats %+v, want no connection and %d closed for %q", st, n, ws.ReasonProtocol)
		case <-time.After(time.Millisecond):
		}
	}
}

// A client that closes while the hub is writing to it is counted as a
// client close, whichever of the hub's reader and writer notices first.
func TestClientCloseReasonUnderLoad(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{
		MaxConnsPerIP: -1,
		PingInterval:  -1,
		OnClose:       func(*ws.Conn, ws.CloseReason) {},
	})
	const n = 80
	clients := make([]*websocket.Conn, n)
	for i := range clients {
		clients[i] = dial(t, ctx, s.url, nil)
		s.waitJoined(t, ctx)
	}
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		msg := bytes.Repeat([]byte("x"), 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.hub.Publish(ctx, "news", msg)
		}
	}()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			if _, _, err := c.Read(ctx); err != nil { // receiving
				t.Error(err)
			}
			c.Close(websocket.StatusNormalClosure, "bye")
		})
	}
	wg.Wait()
	for st := s.hub.Stats(); st.Conns != 0; st = s.hub.Stats() {
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections still open", st.Conns)
		case <-time.After(time.Millisecond):
		}
	}
	close(stop)
	<-published
	if got := s.hub.Stats().Closed; got[ws.ReasonClient] != n {
		t.Fatalf("reasons %v, want all %d %q", got, n, ws.ReasonClient)
	}
}

// The hub's corked writer relies on coder/websocket, in the mode where the
// hub encodes data frames itself (no compression), writing each control
// frame it sends as one Write of one complete frame of at most 127 bytes:
// that is how it knows a close frame has gone out, after which it sends no
// data. This pins that behaviour for every control frame coder/websocket
// writes (ping, pong, close replies, the closes it sends for a protocol
// error and a message over ReadLimit), so an upgrade that changes it fails
// here rather than interleaving data after a close frame.
func TestCoderWritesOneControlFramePerWrite(t *testing.T) {
	var mu sync.Mutex
	var writes [][]byte
	record := func(p []byte) {
		mu.Lock()
		writes = append(writes, bytes.Clone(p))
		mu.Unlock()
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, ctx context.Context, s *server)
	}{
		{"ping and pong", func(t *testing.T, ctx context.Context, s *server) {
			c := dial(t, ctx, s.url, nil)
			readCtx := c.CloseRead(ctx) // answers the hub's pings
			s.waitJoined(t, ctx)
			if err := c.Ping(ctx); err != nil { // the hub pongs
				t.Fatal(err)
			}
			for s.hub.Stats().PingRTTLast == 0 {
				select {
				case <-readCtx.Done():
					t.Fatal("connection ended")
				case <-time.After(time.Millisecond):
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
		}},
		{"close reply", func(t *testing.T, ctx context.Context, s *server) {
			c := dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
			c.Close(websocket.StatusNormalClosure, strings.Repeat("r", 123))
		}},
		{"close by the hub", func(t *testing.T, ctx context.Context, s *server) {
			c := dial(t, ctx, s.url, nil)
			sc := s.waitJoined(t, ctx)
			sc.Close(websocket.StatusGoingAway, strings.Repeat("r", 123))
			c.Read(ctx)
		}},
		{"protocol error", func(t *testing.T, ctx context.Context, s *server) {
			c := rawUpgrade(t, s.url)
			s.waitJoined(t, ctx)
			c.Write([]byte{0xa1, 0x80, 0, 0, 0, 0})
			c.readAll(t)
		}},
		{"read limit", func(t *testing.T, ctx context.Context, s *server) {
			c := dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
			c.Write(ctx, websocket.MessageBinary, make([]byte, 100))
			c.Read(ctx)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			mu.Lock()
			writes = nil
			mu.Unlock()
			s := newServer(t, &ws.HubOptions{ReadLimit: 64, PingInterval: 5 * time.Millisecond})
			ws.SetCorkWriteHook(s.hub, record)
			tc.run(t, ctx, s)
			s.waitClosed(t, ctx)
			mu.Lock()
			defer mu.Unlock()
			if len(writes) == 0 {
				t.Fatal("coder/websocket wrote nothing")
			}
			for _, p := range writes {
				if len(p) < 2 || len(p) > 127 || p[0]&0x80 == 0 || p[0]&0x70 != 0 || p[0]&0x08 == 0 ||
					p[1]&0x80 != 0 || int(p[1]) != len(p)-2 {
					t.Fatalf("a Write that is not one complete unmasked control frame of at most 127 bytes: % x", p)
				}
			}
		})
	}
}
