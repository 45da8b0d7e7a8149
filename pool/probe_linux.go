package pool

import (
	"fmt"
	"syscall"
)

// peek reports whether data is waiting on the socket, without consuming it
// or blocking. It returns errPeerClosed if the peer has closed the
// connection and nothing is left to read.
func peek(rc syscall.RawConn) (pending bool, err error) {
	var (
		n    int
		rerr error
	)
	cerr := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if rerr != syscall.EINTR {
				return true
			}
		}
	})
	switch {
	case cerr != nil:
		return false, fmt.Errorf("pool: connection check: %w", cerr)
	case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		return false, nil
	case rerr != nil:
		return false, fmt.Errorf("pool: connection check: %w", rerr)
	case n == 0:
		return false, errPeerClosed
	}
	return true, nil
}
