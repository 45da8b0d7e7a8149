// Package testenv holds helpers for tests that need a program, a free port or
// a real server.
//
// Tests that need something the machine may lack call [NeedProgram]. On a
// developer's machine a missing program skips the test with a one-line
// reason; with WIRESPEED_INTEGRATION=require in the environment (set by
// `make test` and CI) the same test fails instead, so a green CI run always
// means the integration tests really ran.
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// IntegrationEnv is the environment variable that controls what happens
// when a test's program is missing: "require" turns the skip into a failure.
const IntegrationEnv = "WIRESPEED_INTEGRATION"

// Required reports whether missing programs must fail tests rather than skip
// them (WIRESPEED_INTEGRATION=require).
func Required() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv(IntegrationEnv)), "require")
}

// NeedProgram returns the absolute path of the named program, looked up in
// PATH. When the program is missing the test is skipped with a one-line
// reason, or failed when [Required] is true.
func NeedProgram(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	Unavailable(t, name+" not found in PATH (make test installs it)")
	return ""
}

// Unavailable skips the test with reason, or fails it when [Required] is
// true. Use it for anything the test needs that the machine lacks: a program,
// a kernel feature, a network namespace.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (and %s=require is set)", reason, IntegrationEnv)
		return
	}
	t.Skip(reason)
}

// FreePort returns a TCP port on 127.0.0.1 that was free when asked. Another
// process can take it before the caller binds it, so prefer listening on
// "127.0.0.1:0" where the code under test accepts a listener; use FreePort
// for programs that must be told an address.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen on loopback: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is [FreePort] formatted as "127.0.0.1:port".
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen on loopback: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitFor polls cond every few milliseconds until it returns true, and fails
// the test if that has not happened within timeout. The timeout is a safety
// net against hangs, not an assertion about speed: pick it generously.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: gave up after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// NodeModules returns the node_modules directory that scripts/deps.sh fills,
// .deps/node/node_modules at the repository root (the directory of go.work,
// found from the test's directory), after checking that each of pkgs is
// installed there; a missing one is [Unavailable].
func NodeModules(t testing.TB, pkgs ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory: not in a wirespeed checkout")
		}
		dir = parent
	}
	modules := filepath.Join(dir, ".deps", "node", "node_modules")
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(modules, pkg)); err != nil {
			Unavailable(t, "Node package "+pkg+" not installed; run scripts/deps.sh")
		}
	}
	return modules
}
