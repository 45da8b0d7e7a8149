package bench

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines, except in the child processes that
// the idle-memory benchmarks start as load generators: they exit while
// net/http's HTTP/2 client connections are still winding down, which is
// not a leak of the code under test.
func TestMain(m *testing.M) {
	if os.Getenv("SSE_IDLE_ADDR") != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
