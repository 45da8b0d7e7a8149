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
BenchmarkWanGrpc/rtt=50ms/stream-2   1  209518176 ns/op  4.190 RTTs  1.000 conns  209.5 total-ms
BenchmarkWanGrpc/rtt=50ms/unary-sequential-2   1  50727366414 ns/op  1015 RTTs  1.000 conns  50727 total-ms
BenchmarkWanGrpc/rtt=50ms/unary-100inflight-2  1  615233848 ns/op  12.30 RTTs  2.000 conns  615.2 total-ms
BenchmarkWanGrpc/rtt=50ms/unary-1000inflight-2 1  276418421 ns/op  5.528 RTTs  11.00 conns  276.4 total-ms
BenchmarkWanWTSetup/rtt=50ms/webtransport-2   3   103020357 ns/op   2.060 RTTs   103.0 setup-ms
BenchmarkWanWTSetup/rtt=50ms/websocket-2      3   151877148 ns/op   3.038 RTTs   151.9 setup-ms
BenchmarkWanWTSetup/rtt=50ms/auto-udp-blocked-2 3 3152712159 ns/op  63.05 RTTs  3153 setup-ms
BenchmarkWanPositions/rtt=50ms/loss=0%/webtransport-datagrams-2  1  3144078090 ns/op  1.000 delivered-frac  2500 delivered/op  25.00 p50-ms  32.80 p99-ms
BenchmarkWanPositions/rtt=50ms/loss=15%/webtransport-datagrams-2  1  4496093322 ns/op  0.8548 delivered-frac  2137 delivered/op  25.00 p50-ms  55.85 p99-ms
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
		"one server stream 210 ms (4.19 RTT); 1000 unary calls one at a time 50.7 s (242×), 100 in flight 615 ms (2.94×), 1000 in flight 276 ms (1.32×, the pool grew to 11 connections) | **qualified**: confirmed against calls one at a time",
		"`BenchmarkWanPositions` (wt server", // the row is there, without all its figures
		"`BenchmarkWanUpload` (64 MiB",
		"WebTransport 2.06 RTT (QUIC handshake + extended CONNECT), WebSocket fallback 3.04 RTT (TCP + TLS 1.3 + upgrade); Dial with UDP blocked 3153 ms (63.0 RTT) | **qualified**: WebTransport saves 0.98 RTT",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "pending") {
		t.Error("a row is still pending")
	}
	if svg := charts["claims-positions-vs-loss.svg"]; !strings.Contains(svg, "WebTransport datagrams") {
		t.Errorf("positions chart: %.200s", svg)
	}
	if _, ok := charts["claims-handshake-vs-rtt.svg"]; !ok {
		t.Error("no handshake chart")
	}
	if svg := charts["claims-handshake-vs-rtt.svg"]; !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "TCP+TLS 1.3") {
		t.Errorf("handshake chart: %.200s", svg)
	}
}
