package wt_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/wt"
)

// Frames written by hand from the wire format in the package doc.
func hello(maxBidi, maxUni, window, maxFrame, maxDgram uint32) []byte {
	b := []byte{0x00}
	for _, v := range []uint32{maxBidi, maxUni, window, maxFrame, maxDgram} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func idFrame(typ byte, id uint32, rest ...byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{typ}, id), rest...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// rawDial opens the fallback with a plain WebSocket and sends our HELLO.
func rawDial(t *testing.T, ctx context.Context, e *env) *websocket.Conn {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.cert.ClientTLS()}}
	t.Cleanup(hc.CloseIdleConnections)
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(e.url, "https"), &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{wt.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(1 << 20)
	if err := c.Write(ctx, websocket.MessageBinary, hello(100, 100, 1<<16, 1<<14, 1200)); err != nil {
		t.Fatal(err)
	}
	return c
}

// readClose reads until the session ends and returns the code of the
// fallback's CLOSE frame and the WebSocket close code.
func readClose(t *testing.T, ctx context.Context, c *websocket.Conn) (code uint32, reason string, wsCode websocket.StatusCode) {
	t.Helper()
	code = 1<<32 - 1
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return code, reason, websocket.CloseStatus(err)
		}
		if len(b) >= 5 && b[0] == 0x09 {
			code, reason = binary.BigEndian.Uint32(b[1:]), string(b[5:])
		}
	}
}

// TestProtocolErrors sends each kind of bad input on the fallback; the
// session is closed with the protocol's code, and another session on the
// same server is not affected.
func TestProtocolErrors(t *testing.T) {
	e := startEnv(t, echo, nil)
	for _, tc := range []struct {
		name   string
		frames [][]byte
		code   uint32
		wsCode websocket.StatusCode
	}{
		{"empty", [][]byte{{}}, 1002, 1002},
		{"unknown type", [][]byte{{0x7f}}, 1002, 1002},
		{"short frame", [][]byte{{0x01, 0, 0}}, 1002, 1002},
		{"second hello", [][]byte{hello(1, 1, 1, 1, 1)}, 1002, 1002},
		{"unknown stream", [][]byte{idFrame(0x02, 8, 'x')}, 1002, 1002},
		{"open out of order", [][]byte{idFrame(0x01, 4)}, 1002, 1002},
		{"open with server bit", [][]byte{idFrame(0x01, 1)}, 1002, 1002},
		{"data after fin", [][]byte{idFrame(0x01, 0), idFrame(0x03, 0), idFrame(0x02, 0, 'x')}, 1002, 1002},
		{"credit overrun", [][]byte{idFrame(0x01, 0), idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...),
			idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...),
			idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...),
			idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...),
			idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...),
			idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, make([]byte, 16<<10)...), idFrame(0x02, 0, 'x')}, 1002, 1002},
		{"oversize data", [][]byte{idFrame(0x01, 0), idFrame(0x02, 0, make([]byte, 16<<10+1)...)}, 1009, 1009},
		{"oversize datagram", [][]byte{append([]byte{0x08}, make([]byte, 1101)...)}, 1009, 1009},
		{"stop-sending on a receive-only stream", [][]byte{idFrame(0x01, 2), idFrame(0x05, 2, u32(1)...)}, 1002, 1002},
		{"data on a send-only stream", [][]byte{idFrame(0x01, 2), idFrame(0x02, 3, 'x')}, 1002, 1002},
		{"zero credit", [][]byte{idFrame(0x01, 0), idFrame(0x06, 0, u32(0)...)}, 1002, 1002},
		{"max streams going down", [][]byte{{0x07, 0, 0, 0, 0, 1}}, 1002, 1002},
		{"text message", nil, 1002, 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			good := e.dial(t, ctx, wt.TransportWebSocket, nil)
			before := e.srv.Stats().ProtocolErrors
			c := rawDial(t, ctx, e)
			if tc.frames == nil {
				c.Write(ctx, websocket.MessageText, []byte("hi"))
			}
			for _, f := range tc.frames {
				if err := c.Write(ctx, websocket.MessageBinary, f); err != nil {
					break // the server may have closed already
				}
			}
			code, reason, wsCode := readClose(t, ctx, c)
			if code != tc.code || wsCode != tc.wsCode {
				t.Fatalf("closed with %d (%q), WebSocket %d; want %d, %d", code, reason, wsCode, tc.code, tc.wsCode)
			}
			eventually(t, "the protocol error counted", func() bool { return e.srv.Stats().ProtocolErrors == before+1 })
			// The other session still works.
			st, err := good.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.Write([]byte("still here"))
			st.Close()
			buf := make([]byte, 10)
			if _, err := readFull(st, buf); err != nil || string(buf) != "still here" {
				t.Fatalf("other session: %q, %v", buf, err)
			}
		})
	}
}

// TestStreamLimitRaw: opening more streams than the server allows is a
// protocol error (the HELLO announced the limit).
func TestStreamLimitRaw(t *testing.T) {
	e := startEnv(t, func(ctx context.Context, s wt.Session) { <-ctx.Done() }, &wt.ServerOptions{Session: &wt.Options{MaxIncomingStreams: 2}})
	ctx := testCtx(t)
	c := rawDial(t, ctx, e)
	_, b, err := c.Read(ctx)
	if err != nil || len(b) != 21 || b[0] != 0 || binary.BigEndian.Uint32(b[1:]) != 2 {
		t.Fatalf("server HELLO %x, %v", b, err)
	}
	for _, id := range []uint32{0, 4, 8} {
		c.Write(ctx, websocket.MessageBinary, idFrame(0x01, id))
	}
	if code, reason, _ := readClose(t, ctx, c); code != 1002 || !strings.Contains(reason, "limit") {
		t.Fatalf("closed with %d %q", code, reason)
	}
}

// TestPeerClosesWithoutFrame: a peer that sends only a WebSocket close
// frame has its code mapped back.
func TestPeerClosesWithoutFrame(t *testing.T) {
	seen := make(chan error, 1)
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		<-ctx.Done()
		seen <- context.Cause(ctx)
	}, nil)
	ctx := testCtx(t)
	c := rawDial(t, ctx, e)
	c.Close(4007, "plain close")
	var se *wt.SessionError
	if err := <-seen; !errors.As(err, &se) || se.Code != 4007 || !se.Remote {
		t.Fatalf("server saw %v", err)
	}
}
