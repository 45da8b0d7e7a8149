package wanem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace and TUN device this package
// creates; nothing without it is ever touched.
const Prefix = "wanem-"

// netnsDir is where named namespaces are bind-mounted (as `ip netns` does).
const netnsDir = "/var/run/netns"

// ErrUnavailable is returned by [New] when the machine cannot run the
// emulator: it needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and
// /dev/net/tun. Run as root, or skip what needs it.
var ErrUnavailable = errors.New("wanem: the WAN emulator needs root and /dev/net/tun")

// ErrClosed is returned for a [Link] that has been closed.
var ErrClosed = errors.New("wanem: link closed; create a new one with wanem.New")

// Available reports why the emulator cannot run here, or nil if it can.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: running as uid %d", ErrUnavailable, os.Geteuid())
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	f.Close()
	return nil
}

// Options configures [New]. Nil is valid: every field has a default.
type Options struct {
	// HostA makes side A the calling process's own network namespace
	// instead of a new one: its TUN device and the routes to the link's
	// two /64 (IPv6) and /30 (IPv4) subnets are added there, so code that
	// dials on goroutines it owns (an httpx client, a quic-go transport)
	// needs no namespace switching. The device and its routes disappear
	// with the process. Defaults to false (two new namespaces).
	HostA bool
	// AtoB and BtoA are the initial shapes of each direction; change them
	// later with [Link.SetShape]. Default to the zero Shape (no delay).
	AtoB, BtoA Shape
	// MTU of both TUN devices. Defaults to 1500; below 1280 is rejected
	// (IPv6's minimum).
	MTU int
	// NoCompensation turns off the calibration that New runs: it measures
	// how much longer than a 10 ms setting the fastest of 10 UDP round
	// trips takes (the forwarder's and the sockets' own latency, mostly
	// waking idle threads: 0.2–0.6 ms here) and subtracts half of the
	// excess from each direction's Delay, so that an application measures
	// the RTT it set, never less. Defaults to false (compensate).
	NoCompensation bool
	// Seed seeds the loss and jitter generators, for repeatable runs.
	// Defaults to 0, a random seed.
	Seed uint64
}

// Direction names one direction of a [Link].
type Direction int

const (
	AtoB Direction = 1 << iota // packets from side A to side B
	BtoA                       // packets from side B to side A
	Both = AtoB | BtoA
)

// Link is an emulated network path between two sides, each with a TUN
// device, IPv6 and IPv4 addresses, and its own network namespace (side A
// may share the calling process's, see [Options].HostA). Packets between
// them pass through this process, shaped per direction.
type Link struct {
	name string
	A, B *Side
	ab   *pipe
	ba   *pipe

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error
}

// Side is one end of a [Link].
type Side struct {
	// Name is the namespace name, for `ip netns exec NAME …`; empty when
	// the side is the host's namespace.
	Name string
	// Dev is the TUN device's name in the namespace.
	Dev string
	// Addr6 and Addr4 are the side's addresses.
	Addr6, Addr4 netip.Addr

	ns   netns.NsHandle
	host bool
	tun  *os.File

	mu    sync.Mutex // protects extra and ns against Close
	extra int        // addresses added by AddAddr
}

var seq atomic.Uint32

// New creates a link. The caller must Close it; stale namespaces left by
// processes that died without closing theirs are removed first.
func New(opts *Options) (*Link, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MTU == 0 {
		o.MTU = 1500
	}
	if o.MTU < 0 {
		return nil, negative("Options.MTU", o.MTU)
	}
	if o.MTU < 1280 || o.MTU > 65535 {
		return nil, fmt.Errorf("wanem: Options.MTU %d is outside [1280, 65535]", o.MTU)
	}
	ab, err := o.AtoB.check()
	if err != nil {
		return nil, fmt.Errorf("AtoB: %w", err)
	}
	ba, err := o.BtoA.check()
	if err != nil {
		return nil, fmt.Errorf("BtoA: %w", err)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	RemoveStale()

	pid := os.Getpid()
	n := seq.Add(1)
	l := &Link{name: fmt.Sprintf("%s%d-%d", Prefix, pid, n)}
	// A /64 and a /30 unique to this process and link: fd77:<pid>:<n>::/64
	// and a /30 of 198.18.0.0/15 (RFC 2544's benchmarking range).
	var p6 [16]byte
	p6[0], p6[1] = 0xfd, 0x77
	binary.BigEndian.PutUint32(p6[2:], uint32(pid))
	binary.BigEndian.PutUint16(p6[6:], uint16(n))
	idx := (uint32(pid)*64 + n) % (1 << 15) // 32768 /30s in the /15
	v4 := uint32(198<<24|18<<16) + idx*4
	mk := func(side string, host6, host4 byte) *Side {
		s := &Side{Name: l.name + "-" + side, Dev: "wan0", host: o.HostA && side == "a"}
		a6 := p6
		a6[15] = host6
		s.Addr6 = netip.AddrFrom16(a6)
		var a4 [4]byte
		binary.BigEndian.PutUint32(a4[:], v4+uint32(host4))
		s.Addr4 = netip.AddrFrom4(a4)
		if s.host {
			s.Name = ""
			s.Dev = fmt.Sprintf("wn%d-%d", pid, n)
			if len(s.Dev) > 15 {
				s.Dev = fmt.Sprintf("wn%x", uint32(pid)<<8|n&0xff)
			}
		}
		return s
	}
	l.A, l.B = mk("a", 1, 1), mk("b", 2, 2)
	for _, s := range []*Side{l.A, l.B} {
		if err := s.create(o.MTU); err != nil {
			l.teardown()
			return nil, err
		}
	}
	seed := o.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	l.ab = newPipe(l.A.tun, l.B.tun, o.MTU, seed, ab)
	l.ba = newPipe(l.B.tun, l.A.tun, o.MTU, seed+1, ba)
	l.ab.start()
	l.ba.start()
	if !o.NoCompensation {
		if err := l.calibrate(); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// create makes the side's namespace (unless it is the host's), its TUN
// device, addresses and routes.
func (s *Side) create(mtu int) error {
	err := lockedDo(func() error {
		if s.host {
			h, err := netns.Get()
			if err != nil {
				return err
			}
			s.ns = h
		} else {
			if err := os.MkdirAll(netnsDir, 0o755); err != nil {
				return err
			}
			h, err := netns.NewNamed(s.Name) // switches this thread into it
			if err != nil {
				return fmt.Errorf("create namespace %s: %w", s.Name, err)
			}
			s.ns = h
		}
		f, err := openTUN(s.Dev)
		if err != nil {
			return err
		}
		s.tun = f
		if !s.host {
			// No router solicitations or MLD reports: the link carries
			// only what the caller sends.
			for _, k := range []string{"all", "default", s.Dev} {
				os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/router_solicitations", []byte("0"), 0)
				os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/accept_ra", []byte("0"), 0)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(s.ns)
	if err != nil {
		return fmt.Errorf("wanem: netlink in %s: %w", s.Name, err)
	}
	defer h.Close()
	lk, err := h.LinkByName(s.Dev)
	if err != nil {
		return fmt.Errorf("wanem: find %s: %w", s.Dev, err)
	}
	if err := h.LinkSetMTU(lk, mtu); err != nil {
		return fmt.Errorf("wanem: set MTU: %w", err)
	}
	for _, a := range []struct {
		ip   netip.Addr
		bits int
	}{{s.Addr6, 64}, {s.Addr4, 30}} {
		pfx := netip.PrefixFrom(a.ip, a.bits)
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.ip.AsSlice(), Mask: net.CIDRMask(a.bits, a.ip.BitLen())}}
		if a.ip.Is6() {
			addr.Flags = unix.IFA_F_NODAD // usable at once, no 1s tentative state
		}
		if err := h.AddrAdd(lk, addr); err != nil {
			return fmt.Errorf("wanem: add %v to %s: %w", pfx, s.Dev, err)
		}
	}
	if err := h.LinkSetUp(lk); err != nil {
		return fmt.Errorf("wanem: set %s up: %w", s.Dev, err)
	}
	if !s.host {
		if lo, err := h.LinkByName("lo"); err == nil {
			h.LinkSetUp(lo)
		}
	}
	return nil
}

// openTUN creates a TUN device (no packet information header) in the
// calling thread's namespace. The device lives as long as the file.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: open /dev/net/tun: %v", ErrUnavailable, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wanem: TUNSETIFF %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tun:"+name), nil // non-blocking: uses the poller
}

// SetShape replaces the shape of one or both directions; packets already
// queued keep the shape they were admitted under.
func (l *Link) SetShape(d Direction, s Shape) error {
	if l.closed.Load() {
		return ErrClosed
	}
	c, err := s.check()
	if err != nil {
		return err
	}
	if d&AtoB != 0 {
		l.ab.shape.Store(&c)
	}
	if d&BtoA != 0 {
		c2 := c
		l.ba.shape.Store(&c2)
	}
	return nil
}

// Shape returns the current shape of one direction (AtoB or BtoA).
func (l *Link) Shape(d Direction) Shape {
	if d == BtoA {
		return *l.ba.shape.Load()
	}
	return *l.ab.shape.Load()
}

// Counters returns one direction's counters (AtoB or BtoA).
func (l *Link) Counters(d Direction) Counters {
	if d == BtoA {
		return l.ba.c.snapshot()
	}
	return l.ab.c.snapshot()
}

// Overhead is the forwarding latency New measured and compensates for,
// per direction (zero with Options.NoCompensation).
func (l *Link) Overhead() time.Duration { return time.Duration(l.ab.comp.Load()) }

// calibrate measures the zero-delay round trip and sets the compensation.
func (l *Link) calibrate() error {
	const probe = 10 * time.Millisecond
	saveAB, saveBA := *l.ab.shape.Load(), *l.ba.shape.Load()
	defer func() {
		l.ab.shape.Store(&saveAB)
		l.ba.shape.Store(&saveBA)
	}()
	s := Shape{Delay: probe / 2}
	l.ab.shape.Store(&s)
	l.ba.shape.Store(&s)
	a, b, bAddr, err := l.udpPair()
	if err != nil {
		return err
	}
	defer a.Close()
	// The fastest of the probes: what the forwarder and the sockets add
	// at the least. Compensating more (a median taken while the machine
	// is busy) would make the link faster than its setting later.
	least, err := echoMin(a, b, bAddr, 10, time.Second)
	if err != nil {
		return fmt.Errorf("wanem: calibrate (A→B %+v, B→A %+v): %w", l.Counters(AtoB), l.Counters(BtoA), err)
	}
	half := min(max(least-probe, 0)/2, 2*time.Millisecond)
	l.ab.comp.Store(int64(half))
	l.ba.comp.Store(int64(half))
	return nil
}

// Name is the link's name, the prefix of its namespaces' names.
func (l *Link) Name() string { return l.name }

// Close stops forwarding and removes the TUN devices and namespaces.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.closeErr = l.teardown()
	})
	return l.closeErr
}

func (l *Link) teardown() error {
	var errs []error
	for _, s := range []*Side{l.A, l.B} {
		if s != nil && s.tun != nil {
			s.tun.Close() // ends the reader; the device goes with it
		}
	}
	for _, p := range []*pipe{l.ab, l.ba} {
		if p != nil {
			p.close()
		}
	}
	for _, s := range []*Side{l.A, l.B} {
		if s == nil {
			continue
		}
		s.mu.Lock()
		if s.ns.IsOpen() {
			s.ns.Close()
		}
		s.mu.Unlock()
		if !s.host && s.Name != "" {
			if err := netns.DeleteNamed(s.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("wanem: delete namespace %s: %w", s.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// RemoveStale deletes namespaces named by this package for processes that
// are no longer alive (a run that crashed or was killed). It returns the
// names removed.
func RemoveStale() []string {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, Prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if netns.DeleteNamed(name) == nil {
			removed = append(removed, filepath.Join(netnsDir, name))
		}
	}
	return removed
}

func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
