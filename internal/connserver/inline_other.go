//go:build !unix

package connserver

import (
	"net"
	"syscall"
)

// Inline writes are unix-only: elsewhere every message goes through the
// connection's writer goroutine.

// RawConn returns nil: no inline writes here.
func RawConn(net.Conn) syscall.RawConn { return nil }

// InlineWriter is unused off unix.
type InlineWriter struct{}

// NewInlineWriter returns nil: no inline writes here.
func NewInlineWriter() *InlineWriter { return nil }

// Write writes nothing.
func (*InlineWriter) Write(syscall.RawConn, []byte) (int, error) { return 0, nil }
