package ws

import (
	"net"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
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
	if frames {
		cc.rc = connserver.RawConn(c)
	}
	return &CorkConn{cc}
}

// WriteInline writes one data frame the way a fan-out does (offer): sent
// is false when nothing was written. What the socket did not take is then
// written the way the writer does when it starts.
func (c *CorkConn) WriteInline(typ byte, p []byte) (sent bool, err error) {
	sent, rest := c.c.writeInline(connserver.NewInlineWriter(), encodeFrame(nil, typ, p))
	if rest {
		err = c.c.flushRest(time.Now().Add(10 * time.Second))
	}
	return sent, err
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

// WriterStarts returns how many times h started a connection's writer
// goroutine.
func WriterStarts(h *Hub) uint64 { return h.writerStarts.Load() }

// WriterRunning reports whether c has a writer goroutine.
func (c *Conn) WriterRunning() bool { return c.writerOn.Load() }
