package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/wt"
)

// startCursors serves the wt demo as run does: through the showcase's
// handler (compression included) on an httpx.Server whose HTTP/3
// connections go to the demo's wt.Server, TCP and UDP on one port. It
// returns the https:// base URL.
func startCursors(t *testing.T) (*showcase, string) {
	t.Helper()
	cert, err := httpx.NewDevCert()
	if err != nil {
		t.Fatal(err)
	}
	sc := newShowcase(cert)
	if err := setupWT(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	hs, err := httpx.NewServer(sc.handler(), &httpx.ServerOptions{TLSConfig: cert.ServerTLS(), HTTP3Conns: sc.wt})
	if err != nil {
		t.Fatal(err)
	}
	sc.wt.RegisterOnShutdown(hs, 5*time.Second)
	l, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l, pc) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		sc.close()
	})
	return sc, "https://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// cursorClient is one visitor as the page is: a chat stream and
// positions as datagrams.
type cursorClient struct {
	s     wt.Session
	chat  wt.Stream
	lines chan string
	id    uint32
}

func dialCursors(t *testing.T, ctx context.Context, sc *showcase, base string, tr wt.Transport) *cursorClient {
	t.Helper()
	s, info, err := wt.Dial(ctx, base+"/cursors/wt", &wt.DialOptions{TLSConfig: sc.cert.ClientTLS(), Transport: tr})
	if err != nil {
		t.Fatalf("dial %v: %v", tr, err)
	}
	if info.Transport != tr {
		t.Fatalf("dialled %v, got %+v", tr, info)
	}
	t.Cleanup(func() { s.Close(wt.CodeNormal, "") })
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("\n")); err != nil { // the page's first line
		t.Fatal(err)
	}
	c := &cursorClient{s: s, chat: st, lines: make(chan string, 64)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(st)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	welcome := c.next(t)
	want := "over " + tr.String()
	var n int
	_, err = fmt.Sscanf(welcome, "you are #%d,", &n)
	if !strings.HasSuffix(welcome, want) || err != nil {
		t.Fatalf("welcome %q, want \"you are #N, %s\"", welcome, want)
	}
	c.id = uint32(n)
	return c
}

func (c *cursorClient) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("chat stream ended: %v", context.Cause(c.s.Context()))
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("no chat line")
	}
	return ""
}

// waitLine reads chat lines until one equals want.
func (c *cursorClient) waitLine(t *testing.T, want string) {
	t.Helper()
	for {
		if l := c.next(t); l == want {
			return
		}
	}
}

// TestCursorsDemo: a visitor over WebTransport and one over the fallback
// see each other's chat lines and cursor positions, through the
// showcase's own handler and HTTP/3 listener.
func TestCursorsDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sc, base := startCursors(t)
	a := dialCursors(t, ctx, sc, base, wt.TransportWebTransport)
	b := dialCursors(t, ctx, sc, base, wt.TransportWebSocket)
	a.waitLine(t, "#"+strconv.Itoa(int(b.id))+" joined over websocket")

	for _, tc := range []struct{ from, to *cursorClient }{{a, b}, {b, a}} {
		line := "hello from #" + strconv.Itoa(int(tc.from.id))
		if _, err := tc.from.chat.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		tc.to.waitLine(t, "#"+strconv.Itoa(int(tc.from.id))+": "+line)

		// The pointer, resent until the other sees it (WebTransport
		// datagrams may be lost).
		pos := []byte{0x12, 0x34, 0x56, 0x78}
		seen := make(chan struct{})
		go func() {
			defer close(seen)
			for {
				d, err := tc.to.s.ReceiveDatagram(ctx)
				if err != nil {
					return
				}
				for o := 0; o+8 <= len(d); o += 8 {
					if binary.BigEndian.Uint32(d[o:]) == tc.from.id && string(d[o+4:o+8]) == string(pos) {
						return
					}
				}
			}
		}()
	send:
		for {
			if err := tc.from.s.SendDatagram(pos); err != nil {
				t.Fatal(err)
			}
			select {
			case <-seen:
				break send
			case <-time.After(50 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the position did not arrive")
		}
	}
	st := sc.wt.Stats()
	if st.WebTransport != 1 || st.WebSocket != 1 || st.Fallbacks.Forced != 1 {
		t.Fatalf("server stats %+v, want one session per transport, one forced fallback", st)
	}
	// The page itself and the module are served.
	for _, path := range []string{"/cursors/", "/cursors/wt.js"} {
		rsp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: sc.cert.ClientTLS()}}).Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusOK || (path == "/cursors/" && !strings.Contains(string(body), sc.certHash)) {
			t.Fatalf("GET %s: %d, certificate hash in page: %v", path, rsp.StatusCode, strings.Contains(string(body), sc.certHash))
		}
	}
}

// TestEncodeCursors: positions are cut into datagrams of at most
// cursorsPerDatagram entries, and a cursor that left is sent as gone.
func TestEncodeCursors(t *testing.T) {
	pos := map[uint32][2]uint16{}
	dirty := map[uint32]bool{}
	for i := range uint32(cursorsPerDatagram + 1) {
		pos[i] = [2]uint16{uint16(i), 1}
		dirty[i] = true
	}
	dirty[9999] = true // left
	out := encodeCursors(pos, dirty)
	if len(out) != 2 || len(out[0]) != cursorsPerDatagram*cursorEntry || len(out[1]) != 2*cursorEntry {
		t.Fatalf("%d datagrams (%d, …), want 2 of %d and %d bytes", len(out), len(out[0]), cursorsPerDatagram*cursorEntry, 2*cursorEntry)
	}
	gone := false
	for _, d := range out {
		if len(d) > 1100 {
			t.Fatalf("datagram of %d bytes", len(d))
		}
		for o := 0; o < len(d); o += 8 {
			if binary.BigEndian.Uint32(d[o:]) == 9999 {
				gone = binary.BigEndian.Uint32(d[o+4:]) == 0xffffffff
			}
		}
	}
	if !gone {
		t.Fatal("the cursor that left is not sent as gone")
	}
	if n := len(encodeCursors(pos, nil)); n != 2 {
		t.Fatalf("everyone: %d datagrams, want 2", n)
	}
}
