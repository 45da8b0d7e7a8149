//go:build !unix

package sse

import "net"

// inlineWriter is unix-only: elsewhere every event goes through a writer
// goroutine.
type inlineWriter struct{}

func newInlineWriter(net.Conn) *inlineWriter { return nil }

func (*inlineWriter) write([]byte) (int, error) { return 0, nil }
