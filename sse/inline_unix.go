//go:build unix

package sse

import (
	"net"
	"syscall"
)

// inlineWriter makes one non-blocking write attempt on a socket, so a
// fan-out can write to a stream without a writer goroutine and never wait
// for a slow client. Used by whoever holds conn.writing.
type inlineWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // made once: a closure per call would allocate
	buf []byte
	n   int
	err error
}

func newInlineWriter(nc net.Conn) *inlineWriter {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	if _, plain := nc.(*net.TCPConn); !plain { // a TLS conn is a syscall.Conn only through NetConn
		if _, unix := nc.(*net.UnixConn); !unix {
			return nil
		}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &inlineWriter{rc: rc}
	w.fn = func(fd uintptr) bool {
		w.n, w.err = syscall.Write(int(fd), w.buf)
		return true // never wait for the socket: a writer goroutine does
	}
	return w
}

// write writes what the socket takes now: n < len(b) when it is full
// (or failed, with err).
func (w *inlineWriter) write(b []byte) (n int, err error) {
	w.buf = b
	err = w.rc.Write(w.fn) // fails when the fd is closed or a write deadline passed
	w.buf = nil
	if err != nil {
		return 0, err
	}
	if w.n < 0 {
		w.n = 0
	}
	return w.n, w.err
}
