package main

import (
	"context"
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
	for _, want := range []string{
		"List: item-00100 item-00101 item-00102 item-00103 item-00104\n",
		"Upload: 3 items stored\n",
		`Chat: "echo: hello"` + "\n",
		"Get: 2400 calls from 8 goroutines, 0 failed, one backend drained midway\n",
		"backend 1 (still serving)",
		"backend 2 (still serving)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
