// Package browser starts a headless Chromium for conformance tests. It is
// apart from testenv so that tests which need no browser do not link
// chromedp.
package browser

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/internal/testenv"
)

// chromiumOutputLimit bounds how much of the browser's output a failing
// test logs.
const chromiumOutputLimit = 64 << 10

// Chromium starts a headless Chromium for the test and returns a chromedp
// context bound to its first tab; run actions on it with chromedp.Run or
// chromedp.Do. It skips (or, with WIRESPEED_INTEGRATION=require, fails)
// the test when the chromium program is missing, and fails it when the
// browser does not start.
//
// The browser runs as Debian's chromium runs in a container: headless,
// without sandbox (tests run as root), GPU, QUIC, first-run UI, background
// networking, component updates or sync, and with a fresh temporary
// profile (--user-data-dir) that chromedp removes afterwards. extra
// options are appended; pass chromedp.IgnoreCertErrors for servers with
// throwaway certificates.
//
// At the end of the test the browser is closed gracefully (killed if that
// takes more than ten seconds) and the cleanup waits until the process has
// exited and chromedp's goroutines have ended, so the leak check passes. The
// returned context has no deadline of its own: a deadline on the context
// of the first Run would stop the whole browser, so bound single actions
// with context.WithTimeout on the returned context instead. The context is
// for one goroutine at a time; for parallel tabs derive more with
// chromedp.NewContext.
func Chromium(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := testenv.NeedProgram(t, "chromium")
	out := &limitedBuffer{limit: chromiumOutputLimit}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.CombinedOutput(out),
	}
	opts = append(opts, extra...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		chromedp.Cancel(cctx) // graceful close; a timeout falls through to the kill below
		cancel()
		allocCancel() // kills the process if it still runs and waits for it
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	// The first Run starts the browser; do it now so a failure to start is
	// reported here, with the browser's own words.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("testenv: start chromium: %v\n%s", err, out.String())
	}
	return ctx
}

// limitedBuffer keeps the first limit bytes written to it; chromedp writes
// from its own goroutine.
type limitedBuffer struct {
	mu    sync.Mutex // protects b
	b     strings.Builder
	limit int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.limit - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
