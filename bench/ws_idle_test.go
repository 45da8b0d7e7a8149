package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// idleClientEnv makes the test binary a client process for
// BenchmarkWSIdleMemory (see TestWSIdleClientProcess).
const idleClientEnv = "WIRESPEED_WS_IDLE_CLIENT"

// BenchmarkWSIdleMemory holds 10,000 idle WebSocket connections open to
// each hub in wsImpls and reports the server process's heap+stack bytes
// per connection (runtime.MemStats HeapInuse+StackInuse after a GC). The
// clients live in another process (this test binary re-executed), so the
// figure is the server's alone; the same count of plain TCP connections
// to a listener that only accepts is measured first and subtracted, so
// B/conn is what the hub adds to an accepted socket. gross-B/conn keeps
// the socket; goroutines/conn counts the hub's goroutines.
//
//	go test -run '^$' -bench WSIdleMemory -benchtime 1x .
func BenchmarkWSIdleMemory(b *testing.B) {
	raiseNoFile(b)
	const n = 10000
	for _, impl := range wsImpls {
		if impl.name == "gorilla-chat-unbatched" || (impl.name == "wirespeed" && impl.joined) { // same memory as a sibling
			continue
		}
		b.Run(fmt.Sprintf("conns=%d/%s", n, impl.name), func(b *testing.B) {
			for range b.N {
				base, _, baseStack := idleMemory(b, n, "tcp", nil)
				joined := make(chan struct{}, n)
				h, _, stop := impl.start(b, joined)
				gross, gr, stack := idleMemory(b, n, "ws", func(srv *http.Server) {
					srv.Handler = h
				}, joined)
				stop()
				b.ReportMetric(float64(gross-base)/n, "B/conn")
				b.ReportMetric(float64(gross)/n, "gross-B/conn")
				b.ReportMetric(float64(gr)/n, "goroutines/conn")
				b.ReportMetric(float64(stack-baseStack)/n, "stack-B/conn")
			}
		})
	}
}

// idleMemory serves n connections from a client process and returns the
// server's heap+stack growth and goroutine growth once they are all open
// (for "ws", once joined has received n times).
func idleMemory(b *testing.B, n int, mode string, setup func(*http.Server), joined ...chan struct{}) (mem int64, goroutines int, stack int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan struct{}, n)
	var held []net.Conn
	var srv *http.Server
	var stopServer func()
	if setup == nil { // plain TCP: accept and hold
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
				accepted <- struct{}{}
			}
		}()
		stopServer = func() {
			ln.Close()
			<-done
			for _, c := range held {
				c.Close()
			}
		}
	} else {
		srv = &http.Server{ReadHeaderTimeout: 10 * time.Second}
		setup(srv)
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(ln)
		}()
		stopServer = func() {
			srv.Close()
			<-done
		}
	}
	defer stopServer()

	before, stack0 := memInUse()
	g0 := runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWSIdleClientProcess$", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", idleClientEnv, ln.Addr(), n, mode))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close() // the client exits, closing its connections
		cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "ready" {
			ready = true
			break
		}
		fmt.Fprintln(os.Stderr, sc.Text())
	}
	if !ready {
		b.Fatal("client process did not get ready")
	}
	go io.Copy(io.Discard, stdout)
	wait := accepted
	if len(joined) > 0 {
		wait = joined[0]
	}
	for range n {
		<-wait
	}
	// Let every accepted connection's goroutines settle into their wait.
	time.Sleep(200 * time.Millisecond)
	after, stack1 := memInUse()
	if path := os.Getenv("WIRESPEED_WS_IDLE_HEAPPROFILE"); path != "" && mode == "ws" {
		// With -memprofilerate 1: where the idle connections' bytes are.
		if f, err := os.Create(path); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	return after - before, runtime.NumGoroutine() - g0, stack1 - stack0
}

// memInUse returns heap+stack bytes in use, and stack bytes alone.
func memInUse() (total, stack int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse), int64(ms.StackInuse)
}

// TestWSIdleClientProcess is the client side of BenchmarkWSIdleMemory,
// run in a separate process; it skips unless the environment asks for it.
// It opens n connections ("ws": coder/websocket clients that answer pings
// and read nothing else; "tcp": bare connections), prints "ready", and
// holds them until stdin closes.
func TestWSIdleClientProcess(t *testing.T) {
	spec := os.Getenv(idleClientEnv)
	if spec == "" {
		t.Skip("client process of BenchmarkWSIdleMemory")
	}
	raiseNoFile(t)
	f := strings.Fields(spec)
	addr, mode := f[0], f[2]
	n, _ := strconv.Atoi(f[1])
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	ctx := context.Background()
	for range n {
		if mode != "ws" {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			closers = append(closers, func() { c.Close() })
			continue
		}
		c, _, err := websocket.Dial(ctx, "ws://"+addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.CloseRead(ctx) // answers pings
		closers = append(closers, func() { c.CloseNow() })
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}
