package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

// The ws hub with Chromium's WebSocket and across instances on Redis. The
// package's own tests, Node's ws client among them, are in ws/.

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// testCtx bounds a test, so a hang ends in a failure.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
