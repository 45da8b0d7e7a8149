package ws

import (
	"net"
	"time"
)

// Parsers of untrusted input, for the fuzz tests.
var (
	ParseClientControl = parseClientControl
	ParseServerControl = parseControl
)

// CorkConn exposes the batching connection wrapper to the tests.
type CorkConn struct{ c *corkConn }

func NewCorkConn(c net.Conn, frames bool) *CorkConn {
	cc := newCorkConn(c)
	cc.frames = frames
	return &CorkConn{cc}
}

func (c *CorkConn) Cork()                                { c.c.cork() }
func (c *CorkConn) Uncork() error                        { return c.c.uncork(time.Now().Add(10 * time.Second)) }
func (c *CorkConn) Write(p []byte) (int, error)          { return c.c.Write(p) }
func (c *CorkConn) AppendFrame(typ byte, p []byte) error { return c.c.appendFrame(typ, p) }
func (c *CorkConn) Kill()                                { c.c.kill() }
func (c *CorkConn) Close() error                         { return c.c.Close() }

// Pending returns the bytes collected and not yet written.
func (c *CorkConn) Pending() int {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	return int(c.c.queued - c.c.written)
}

// SetCorkWriteHook makes the connections h accepts from now on pass every
// Write coder/websocket makes to f.
func SetCorkWriteHook(h *Hub, f func(p []byte)) { h.corkHook.Store(&f) }

// WriterRunning reports whether c has a writer goroutine.
func (c *Conn) WriterRunning() bool { return c.writerOn.Load() }
