// Command claims measures the networking claims of the chapter on an
// emulated WAN (package wanem) and writes bench/CLAIMS.md with one row per
// claim (the chapter's words, our number, a verdict) and SVG charts next
// to it. It needs root and /dev/net/tun (`make claims`).
//
//	cd bench && go run ./cmd/claims              # self-check, every scenario, CLAIMS.md + SVGs
//	cd bench && go run ./cmd/claims -quick       # fewer iterations, to try the report
//	cd bench && go run ./cmd/claims -raw wan.txt # also keep the benchmarks' output
//	cd bench && go run ./cmd/claims -in wan.txt  # render from saved output
//	cd bench && go run ./cmd/claims -in wan.txt -only WanPage -raw wan2.txt  # rerun one family
//
// It first self-checks the emulator (RTT, loss, bandwidth) and prints that
// check into the report, then builds this module's test binary once, runs
// each BenchmarkWan* family with it, parses the custom metrics and
// computes the rows.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wirespeed/wirespeed/bench/wanem"
)

// family is one benchmark function and the iterations it runs with.
type family struct {
	name             string
	benchtime, quick string
}

var families = []family{
	{"WanHandshake", "10x", "3x"},
	{"WanReuse", "20x", "5x"},
	{"WanPage", "10x", "3x"},
	{"WanBulk", "2x", "1x"},
	{"WanRace", "3x", "1x"},
	{"WanCompress", "10x", "3x"},
	{"WanDNS", "50x", "10x"},
	{"WanStream", "1x", "1x"},
	{"WanMigration", "2x", "1x"},
	{"WanGrpc", "1x", "1x"},
	{"WanPositions", "3x", "1x"},
	{"WanWTSetup", "10x", "3x"},
	{"WanUpload", "1x", "1x"},
}

func main() {
	out := flag.String("out", "CLAIMS.md", "report to write; SVGs go next to it")
	in := flag.String("in", "", "render from this saved `go test -bench Wan` output instead of running the benchmarks")
	raw := flag.String("raw", "", "also save the benchmarks' output to this file")
	quick := flag.Bool("quick", false, "fewer iterations (to try the report, not to quote)")
	skipCheck := flag.Bool("skip-check", false, "skip the emulator self-check")
	only := flag.String("only", "", "comma-separated families to run (e.g. WanPage,WanBulk); with -in, the saved output of the others is kept")
	flag.Parse()
	if *only != "" {
		keep := map[string]bool{}
		for _, f := range strings.Split(*only, ",") {
			keep[strings.TrimPrefix(strings.TrimSpace(f), "Benchmark")] = true
		}
		var fs []family
		for _, f := range families {
			if keep[f.name] {
				fs = append(fs, f)
			}
		}
		families = fs
	}
	if err := run(*out, *in, *raw, *quick, *skipCheck, *only != ""); err != nil {
		fmt.Fprintln(os.Stderr, "claims:", err)
		os.Exit(1)
	}
}

func run(out, in, raw string, quick, skipCheck, only bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	check := "(self-check skipped)\n"
	if !skipCheck {
		c, err := selfCheck(ctx)
		if err != nil {
			return err
		}
		check = c
		fmt.Print(check)
	}
	check += tcpCCNote()
	var text []byte
	if in != "" {
		b, err := os.ReadFile(in)
		if err != nil {
			return err
		}
		text = b
	}
	if in == "" || only {
		// One test binary for every family: built once, so the run does
		// not depend on the source tree staying compilable meanwhile.
		tmp, err := os.MkdirTemp("", "claims-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		bin := filepath.Join(tmp, "bench.test")
		build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build the benchmarks: %w", err)
		}
		var all bytes.Buffer
		for _, f := range families {
			bt := f.benchtime
			if quick {
				bt = f.quick
			}
			fmt.Fprintf(os.Stderr, "running Benchmark%s (-benchtime %s)\n", f.name, bt)
			cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", "^Benchmark"+f.name+"$",
				"-test.benchtime", bt, "-test.count", "1", "-test.timeout", "60m")
			cmd.Env = append(os.Environ(), "WIRESPEED_INTEGRATION=require")
			cmd.Stdout = io.MultiWriter(&all, os.Stderr)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(&all, "FAIL family %s: %v\n", f.name, err)
				fmt.Fprintf(os.Stderr, "Benchmark%s failed: %v (its rows will say so)\n", f.name, err)
			}
		}
		// Later lines win in parse, so fresh results replace saved ones.
		text = append(text, all.Bytes()...)
		if raw != "" {
			if err := os.WriteFile(raw, text, 0o644); err != nil {
				return err
			}
		}
	}
	res := parse(text)
	dir := filepath.Dir(out)
	md, charts := report(res, check, quick)
	for name, svg := range charts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %d charts\n", out, len(charts))
	return nil
}

// selfCheck runs the emulator's self-check and returns it as Markdown.
func selfCheck(ctx context.Context) (string, error) {
	l, err := wanem.New(&wanem.Options{HostA: true})
	if err != nil {
		return "", err
	}
	defer l.Close()
	rep, err := l.SelfCheck(ctx, &wanem.CheckOptions{
		RTTs:  []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond},
		Rates: []int64{1e6, 10e6, 1e9},
	})
	if err != nil {
		return "", fmt.Errorf("self-check: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Emulator self-check (%s, forwarding latency compensated: %v per direction):\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), l.Overhead().Round(time.Microsecond))
	b.WriteString(rep.Markdown())
	for _, c := range rep.Checks {
		if !c.OK {
			why := "the machine was too busy to hold the setting while it was checked"
			if c.Name == "bandwidth" {
				why = "a cap the forwarder cannot reach is its CPU ceiling on this machine, or the machine was too busy"
			}
			fmt.Fprintf(&b, "\n**Self-check failed for %s %s**: figures that depend on that setting are less trustworthy (%s).\n", c.Name, c.Setting, why)
		}
	}
	return b.String(), nil
}

// results maps a benchmark name without its -GOMAXPROCS suffix to its
// metrics by unit ("ns/op", "RTTs", …).
type results map[string]map[string]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(text []byte) results {
	res := results{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			m[f[i+1]] = v
		}
		res[name] = m
	}
	return res
}

// get returns a metric, and whether it was measured.
func (r results) get(name, unit string) (float64, bool) {
	m, ok := r[name]
	if !ok {
		return 0, false
	}
	v, ok := m[unit]
	return v, ok
}

// tcpCCNote says which TCP congestion control the kernel runs: it decides
// how TCP reacts to the emulator's random loss.
func tcpCCNote() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return ""
	}
	cc := strings.TrimSpace(string(b))
	note := fmt.Sprintf("\nTCP congestion control on this machine: `%s` (net.ipv4.tcp_congestion_control; new namespaces inherit it); quic-go uses CUBIC.", cc)
	if cc == "bbr" {
		note += " BBR does not take random loss for congestion, so TCP keeps its rate under the emulator's random loss where CUBIC (most systems' default, and quic-go) backs off; the rows with loss say where that matters, and some run TCP with CUBIC as well."
	}
	return note + "\n"
}
