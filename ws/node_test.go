package ws_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/ws"
)

// nodeClient connects with Node's ws package, subscribes through the
// control protocol, prints each event on a line and exits on close.
const nodeClient = `
const WebSocket = require('ws');
const sock = new WebSocket(process.argv[1]);
sock.on('open', () => sock.send(JSON.stringify({op: 'subscribe', topic: 'news'})));
sock.on('message', (data, isBinary) => {
  const s = data.toString();
  if (s.startsWith('{"op":"subscribed"')) { console.log('ready'); return; }
  console.log('msg ' + s);
});
sock.on('close', (code, reason) => { console.log('close ' + code + ' ' + reason.toString()); process.exit(0); });
sock.on('error', (err) => { console.log('error ' + err.message); process.exit(1); });
`

func TestNodeClient(t *testing.T) {
	node := testenv.NeedProgram(t, "node")
	modules := testenv.NodeModules(t, "ws")
	ctx := testCtx(t)
	s := newServer(t, &ws.HubOptions{ClientTopics: true, PublicTopics: []string{"news"}, OnConnect: func(context.Context, *ws.Conn) {}})

	cmd := exec.CommandContext(ctx, node, "-e", nodeClient, s.url)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(out)
	expect := func(prefix string) string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("node exited before %q: %v", prefix, lines.Err())
		}
		if l := lines.Text(); !strings.HasPrefix(l, prefix) {
			t.Fatalf("node said %q, want %q…", l, prefix)
		}
		return lines.Text()
	}
	expect("ready")
	if _, err := s.hub.Publish(ctx, "news", []byte("hello from go")); err != nil {
		t.Fatal(err)
	}
	expect("msg hello from go")
	done := make(chan error, 1)
	go func() { done <- s.hub.Shutdown(ctx) }()
	if l := expect("close 1001 "); !strings.Contains(l, "reconnect") {
		t.Fatalf("no reconnect hint in %q", l)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
