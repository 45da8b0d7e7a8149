package ws

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
)

// coder/websocket flushes its buffered writer, one write system call, at
// the end of every message. To send a batch of queued messages with one
// system call, the hub hands websocket.Accept a ResponseWriter whose
// Hijack returns the connection wrapped in a corkConn: while the
// connection's writer holds a batch (cork … uncork), what coder/websocket
// writes is collected and goes out in one write at uncork.

const (
	// readBufSize is the bufio.Reader coder/websocket reads frames through.
	// net/http's is 4 KiB and stays with the connection for its life; a
	// hub's clients send little, and larger payloads bypass the buffer.
	readBufSize = 1 << 10
	// writeBufSize is the bufio.Writer coder/websocket writes frames into;
	// it flushes into the corkConn at the end of each message, so it only
	// needs to hold a frame header and a control frame (≤ 127 bytes).
	writeBufSize = 256
	// closeFlushTimeout bounds how long Close spends writing what was
	// collected (a close frame written while the writer held a batch).
	closeFlushTimeout = time.Second
)

// corkBufs holds the batch buffers; an idle connection holds none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// corkConn is the net.Conn under coder/websocket's writer. Its methods are
// safe for concurrent use. Writes made while corked (by the connection's
// writer, or a ping or close frame from another goroutine meanwhile) are
// appended in order and written at uncork; other writes are written at
// once, after anything collected before them. Bytes are never reordered
// or dropped while the connection is healthy.
type corkConn struct {
	net.Conn

	mu      sync.Mutex // protects the fields below
	cond    sync.Cond  // broadcast when a write to Conn ends; L is &mu
	corked  bool
	writing bool    // a goroutine is writing taken bytes to Conn outside mu
	buf     *[]byte // collected, not yet taken; nil when empty
	queued  uint64  // bytes ever collected
	written uint64  // bytes taken and written (or failed)
	err     error   // first write error, or net.ErrClosed; sticky
	closed  bool
	// frames is set when the writer encodes its data frames itself
	// (appendFrame; no compression). coder/websocket then writes only
	// control frames, each ≤ 129 bytes and so one Write from its 256-byte
	// buffer: closeSent can watch them for the close frame.
	frames    bool
	closeSent bool // a close frame went into the stream: no data after it
	// stopAt, once set by stop, is the deadline of every write: the
	// connection is being dropped.
	stopAt time.Time
	hook   *func(p []byte) // tests: sees every Write
	// rc is the socket for inline writes (writeInline), nil without one
	// (TLS) or until the hub enables them (frames).
	rc syscall.RawConn
}

func newCorkConn(c net.Conn) *corkConn {
	cc := &corkConn{Conn: c}
	cc.cond.L = &cc.mu
	return cc
}

// Write collects p while corked, else writes it (with anything collected
// before it) before returning.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hook != nil {
		(*c.hook)(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.frames && len(p) > 0 && p[0]&0x0f == opClose {
		c.closeSent = true
	}
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	c.queued += uint64(len(p))
	if c.corked {
		return len(p), nil
	}
	if err := c.flushLocked(c.queued); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flushLocked returns once the bytes up to end are written, writing them
// itself unless another goroutine is. Called and returns with mu held.
func (c *corkConn) flushLocked(end uint64) error {
	for c.written < end && c.err == nil {
		if c.writing {
			c.cond.Wait()
			continue
		}
		b := c.buf
		c.buf = nil
		c.writing = true
		c.mu.Unlock()
		_, err := c.Conn.Write(*b)
		n := len(*b)
		if cap(*b) <= 64<<10 { // keep the pool's buffers small
			*b = (*b)[:0]
			corkBufs.Put(b)
		}
		c.mu.Lock()
		c.writing = false
		c.written += uint64(n)
		if err != nil && c.err == nil {
			c.err = err
		}
		c.cond.Broadcast()
	}
	if c.written < end {
		return c.err
	}
	return nil
}

const opClose = 0x8

// appendFrame collects one unmasked, final data frame (RFC 6455 §5.2)
// carrying p with opcode typ (websocket.MessageText or MessageBinary, which
// are the opcodes): what coder/websocket's Write would produce without
// compression, without its two locks and context per message. The conn
// must be corked. It fails after a close frame was written.
func (c *corkConn) appendFrame(typ byte, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.closeSent {
		return net.ErrClosed
	}
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	n := len(*c.buf)
	*c.buf = encodeFrame(*c.buf, typ, p)
	c.queued += uint64(len(*c.buf) - n)
	return nil
}

// encodeFrame appends an unmasked, final data frame carrying p with
// opcode typ to b.
func encodeFrame(b []byte, typ byte, p []byte) []byte {
	b = append(b, 0x80|typ)
	switch {
	case len(p) < 126:
		b = append(b, byte(len(p)))
	case len(p) <= 0xffff:
		b = append(b, 126, byte(len(p)>>8), byte(len(p)))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	return append(b, p...)
}

// writeInline writes fr, one whole data frame from encodeFrame, straight
// to the socket with one non-blocking write, for a fan-out that holds the
// connection's writer role (so no data is being collected or written):
// it saves waking the writer goroutine for a message. It writes only
// when nothing collected or being written is ahead of it and no close
// frame went out; mu is held across the write, so a control frame written
// meanwhile by another goroutine waits and follows the whole frame. sent
// is false when nothing was written: queue the message instead. rest is
// true when the socket took part of it: the remainder is collected, and
// the caller must start the writer, whose flushRest writes it before
// anything else.
func (c *corkConn) writeInline(w *connserver.InlineWriter, fr []byte) (sent, rest bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rc == nil || c.err != nil || c.closed || c.closeSent || c.corked || c.writing ||
		c.written != c.queued || !c.stopAt.IsZero() {
		return false, false
	}
	n, _ := w.Write(c.rc, fr) // an error other than a full socket: the writer meets it
	if n <= 0 {
		return false, false
	}
	if n == len(fr) {
		return true, false
	}
	c.buf = corkBufs.Get().(*[]byte)
	*c.buf = append(*c.buf, fr[n:]...)
	c.queued += uint64(len(fr) - n)
	return true, true
}

// flushRest writes what an inline write left collected, by deadline;
// the writer calls it when it starts. Anything else collected is written
// by whoever collected it.
func (c *corkConn) flushRest(deadline time.Time) error {
	c.mu.Lock()
	pending := c.err == nil && !c.corked && c.written < c.queued
	c.mu.Unlock()
	if !pending {
		return nil
	}
	return c.uncork(deadline)
}

// cork starts collecting writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork stops collecting and writes what was collected in one write,
// which must finish by deadline.
func (c *corkConn) uncork(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.err != nil {
		return c.err
	}
	if c.written == c.queued {
		return nil
	}
	if !c.stopAt.IsZero() {
		deadline = c.stopAt
	}
	c.Conn.SetWriteDeadline(deadline)
	err := c.flushLocked(c.queued)
	if !c.closed {
		c.Conn.SetWriteDeadline(c.stopAt) // none, unless stopped
	}
	return err
}

// stop prepares dropping the connection: reads fail at once and writes,
// the close frame among them, must finish by deadline.
func (c *corkConn) stop(deadline time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopAt = deadline
	c.Conn.SetReadDeadline(time.Unix(1, 0))
	c.Conn.SetWriteDeadline(deadline)
}

// expireReads makes reads fail from deadline on.
func (c *corkConn) expireReads(deadline time.Time) {
	c.Conn.SetReadDeadline(deadline)
}

// kill fails every write from now on and interrupts one in progress;
// collected bytes are discarded. Close then closes at once.
func (c *corkConn) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.Conn.SetWriteDeadline(time.Unix(1, 0))
}

// Close writes what was collected (say, a close frame answering the
// client's, written while the writer held a batch) within
// closeFlushTimeout, then closes the connection. Idempotent.
func (c *corkConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.corked = false
	if c.err == nil && (c.written < c.queued || c.writing) {
		c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		c.flushLocked(c.queued)
	}
	if c.err == nil {
		c.err = net.ErrClosed
	}
	for c.writing { // kill interrupted it; let it put its buffer back
		c.cond.Wait()
	}
	if c.buf != nil {
		*c.buf = (*c.buf)[:0]
		corkBufs.Put(c.buf)
		c.buf = nil
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// canHijack reports whether w, or a writer it wraps, is an http.Hijacker,
// the way coder/websocket and http.ResponseController look for one.
func canHijack(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// corkWriter is the ResponseWriter the hub passes to websocket.Accept: its
// Hijack returns the connection as a corkConn, with small buffers.
type corkWriter struct {
	http.ResponseWriter
	cork *corkConn       // set by Hijack
	hook *func(p []byte) // tests: passed to the corkConn
}

var _ http.Hijacker = (*corkWriter)(nil)

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *corkWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the underlying connection and wraps it.
func (w *corkWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	w.cork = newCorkConn(conn)
	w.cork.hook = w.hook
	// Carry over what the client sent after the handshake request (coder/
	// websocket reads the buffered bytes back out of our reader).
	n := brw.Reader.Buffered()
	pending, _ := brw.Reader.Peek(n)
	pending = bytes.Clone(pending)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), w.cork), max(readBufSize, n))
	if n > 0 {
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, errors.New("ws: hijack: cannot carry over buffered bytes")
		}
	}
	return w.cork, bufio.NewReadWriter(br, bufio.NewWriterSize(w.cork, writeBufSize)), nil
}
