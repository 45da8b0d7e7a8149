package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sampleOutput = `goos: linux
BenchmarkPoolAcquireRelease/goroutines=1/wirespeed-2   	 1000	       40.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkPoolAcquireRelease/goroutines=1/puddle-2      	 1000	      100.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkPoolAcquireRelease/goroutines=1/wirespeed-2   	 1000	       60.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkPoolAcquireRelease/goroutines=1/puddle-2      	 1000	      100.0 ns/op	       0 B/op	       1 allocs/op
BenchmarkPoolAcquireRelease/goroutines=1/wirespeed-2   	 1000	       50.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkPoolAcquireRelease/goroutines=1/puddle-2      	 1000	      100.0 ns/op	       0 B/op	       1 allocs/op
BenchmarkSSEFanOut/subscribers=1000/impl=wirespeed-2   	 100	  2000 ns/op	 0 B/op	 0 allocs/op
BenchmarkSSEFanOut/subscribers=1000/impl=go-sse-2   	 100	  8000 ns/op	 0 B/op	 3 allocs/op
BenchmarkHandshake/pooled-2   	 1000	  5000 ns/op	 12.5 handshake-µs/req	 0 B/op	 0 allocs/op
PASS
`

func TestReportRatios(t *testing.T) {
	res, err := parse(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("parsed %d benchmarks, want 5", len(res))
	}
	var b strings.Builder
	writeTable(&b, res)
	out := b.String()
	for _, want := range []string{
		"| PoolAcquireRelease/goroutines=1 | puddle | 0.50× | 0 | 1 |",
		"| Handshake/pooled | 5000 | 0 | 12.5 handshake-µs/req |",
		"| SSEFanOut/subscribers=1000 | go-sse | 0.25× | 0 | 3 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
