package wanem_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newLink creates a link for a test, or skips (fails under
// WIRESPEED_INTEGRATION=require) where the emulator cannot run.
func newLink(t *testing.T, o *wanem.Options) *wanem.Link {
	t.Helper()
	if err := wanem.Available(); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	l, err := wanem.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

func TestWanShapeValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     wanem.Shape
		ok    bool
		field string
	}{
		{"zero", wanem.Shape{}, true, ""},
		{"typical", wanem.Shape{Delay: 25 * time.Millisecond, Loss: 0.02, Rate: 1e6}, true, ""},
		{"negative delay", wanem.Shape{Delay: -1}, false, "Delay is negative (-1ns)"},
		{"negative jitter", wanem.Shape{Jitter: -1}, false, "Jitter is negative"},
		{"loss above 1", wanem.Shape{Loss: 1.5}, false, "Loss"},
		{"loss NaN", wanem.Shape{Loss: math.NaN()}, false, "Loss"},
		{"negative rate", wanem.Shape{Rate: -1}, false, "Rate is negative"},
		{"negative queue", wanem.Shape{QueueLimit: -1}, false, "QueueLimit is negative"},
		{"negative UDP delay", wanem.Shape{UDPDelay: -1}, false, "UDPDelay is negative"},
		{"bad burst", wanem.Shape{Burst: &wanem.GilbertElliott{P: 2}}, false, "Burst.P"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wanem.CheckShape(tc.s)
			if (err == nil) != tc.ok {
				t.Fatalf("check: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "wanem: Shape."+tc.field) {
				t.Errorf("error %q does not name Shape.%s", err, tc.field)
			}
		})
	}
	s, _ := wanem.CheckShape(wanem.Shape{Rate: 8e6})
	if s.QueueLimit != 100_000 {
		t.Errorf("default QueueLimit at 8 Mbit/s = %d, want 100000 (100ms)", s.QueueLimit)
	}
}

func packets(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 100)
		b[0] = 0x60 // IPv6, next header 0 (not UDP)
		b[8], b[9] = byte(i>>8), byte(i)
		out[i] = b
	}
	return out
}

func TestWanPipeLoss(t *testing.T) {
	const n = 10000
	for _, tc := range []struct {
		name string
		s    wanem.Shape
		want float64
	}{
		{"none", wanem.Shape{}, 0},
		{"random 5%", wanem.Shape{Loss: 0.05}, 0.05},
		{"burst 5% runs of 4", wanem.Shape{Burst: wanem.BurstLoss(0.05, 4)}, 0.05},
		{"random 1% + burst 2%", wanem.Shape{Loss: 0.01, Burst: wanem.BurstLoss(0.02, 3)}, 1 - 0.99*0.98},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, c, err := wanem.RunPipe(tc.s, 42, packets(n), 0)
			if err != nil {
				t.Fatal(err)
			}
			got := 1 - float64(len(out))/n
			if math.Abs(got-tc.want) > 0.01 {
				t.Errorf("lost %.2f%%, want %.2f%% ±1 point", got*100, tc.want*100)
			}
			if c.Packets != n || c.Forwarded != int64(len(out)) || c.Forwarded+c.Dropped() != n {
				t.Errorf("counters %+v do not add up for %d packets, %d out", c, n, len(out))
			}
		})
	}
}

func TestWanBurstLossComesInRuns(t *testing.T) {
	const n = 10000
	runs := func(s wanem.Shape) float64 {
		out, _, err := wanem.RunPipe(s, 7, packets(n), 0)
		if err != nil {
			t.Fatal(err)
		}
		// Mean run length of consecutive missing packet numbers.
		lost, bursts, next := 0, 0, 0
		for _, b := range out {
			i := int(b[8])<<8 | int(b[9])
			if i > next {
				lost += i - next
				bursts++
			}
			next = i + 1
		}
		return float64(lost) / float64(max(bursts, 1))
	}
	if r, b := runs(wanem.Shape{Loss: 0.05}), runs(wanem.Shape{Burst: wanem.BurstLoss(0.05, 5)}); b < 2*r {
		t.Errorf("mean loss run: random %.2f packets, Gilbert–Elliott %.2f; want bursty runs at least twice as long", r, b)
	}
}

func TestWanJitterKeepsOrder(t *testing.T) {
	out, _, err := wanem.RunPipe(wanem.Shape{Delay: 2 * time.Millisecond, Jitter: 2 * time.Millisecond}, 1, packets(200), 50*time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range out {
		if got := int(b[8])<<8 | int(b[9]); got != i {
			t.Fatalf("packet %d left as %d: jitter without Reorder reordered packets", got, i)
		}
	}
}

func TestWanQueueLimitDrops(t *testing.T) {
	// 100 packets of 100 bytes arrive at once on a 1 Mbit/s link with room
	// for 10 of them: the rest are tail-dropped.
	out, c, err := wanem.RunPipe(wanem.Shape{Rate: 1e6, QueueLimit: 1000}, 1, packets(100), 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.QueueDrops == 0 || len(out) >= 100 || len(out) < 10 {
		t.Errorf("forwarded %d, queue drops %d; want between 10 and 99 forwarded and the rest dropped", len(out), c.QueueDrops)
	}
}

func TestWanBlockUDP(t *testing.T) {
	pk := packets(10)
	for i := range 5 {
		pk[i][6] = 17 // UDP
	}
	out, c, err := wanem.RunPipe(wanem.Shape{BlockUDP: true}, 1, pk, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 5 || c.Filtered != 5 {
		t.Errorf("forwarded %d, filtered %d; want 5 and 5", len(out), c.Filtered)
	}
}

// TestWanLink runs real traffic across a link: a TCP connect cannot
// complete in less than one emulated round trip (less the forwarding
// latency the link compensates for), and the counters see it.
func TestWanLink(t *testing.T) {
	for _, host := range []bool{false, true} {
		t.Run(map[bool]string{false: "two-namespaces", true: "host-a"}[host], func(t *testing.T) {
			const rtt = 30 * time.Millisecond
			l := newLink(t, &wanem.Options{HostA: host, AtoB: wanem.Symmetric(rtt, 0), BtoA: wanem.Symmetric(rtt, 0)})
			ln, err := l.B.Listen("tcp", netip.AddrPortFrom(l.B.Addr6, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					_, err = c.Write([]byte("hi"))
					c.Close()
				}
				accepted <- err
			}()
			start := time.Now()
			c, err := l.A.DialContext(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			buf := make([]byte, 2)
			if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
				t.Fatalf("read %q, %v", buf, err)
			}
			c.Close()
			if err := <-accepted; err != nil {
				t.Fatal(err)
			}
			if floor := rtt - 2*l.Overhead(); took < floor {
				t.Errorf("TCP connect took %v, less than the emulated round trip %v", took, floor)
			}
			ab, ba := l.Counters(wanem.AtoB), l.Counters(wanem.BtoA)
			if ab.Forwarded < 3 || ba.Forwarded < 2 {
				t.Errorf("counters A→B %+v, B→A %+v: want the connection's packets", ab, ba)
			}
			// Over IPv4 as well.
			c4, err := l.A.DialContext(context.Background(), "tcp", netip.AddrPortFrom(l.B.Addr4, 9).String())
			if err == nil {
				c4.Close()
				t.Error("dial to a closed IPv4 port succeeded")
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("IPv4 dial: %v, want connection refused (the link carries IPv4)", err)
			}
		})
	}
}

// TestWanAddAddr checks that a side can gain an address, reach the other
// side from it, and lose it again.
func TestWanAddAddr(t *testing.T) {
	l := newLink(t, nil)
	ln, err := l.B.Listen("tcp", netip.AddrPortFrom(l.B.Addr6, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr, err := l.A.AddAddr()
	if err != nil {
		t.Fatal(err)
	}
	if addr == l.A.Addr6 || !netip.PrefixFrom(l.A.Addr6, 64).Contains(addr) {
		t.Fatalf("AddAddr returned %v, want a new address in %v/64", addr, l.A.Addr6)
	}
	dial := func() error {
		return l.A.Do(func() error {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0))}
			c, err := d.Dial("tcp", ln.Addr().String())
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	if err := dial(); err != nil {
		t.Fatalf("dial from the added address: %v", err)
	}
	if err := l.A.RemoveAddr(addr); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err == nil {
		t.Error("dial from a removed address succeeded")
	}
}

// TestWanSideDo checks that Do runs in the side's namespace, sees only the
// link's device there, and that a panic reaches the caller.
func TestWanSideDo(t *testing.T) {
	l := newLink(t, nil)
	var names []string
	if err := l.B.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 { // lo and wan0
		t.Errorf("interfaces in side B: %v, want lo and %s", names, l.B.Dev)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the function's panic", r)
			}
		}()
		l.A.Do(func() error { panic("boom") })
	}()
	// Start: a process on side B sees side B's address.
	out, err := func() ([]byte, error) {
		cmd := exec.Command("cat", "/proc/net/if_inet6")
		var buf []byte
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.Stdout = w
		if err := l.B.Start(cmd); err != nil {
			return nil, err
		}
		w.Close()
		buf, _ = io.ReadAll(r)
		return buf, cmd.Wait()
	}()
	if err != nil {
		t.Fatal(err)
	}
	if want := hexAddr(l.B.Addr6); !strings.Contains(string(out), want) {
		t.Errorf("a process started on side B lists addresses %q, want %s among them", out, want)
	}
}

// TestWanCleanup checks that Close removes the namespaces and that a dead
// run's namespaces are removed by the next start while others are kept.
func TestWanCleanup(t *testing.T) {
	if err := wanem.Available(); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	l, err := wanem.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := l.A.Name, l.B.Name
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{a, b} {
		if _, err := os.Stat(filepath.Join("/var/run/netns", n)); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after Close: %v", n, err)
		}
	}
	// A dead process's namespace: the pid of a command that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := wanem.Prefix + strconv.Itoa(cmd.Process.Pid) + "-1-a"
	if err := exec.Command("ip", "netns", "add", stale).Run(); err != nil {
		testenv.Unavailable(t, "ip netns add: "+err.Error())
	}
	live := wanem.Prefix + strconv.Itoa(os.Getpid()) + "-999-a" // this process: alive
	if err := exec.Command("ip", "netns", "add", live).Run(); err != nil {
		t.Fatal(err)
	}
	defer exec.Command("ip", "netns", "del", live).Run()
	removed := wanem.RemoveStale()
	if _, err := os.Stat(filepath.Join("/var/run/netns", stale)); !os.IsNotExist(err) {
		exec.Command("ip", "netns", "del", stale).Run()
		t.Errorf("stale namespace %s survived RemoveStale (removed %v)", stale, removed)
	}
	if _, err := os.Stat(filepath.Join("/var/run/netns", live)); err != nil {
		t.Errorf("RemoveStale removed %s of a live process: %v", live, err)
	}
}

// TestWanOptionsNegative checks that negative options are refused with an
// error naming the field, before anything is created.
func TestWanOptionsNegative(t *testing.T) {
	if _, err := wanem.New(&wanem.Options{MTU: -1}); err == nil || !strings.Contains(err.Error(), "wanem: Options.MTU is negative (-1)") {
		t.Errorf("New with MTU -1: %v", err)
	}
	if _, err := wanem.New(&wanem.Options{AtoB: wanem.Shape{Delay: -1}}); err == nil || !strings.Contains(err.Error(), "Shape.Delay is negative") {
		t.Errorf("New with a negative delay: %v", err)
	}
}

// TestWanSelfCheck runs a short self-check. Only the loss check is
// asserted (it counts packets); the timing checks are printed, since a
// loaded machine can miss them.
func TestWanSelfCheck(t *testing.T) {
	l := newLink(t, &wanem.Options{Seed: 3})
	for _, o := range []struct {
		opts  wanem.CheckOptions
		field string
	}{
		{wanem.CheckOptions{Probes: -1}, "CheckOptions.Probes is negative"},
		{wanem.CheckOptions{LossPackets: -1}, "CheckOptions.LossPackets is negative"},
		{wanem.CheckOptions{RateBytes: -1}, "CheckOptions.RateBytes is negative"},
		{wanem.CheckOptions{RTTs: []time.Duration{-1}}, "CheckOptions.RTTs is negative"},
		{wanem.CheckOptions{Loss: -0.5}, "CheckOptions.Loss"},
	} {
		if _, err := l.SelfCheck(context.Background(), &o.opts); err == nil || !strings.Contains(err.Error(), o.field) {
			t.Errorf("SelfCheck(%+v): %v, want an error naming %s", o.opts, err, o.field)
		}
	}
	rep, err := l.SelfCheck(context.Background(), &wanem.CheckOptions{
		RTTs: []time.Duration{20 * time.Millisecond}, Probes: 5, Rates: []int64{20e6}, RateBytes: 500_000,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Markdown())
	for _, c := range rep.Checks {
		if c.Name == "loss" && !c.OK {
			t.Errorf("loss check failed: %+v", c)
		}
	}
}

// hexAddr formats an IPv6 address as /proc/net/if_inet6 does.
func hexAddr(a netip.Addr) string { b := a.As16(); return hex.EncodeToString(b[:]) }
