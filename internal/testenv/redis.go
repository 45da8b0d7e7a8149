package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redis is a redis-server started by [StartRedis] on a loopback port, with
// persistence off. The test's cleanup stops it. Safe for concurrent use.
type Redis struct {
	// Addr is "127.0.0.1:port"; it stays the same across Restart.
	Addr string

	t    testing.TB
	path string
	port int
	dir  string

	mu     sync.Mutex // protects cmd and exited
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// StartRedis starts redis-server on a free loopback port (no RDB, no AOF,
// its files in a temp dir) and waits until it answers PING. A missing
// redis-server skips or fails the test, see [NeedProgram].
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{t: t, path: NeedProgram(t, "redis-server"), dir: t.TempDir()}
	r.port = FreePort(t)
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	if err := r.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

func (r *Redis) start() error {
	cmd := exec.Command(r.path, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--loglevel", "warning")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ping(r.Addr) {
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited before answering PING (%v): %s", waitErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within 15s: %s", r.Addr, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	return nil
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Kill stops the server abruptly (SIGKILL), as a crash would, and waits for
// it to exit. Its data is gone: persistence is off. Killing a stopped
// server does nothing.
func (r *Redis) Kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts a stopped (killed) server again on the same port and
// waits until it answers PING; the test fails if it cannot. Another
// process may take the port in between; that fails the test too.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	if err := r.start(); err != nil {
		r.t.Fatalf("testenv: restart redis-server: %v", err)
	}
}

// Stop kills the server and waits for it; the test's cleanup calls it.
// Idempotent.
func (r *Redis) Stop() { r.Kill() }
