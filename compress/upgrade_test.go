package compress_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/compress"
)

// TestUpgradePassesThrough checks that a protocol upgrade (as a WebSocket
// handshake does it: 101, then Hijack) reaches the client through the
// middleware, and that the upgraded connection carries raw bytes.
func TestUpgradePassesThrough(t *testing.T) {
	mw, err := compress.Middleware(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		line, err := brw.ReadString('\n')
		if err != nil {
			t.Errorf("read upgraded: %v", err)
			return
		}
		io.WriteString(conn, "echo: "+line)
	})))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) // a safety net, not an assertion
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br, zstd\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("got %s with Upgrade %q, want 101 with Upgrade echo", resp.Status, resp.Header.Get("Upgrade"))
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("upgrade response has Content-Encoding %q", ce)
	}
	io.WriteString(conn, "hello\n")
	got, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(got, "echo: hello") {
		t.Fatalf("upgraded connection answered %q, %v", got, err)
	}
}
