// Package leakcheck finds goroutines that tests leave running.
//
// It is the repository's own small version of the usual goroutine-leak
// check, kept in the standard library so that a program importing one
// wirespeed package does not find a test-only module in its module graph
// (go mod tidy records the modules that the tests of imported packages
// need). A package's TestMain calls [VerifyTestMain]; a test that checks
// one operation takes a [Snapshot] first and calls [Find] with it after.
//
// Goroutines get a while to finish: Find retries for up to [Wait] before it
// reports the ones still running, with their stacks.
package leakcheck

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// Wait is how long Find lets goroutines finish before it reports them.
const Wait = 5 * time.Second

// A Set is the goroutines running at one moment, by ID.
type Set map[string]bool

// Snapshot returns the goroutines running now, for [Find] to ignore.
func Snapshot() Set {
	s := Set{}
	for _, g := range goroutines() {
		s[g.id] = true
	}
	return s
}

// Find returns an error listing the goroutines running now that are not
// the caller, not in ignore, and not the testing package's or the runtime's
// own; nil when there are none. It retries for up to [Wait] first.
func Find(ignore Set) error { return find(ignore, Wait) }

func find(ignore Set, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		leaked := leaked(ignore)
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			fmt.Fprintf(&b, "%d goroutine(s) still running:", len(leaked))
			for _, g := range leaked {
				b.WriteString("\n\n")
				b.WriteString(g.stack)
			}
			return fmt.Errorf("%s", b.String())
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// VerifyTestMain runs the tests and, when they pass, fails the binary if
// goroutines are still running after them.
func VerifyTestMain(m interface{ Run() int }) {
	code := m.Run()
	if code == 0 {
		if err := Find(nil); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: the tests passed but left goroutines behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Check fails t, at its end, if goroutines started during t still run.
// Tests that run in parallel with others cannot use it.
func Check(t testing.TB) {
	t.Helper()
	before := Snapshot()
	t.Cleanup(func() {
		if err := Find(before); err != nil {
			t.Error(err)
		}
	})
}

type goroutine struct {
	id    string
	state string // "chan receive", "select", "IO wait, 2 minutes", ...
	top   string // the function running, as "pkg.Func"
	stack string
}

func leaked(ignore Set) []goroutine {
	all := goroutines()
	var out []goroutine
	for i, g := range all {
		if i == 0 || ignore[g.id] || expected(g) {
			continue // the first is the caller
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// expected reports whether g belongs to the testing package or to the
// runtime's signal handling rather than to the code under test.
func expected(g goroutine) bool {
	switch g.top {
	case "testing.RunTests", "testing.(*T).Run", "testing.(*T).Parallel",
		"testing.runFuzzing", "testing.runFuzzTests":
		return true // waiting for subtests or for the serial tests to finish
	case "os/signal.signal_recv", "os/signal.loop":
		return true
	}
	return strings.Contains(g.stack, "runtime.ensureSigM") ||
		strings.Contains(g.stack, "runtime/trace.Start.func1")
}

// goroutines parses runtime.Stack's dump of every goroutine; the caller's
// comes first.
func goroutines() []goroutine {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, block := range bytes.Split(buf, []byte("\n\n")) {
		if g, ok := parse(string(block)); ok {
			out = append(out, g)
		}
	}
	return out
}

// parse reads one goroutine's block: "goroutine 7 [chan receive]:", then a
// function line and a file line per frame, then "created by ...".
func parse(block string) (goroutine, bool) {
	header, rest, _ := strings.Cut(block, "\n")
	header, ok := strings.CutPrefix(header, "goroutine ")
	if !ok {
		return goroutine{}, false
	}
	id, state, ok := strings.Cut(header, " [")
	if !ok {
		return goroutine{}, false
	}
	state = strings.TrimSuffix(state, "]:")
	fn, _, _ := strings.Cut(rest, "\n")
	if i := strings.LastIndexByte(fn, '('); i > 0 {
		fn = fn[:i] // drop the arguments
	}
	return goroutine{id: id, state: state, top: fn, stack: block}, true
}
