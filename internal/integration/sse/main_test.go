package sse_test

import (
	"context"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
	"github.com/wirespeed/wirespeed/sse"
)

// The sse server with real clients (Node's eventsource, Chromium's
// EventSource) and across instances and restarts on Redis. The package's
// own tests are in sse/.

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// testCtx bounds a test, so a hang ends in a failure.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testWait polls cond until it holds or ctx ends.
func testWait(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition never met")
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// publish publishes each of data on topic and returns the event IDs.
func publish(t *testing.T, ctx context.Context, s *sse.Server, topic string, data ...string) []string {
	t.Helper()
	var ids []string
	for _, d := range data {
		id, err := s.Publish(ctx, topic, []byte(d))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}
