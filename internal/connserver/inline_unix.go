//go:build unix

package connserver

import (
	"net"
	"syscall"
)

// RawConn returns the socket under nc for non-blocking writes, nil when
// there is none to write to directly (a TLS connection is a syscall.Conn
// only through its NetConn).
func RawConn(nc net.Conn) syscall.RawConn {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// InlineWriter makes one non-blocking write attempt on a socket, so a
// fan-out can write to a connection without waking a writer goroutine and
// never waits for a slow client. One belongs to one goroutine at a time
// (a fan-out, the clock); the zero value is not ready: use NewInlineWriter.
type InlineWriter struct {
	fn  func(fd uintptr) bool // made once: a closure per call would allocate
	buf []byte
	n   int
	err error
}

// NewInlineWriter returns a writer, nil where inline writes are not
// supported.
func NewInlineWriter() *InlineWriter {
	w := &InlineWriter{}
	w.fn = func(fd uintptr) bool {
		w.n, w.err = syscall.Write(int(fd), w.buf)
		return true // never wait for the socket: the writer goroutine does
	}
	return w
}

// Write writes what the socket takes now: n < len(b) when it is full (or
// failed, with err).
func (w *InlineWriter) Write(rc syscall.RawConn, b []byte) (n int, err error) {
	w.buf = b
	err = rc.Write(w.fn) // fails when the fd is closed or a write deadline passed
	w.buf = nil
	if err != nil {
		return 0, err
	}
	return max(w.n, 0), w.err
}
