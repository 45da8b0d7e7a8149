// Command report runs the side-by-side benchmarks of the bench module and
// prints, for every case, wirespeed's figures next to each peer's and the
// ratio between them, as a Markdown table ready for bench/README.md.
//
//	cd bench && go run ./cmd/report                  # every benchmark
//	cd bench && go run ./cmd/report -bench Pool -count 5
//
// A comparison benchmark names the implementation in its last sub-benchmark
// segment: BenchmarkPoolAcquireRelease/goroutines=8/wirespeed next to
// …/goroutines=8/puddle (or impl=wirespeed next to impl=puddle). Benchmarks without a "wirespeed" sibling are listed
// on their own. With several -count runs the median is used.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

func main() {
	bench := flag.String("bench", ".", "`regexp` of benchmarks to run, as go test -bench")
	count := flag.Int("count", 3, "runs of each benchmark; the median is reported")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	input := flag.String("in", "", "read go test -bench output from this `file` instead of running it (- for stdin)")
	flag.Parse()

	var src io.Reader
	switch *input {
	case "":
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", *bench, "-benchmem",
			"-count", strconv.Itoa(*count), "-benchtime", *benchtime, "./...")
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fatal(err)
		}
		if err := cmd.Start(); err != nil {
			fatal(err)
		}
		defer func() {
			if err := cmd.Wait(); err != nil {
				fatal(fmt.Errorf("go test: %w", err))
			}
		}()
		src = io.TeeReader(out, os.Stderr)
	case "-":
		src = os.Stdin
	default:
		f, err := os.Open(*input)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		src = f
	}
	results, err := parse(src)
	if err != nil {
		fatal(err)
	}
	writeTable(os.Stdout, results)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}

// sample is one benchmark's measurements, one entry per -count run.
type sample struct {
	name  string // full name without the Benchmark prefix and -N suffix
	ns    []float64
	bytes []float64
	alloc []float64
	extra map[string][]float64 // metrics reported with b.ReportMetric
}

// parse reads go test -bench output, in the order benchmarks first appear.
func parse(r io.Reader) ([]*sample, error) {
	byName := map[string]*sample{}
	var order []*sample
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		s := byName[name]
		if s == nil {
			s = &sample{name: name, extra: map[string][]float64{}}
			byName[name] = s
			order = append(order, s)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch unit := f[i+1]; unit {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.alloc = append(s.alloc, v)
			default:
				s.extra[unit] = append(s.extra[unit], v)
			}
		}
	}
	return order, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeTable prints one row per peer of each case with wirespeed, and the
// remaining benchmarks below.
func writeTable(w io.Writer, results []*sample) {
	groups := map[string]map[string]*sample{}
	var cases []string
	for _, s := range results {
		i := strings.LastIndexByte(s.name, '/')
		if i < 0 {
			continue
		}
		c, impl := s.name[:i], strings.TrimPrefix(s.name[i+1:], "impl=")
		if groups[c] == nil {
			groups[c] = map[string]*sample{}
			cases = append(cases, c)
		}
		groups[c][impl] = s
	}
	shown := map[*sample]bool{}
	fmt.Fprintln(w, "| case | peer | wirespeed ns/op ÷ peer ns/op | wirespeed allocs/op | peer allocs/op |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|")
	for _, c := range cases {
		ws := groups[c]["wirespeed"]
		if ws == nil {
			continue
		}
		shown[ws] = true
		var peers []string
		for impl := range groups[c] {
			if impl != "wirespeed" {
				peers = append(peers, impl)
			}
		}
		slices.Sort(peers)
		for _, p := range peers {
			ps := groups[c][p]
			shown[ps] = true
			ratio := "n/a"
			if pn := median(ps.ns); pn > 0 {
				ratio = fmt.Sprintf("%.2f×", median(ws.ns)/pn)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %g | %g |\n", c, p, ratio, median(ws.alloc), median(ps.alloc))
		}
	}
	var rest []*sample
	for _, s := range results {
		if !shown[s] {
			rest = append(rest, s)
		}
	}
	if len(rest) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| benchmark | ns/op | allocs/op | other metrics |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, s := range rest {
		var extra []string
		units := make([]string, 0, len(s.extra))
		for u := range s.extra {
			units = append(units, u)
		}
		slices.Sort(units)
		for _, u := range units {
			extra = append(extra, fmt.Sprintf("%.4g %s", median(s.extra[u]), u))
		}
		fmt.Fprintf(w, "| %s | %.4g | %g | %s |\n", s.name, median(s.ns), median(s.alloc), strings.Join(extra, ", "))
	}
}
