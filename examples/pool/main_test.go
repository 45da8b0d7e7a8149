package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), "requests: 200 from 16 goroutines") {
		t.Errorf("output lacks the request count:\n%s", out.String())
	}
	m := regexp.MustCompile(`connections dialed: (\d+) \(MaxSize 4\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output lacks the dial count:\n%s", out.String())
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 || n > 4 {
		t.Errorf("dialed %d connections, want 1 to 4", n)
	}
}
