// Command wanem runs the emulated WAN of package wanem from a shell: it
// creates a link (two network namespaces joined through this process),
// optionally self-checks it, prints how to reach each side, and forwards
// until interrupted, or runs one command on each side and exits with the
// first command's status.
//
//	sudo go run ./wanem/cmd/wanem -rtt 80ms -loss 0.02 -check
//	sudo go run ./wanem/cmd/wanem -rtt 50ms -b 'iperf3 -s -1' -a 'iperf3 -c {B}'
//
// Each side's namespace is named in the output; `ip netns exec NAME cmd`
// runs more processes there while wanem runs. The namespaces are removed on
// exit, on SIGINT/SIGTERM, and (after a crash) by the next run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wirespeed/wirespeed/bench/wanem"
)

func main() {
	var (
		rtt      = flag.Duration("rtt", 0, "round-trip time, half in each direction")
		jitter   = flag.Duration("jitter", 0, "one-way jitter (±), in order unless -reorder")
		reorder  = flag.Bool("reorder", false, "let jittered packets overtake each other")
		loss     = flag.Float64("loss", 0, "random loss per direction, 0..1")
		burst    = flag.Float64("burst", 0, "mean loss-burst length in packets (Gilbert–Elliott); with -loss as the mean rate")
		rate     = flag.Int64("rate", 0, "bandwidth cap per direction, bit/s")
		queue    = flag.Int("queue", 0, "queue limit in bytes for -rate (default 100ms of rate, ≥64KiB)")
		blockUDP = flag.Bool("block-udp", false, "drop all UDP")
		udpDelay = flag.Duration("udp-delay", 0, "extra one-way delay for UDP")
		check    = flag.Bool("check", false, "self-check the emulator first and print the result")
		cmdA     = flag.String("a", "", "command to run on side A (sh -c); {A} and {B} become the sides' IPv6 addresses")
		cmdB     = flag.String("b", "", "command to run on side B (sh -c), started first")
	)
	flag.Parse()
	sh := wanem.Shape{Delay: *rtt / 2, Jitter: *jitter, Reorder: *reorder, Rate: *rate, QueueLimit: *queue,
		BlockUDP: *blockUDP, UDPDelay: *udpDelay}
	if *burst > 0 {
		sh.Burst = wanem.BurstLoss(*loss, *burst)
	} else {
		sh.Loss = *loss
	}
	if err := run(sh, *check, *cmdA, *cmdB); err != nil {
		fmt.Fprintln(os.Stderr, "wanem:", err)
		os.Exit(1)
	}
}

func run(sh wanem.Shape, check bool, cmdA, cmdB string) error {
	if removed := wanem.RemoveStale(); len(removed) > 0 {
		fmt.Fprintln(os.Stderr, "removed stale namespaces:", strings.Join(removed, " "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := wanem.New(&wanem.Options{AtoB: sh, BtoA: sh})
	if err != nil {
		return err
	}
	defer l.Close()
	if check {
		rep, err := l.SelfCheck(ctx, nil)
		if err != nil {
			return err
		}
		fmt.Print(rep.Markdown())
	}
	fmt.Printf("forwarding latency compensated: %v per direction\n", l.Overhead())
	fmt.Printf("side A: netns %s, %s, %s\nside B: netns %s, %s, %s\n",
		l.A.Name, l.A.Addr6, l.A.Addr4, l.B.Name, l.B.Addr6, l.B.Addr4)
	expand := func(s string) string {
		return strings.NewReplacer("{A}", l.A.Addr6.String(), "{B}", l.B.Addr6.String()).Replace(s)
	}
	start := func(side *wanem.Side, cmd string) (*exec.Cmd, error) {
		c := exec.CommandContext(ctx, "sh", "-c", expand(cmd))
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
		c.WaitDelay = time.Second
		return c, side.Start(c)
	}
	var cb *exec.Cmd
	if cmdB != "" {
		if cb, err = start(l.B, cmdB); err != nil {
			return err
		}
		defer func() { cb.Process.Signal(syscall.SIGTERM); cb.Wait() }()
	}
	if cmdA != "" {
		time.Sleep(200 * time.Millisecond) // let B's server listen
		ca, err := start(l.A, cmdA)
		if err != nil {
			return err
		}
		err = ca.Wait()
		printCounters(l)
		return err
	}
	if cmdB != "" {
		err := cb.Wait()
		printCounters(l)
		return err
	}
	fmt.Println("forwarding; ^C to stop")
	<-ctx.Done()
	printCounters(l)
	return nil
}

func printCounters(l *wanem.Link) {
	for _, d := range []struct {
		name string
		d    wanem.Direction
	}{{"A→B", wanem.AtoB}, {"B→A", wanem.BtoA}} {
		c := l.Counters(d.d)
		fmt.Printf("%s: %d packets in, %d forwarded, dropped %d (loss %d, burst %d, queue %d, filtered %d, write errors %d)\n",
			d.name, c.Packets, c.Forwarded, c.Dropped(), c.Lost, c.BurstLost, c.QueueDrops, c.Filtered, c.WriteErrors)
	}
}
