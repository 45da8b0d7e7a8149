package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		"first request: hello over HTTP/2.0",
		"client: 100 requests: 1 over HTTP/2, 99 over HTTP/3",
		"client: 2 connections (2 TLS handshakes)",
		"client: 1 QUIC handshake,",
		"server advertised: Alt-Svc: h3=\":",
		"server: HTTP/1.1 0, HTTP/2 1, HTTP/3 99",
		"draining: /readyz answers 503",
		"server: stopped",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
