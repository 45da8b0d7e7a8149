package leakcheck

import (
	"strings"
	"testing"
)

func TestMain(m *testing.M) { VerifyTestMain(m) }

// TestFindReportsAndForgets: a goroutine started after the snapshot is
// reported with its stack; once it returns, Find is satisfied.
func TestFindReportsAndForgets(t *testing.T) {
	before := Snapshot()
	stop, done := park()
	err := find(before, 0)
	if err == nil || !strings.Contains(err.Error(), "parkedForLeakcheck") {
		t.Fatalf("Find = %v, want the parked goroutine's stack", err)
	}
	close(stop)
	<-done
	if err := Find(before); err != nil {
		t.Fatalf("after the goroutine returned: %v", err)
	}
}

// TestSnapshotIgnores: goroutines in the snapshot are not reported.
func TestSnapshotIgnores(t *testing.T) {
	stop, done := park()
	defer func() { close(stop); <-done }()
	if err := find(Snapshot(), 0); err != nil {
		t.Fatalf("a goroutine in the snapshot was reported: %v", err)
	}
}

// TestParallelParentIsExpected: the testing package's goroutines waiting
// for subtests are not leaks.
func TestParallelParentIsExpected(t *testing.T) {
	t.Run("child", func(t *testing.T) {
		if err := Find(nil); err != nil {
			t.Fatalf("testing's own goroutines were reported: %v", err)
		}
	})
}

func TestParse(t *testing.T) {
	g, ok := parse("goroutine 12 [chan receive, 3 minutes]:\ntesting.(*T).Run(0xc000, {0x5, 0x1}, 0x9)\n\t/usr/local/go/src/testing/testing.go:1\ncreated by main.f in goroutine 1")
	if !ok || g.id != "12" || g.state != "chan receive, 3 minutes" || g.top != "testing.(*T).Run" {
		t.Fatalf("parse = %+v, %v", g, ok)
	}
	if _, ok := parse("not a goroutine"); ok {
		t.Fatal("parsed a block without a header")
	}
}

// park starts a goroutine that blocks in parkedForLeakcheck until stop is
// closed, and returns once it is there.
func park() (stop, done chan struct{}) {
	stop, done = make(chan struct{}), make(chan struct{})
	parked := make(chan struct{})
	go func() {
		defer close(done)
		parkedForLeakcheck(parked, stop)
	}()
	<-parked
	return stop, done
}

//go:noinline
func parkedForLeakcheck(parked, stop chan struct{}) {
	close(parked)
	<-stop
}
