package wanem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// lockedDo runs fn on a new goroutine locked to its OS thread, saving the
// thread's network namespace first and restoring it after. If the
// namespace cannot be restored the thread is left locked, so the runtime
// ends it instead of reusing it. A panic in fn is re-raised in the caller.
func lockedDo(fn func() error) error {
	type result struct {
		err   error
		panic any
		exit  bool
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("wanem: current namespace: %w", err)}
			return
		}
		defer orig.Close()
		r := result{exit: true}
		defer func() {
			if r.exit {
				r.panic = recover()
				if r.panic == nil {
					r.err = errors.New("wanem: the function called runtime.Goexit")
				}
			}
			if err := netns.Set(orig); err != nil {
				// Leave the thread locked: the runtime discards it.
				if r.err == nil {
					r.err = fmt.Errorf("wanem: restore namespace: %w", err)
				}
			} else {
				runtime.UnlockOSThread()
			}
			done <- r
		}()
		r.err = fn()
		r.exit = false
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

// Do runs fn with the calling code's network namespace switched to the
// side's, on an OS thread of its own, and switches back after. Sockets fn
// creates (net.Listen, net.ListenPacket, net.Dial, exec.Cmd.Start's child
// process) belong to the side's namespace for their whole life, whichever
// goroutine uses them later. Goroutines fn starts do NOT run in it: create
// every listener, socket and dialed connection inside fn, then hand them to
// other goroutines. On a HostA side fn simply runs.
func (s *Side) Do(fn func() error) error {
	if s.host {
		return fn()
	}
	return lockedDo(func() error {
		s.mu.Lock()
		if !s.ns.IsOpen() {
			s.mu.Unlock()
			return ErrClosed
		}
		err := netns.Set(s.ns)
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("wanem: enter %s: %w", s.Name, err)
		}
		return fn()
	})
}

// Listen is net.Listen inside the side's namespace.
func (s *Side) Listen(network, address string) (l net.Listener, err error) {
	err = s.Do(func() error { l, err = net.Listen(network, address); return err })
	return l, err
}

// ListenPacket is net.ListenPacket inside the side's namespace.
func (s *Side) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = s.Do(func() error { c, err = net.ListenPacket(network, address); return err })
	return c, err
}

// DialContext is net.Dialer.DialContext inside the side's namespace; it
// fits http.Transport.DialContext and similar hooks.
func (s *Side) DialContext(ctx context.Context, network, address string) (c net.Conn, err error) {
	err = s.Do(func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Start starts cmd as a process whose network namespace is the side's
// (like `ip netns exec`); the caller waits for it.
func (s *Side) Start(cmd *exec.Cmd) error {
	return s.Do(cmd.Start)
}

// AddAddr adds another IPv6 address in the side's /64 to its device (the
// next host number after those added so far) and returns it: a second
// address to move a client to, as a phone moves from Wi-Fi to mobile data.
func (s *Side) AddAddr() (netip.Addr, error) {
	s.mu.Lock()
	s.extra++
	n := s.extra
	s.mu.Unlock()
	a := s.Addr6.As16()
	a[14], a[15] = byte((0x100+n)>>8), byte(n) // ::1xx, clear of the sides' ::1 and ::2
	addr := netip.AddrFrom16(a)
	return addr, s.addrChange(addr, true)
}

// RemoveAddr removes an address from the side's device; packets to it are
// no longer delivered and sockets bound to it can no longer send.
func (s *Side) RemoveAddr(addr netip.Addr) error {
	return s.addrChange(addr, false)
}

func (s *Side) addrChange(addr netip.Addr, add bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ns.IsOpen() {
		return ErrClosed
	}
	h, err := netlink.NewHandleAt(s.ns)
	if err != nil {
		return fmt.Errorf("wanem: netlink: %w", err)
	}
	defer h.Close()
	lk, err := h.LinkByName(s.Dev)
	if err != nil {
		return fmt.Errorf("wanem: find %s: %w", s.Dev, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if add {
		err = h.AddrAdd(lk, a)
	} else {
		err = h.AddrDel(lk, a)
	}
	if err != nil {
		return fmt.Errorf("wanem: change %v on %s: %w", addr, s.Dev, err)
	}
	return nil
}
