package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkWanHandshake/rtt=20ms/tls13-2         	       3	  60301142 ns/op	         3.015 RTTs	         2.015 handshake-RTTs
BenchmarkWanHandshake/rtt=80ms/tls13-2         	       3	  60301142 ns/op	         3.015 RTTs	         2.01 handshake-RTTs
BenchmarkWanHandshake/rtt=200ms/tls13-2        	       3	  60301142 ns/op	         3.015 RTTs	         2.0 handshake-RTTs
BenchmarkWanReuse/rtt=50ms/pooled-2          	       2	  50502164 ns/op	         1.010 RTTs
BenchmarkWanReuse/rtt=50ms/new-connection-2  	       2	 151680230 ns/op	         3.034 RTTs
FAIL family WanPage: exit status 1
`

func TestParse(t *testing.T) {
	r := parse([]byte(sample))
	if v, ok := r.get("WanHandshake/rtt=80ms/tls13", "handshake-RTTs"); !ok || v != 2.01 {
		t.Errorf("handshake-RTTs = %v, %v", v, ok)
	}
	if v, ok := r.get("WanReuse/rtt=50ms/pooled", "ns/op"); !ok || v != 50502164 {
		t.Errorf("ns/op = %v, %v", v, ok)
	}
	if _, ok := r.get("WanPage/loss=0%/h2", "ns/op"); ok {
		t.Error("a benchmark that did not run has a result")
	}
}

func TestReport(t *testing.T) {
	md, charts := report(parse([]byte(sample)), "check\n", false)
	for _, want := range []string{
		"| “a new TCP+TLS 1.3 connection costs 2 RTT” | `BenchmarkWanHandshake/*/tls13` | handshake 2.02 at 20 ms, 2.01 at 80 ms, 2.00 at 200 ms RTT | **confirmed** |",
		"1.01 RTT per request pooled vs 3.03 RTT with a new connection (3.00×) | **confirmed**",
		"| “HTTP/2 replaces 6–8 connections” | `BenchmarkWanPage/loss=0%` (50 × 8 KiB, RTT 50 ms, new client per page) | " + missing,
		"pending: issue 14",
		"pending: issue 15",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if _, ok := charts["claims-handshake-vs-rtt.svg"]; !ok {
		t.Error("no handshake chart")
	}
	if svg := charts["claims-handshake-vs-rtt.svg"]; !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "TCP+TLS 1.3") {
		t.Errorf("handshake chart: %.200s", svg)
	}
}
