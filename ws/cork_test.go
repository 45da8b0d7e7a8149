package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		got <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-got
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

var (
	pingFrame  = []byte{0x89, 0x01, 'p'}
	closeFrame = []byte{0x88, 0x02, 0x03, 0xe8} // 1000
)

func TestCorkBatchKeepsConcurrentControlFrames(t *testing.T) {
	srv, cli := tcpPair(t)
	cc := ws.NewCorkConn(srv, true)
	cc.Cork()
	if err := cc.AppendFrame(1, []byte("a")); err != nil {
		t.Fatal(err)
	}
	// A ping written by another goroutine during the batch is collected
	// in order, not written on its own and not lost.
	done := make(chan error)
	go func() {
		_, err := cc.Write(pingFrame)
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := cc.AppendFrame(2, []byte("bc")); err != nil {
		t.Fatal(err)
	}
	if n := cc.Pending(); n != 3+3+4 {
		t.Fatalf("pending %d bytes before uncork, want 10", n)
	}
	if err := cc.Uncork(); err != nil {
		t.Fatal(err)
	}
	if n := cc.Pending(); n != 0 {
		t.Fatalf("pending %d bytes after uncork", n)
	}
	want := []byte{0x81, 1, 'a', 0x89, 1, 'p', 0x82, 2, 'b', 'c'}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("stream % x, want % x", got, want)
	}
	// Uncorked, a write goes out before Write returns.
	if _, err := cc.Write(pingFrame); err != nil {
		t.Fatal(err)
	}
	if n := cc.Pending(); n != 0 {
		t.Fatalf("uncorked write left %d bytes pending", n)
	}
}

func TestCorkFrameLengths(t *testing.T) {
	for _, tc := range []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x82, 0}},
		{125, []byte{0x82, 125}},
		{126, []byte{0x82, 126, 0, 126}},
		{65535, []byte{0x82, 126, 0xff, 0xff}},
		{65536, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			srv, cli := tcpPair(t)
			cc := ws.NewCorkConn(srv, true)
			cc.Cork()
			payload := bytes.Repeat([]byte{7}, tc.n)
			if err := cc.AppendFrame(2, payload); err != nil {
				t.Fatal(err)
			}
			go cc.Uncork()
			got := make([]byte, len(tc.header)+tc.n)
			if _, err := io.ReadFull(cli, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:len(tc.header)], tc.header) || !bytes.Equal(got[len(tc.header):], payload) {
				t.Fatalf("header % x, want % x", got[:len(tc.header)], tc.header)
			}
		})
	}
}

func TestCorkCloseFlushesCollectedCloseFrame(t *testing.T) {
	srv, cli := tcpPair(t)
	cc := ws.NewCorkConn(srv, true)
	cc.Cork()
	cc.AppendFrame(1, []byte("x"))
	// coder/websocket answers a client's close frame from the reader and
	// closes the connection at once: the collected frames still go out.
	if _, err := cc.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if err := cc.AppendFrame(1, []byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("data after a close frame: %v, want net.ErrClosed", err)
	}
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(cli)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x81, 1, 'x'}, closeFrame...)
	if string(got) != string(want) {
		t.Fatalf("stream % x, want % x", got, want)
	}
	if err := cc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCorkKillDiscards(t *testing.T) {
	srv, cli := tcpPair(t)
	cc := ws.NewCorkConn(srv, true)
	cc.Cork()
	cc.AppendFrame(1, []byte("x"))
	cc.Kill()
	if _, err := cc.Write(pingFrame); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after kill: %v", err)
	}
	cc.Close()
	got, _ := io.ReadAll(cli)
	if len(got) != 0 {
		t.Fatalf("killed connection sent % x", got)
	}
}

// A client may send its first frame in the same packet as the upgrade
// request; the hub's own hijack buffers must carry it over.
func TestFrameWithHandshake(t *testing.T) {
	ctx := testCtx(t)
	got := make(chan string, 1)
	s := newServer(t, &ws.HubOptions{OnMessage: func(_ context.Context, _ *ws.Conn, _ websocket.MessageType, b []byte) {
		got <- string(b)
	}})
	addr := strings.TrimPrefix(s.url, "ws://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	// Masked text frame "hi" with mask key 0.
	frame := []byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'}
	if _, err := c.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case m := <-got:
		if m != "hi" {
			t.Fatalf("got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("first frame lost")
	}
}

func TestWriterStopsWhenIdleAndRestarts(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, nil)
	c := dial(t, ctx, s.url, nil)
	sc := s.waitJoined(t, ctx)
	for i := range 3 {
		if err := sc.Send(ctx, websocket.MessageText, []byte(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
		if m := read(t, ctx, c); m != fmt.Sprint("m", i) {
			t.Fatalf("got %q", m)
		}
		// Delivered and nothing queued: the writer goroutine ends.
		for sc.WriterRunning() {
			if ctx.Err() != nil {
				t.Fatal("writer still running on an idle connection")
			}
			runtime.Gosched()
		}
	}
}

func TestJoinSeparator(t *testing.T) {
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{JoinSeparator: []byte("\n")})
	c := dial(t, ctx, s.url, nil)
	sc := s.waitJoined(t, ctx)
	var want []string
	for i := range 50 {
		m := fmt.Sprint("m", i)
		want = append(want, m)
		if err := sc.Send(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Send(ctx, websocket.MessageBinary, []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ == websocket.MessageBinary {
			if string(b) != "\xff" {
				t.Fatalf("binary %q", b)
			}
			break // binary messages are not joined and keep their place
		}
		got = append(got, strings.Split(string(b), "\n")...)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", got, want)
	}
}
