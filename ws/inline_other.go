//go:build !unix

package ws

import (
	"net"
	"syscall"
)

// Inline writes are unix-only: elsewhere every message goes through the
// connection's writer goroutine.

func rawConn(net.Conn) syscall.RawConn { return nil }

type inlineWriter struct{}

func newInlineWriter() *inlineWriter { return nil }

func (*inlineWriter) write(syscall.RawConn, []byte) (int, error) { return 0, nil }
