package sse

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"syscall"
	"time"

	"github.com/wirespeed/wirespeed/internal/connserver"
	"github.com/wirespeed/wirespeed/internal/sendq"
)

// On HTTP/1.1 a stream owns its connection, as ws does: the handler
// hijacks it once the stream starts and returns, so an idle stream keeps
// neither its handler goroutine, net/http's background reader, nor their
// 8 KiB of bufio buffers; one goroutine per stream reads the connection
// only to see the client leave. The response is written here, chunked as
// net/http would. A topic's fan-out writes an event straight to the
// socket when nothing is queued and the socket takes it without waiting
// (as a single-goroutine server would, but never blocking on a slow
// client); otherwise the event is queued and a writer goroutine, started
// for the backlog, writes it and exits when the queue is empty.
//
// Streams through a wrapping ResponseWriter (middleware such as compress)
// and over HTTP/2 keep the handler goroutine (see conn.run).

// rawOut is the owned connection of a hijacked stream. Its fields other
// than nc are used by whoever holds conn.writing.
type rawOut struct {
	nc         net.Conn
	rc         syscall.RawConn // nil when the connection has no non-blocking write (TLS)
	pending    []byte          // the rest of a partial inline write, written first
	finished   bool            // the last chunk was written
	readerDone chan struct{}   // closed when readLoop returns
}

// hijackable reports whether the stream can own its connection: HTTP/1.1
// and w is net/http's own ResponseWriter (a wrapper may need to see the
// body, as the compress middleware does).
func hijackable(w http.ResponseWriter, r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return false
	}
	t := reflect.TypeOf(w)
	if t.Kind() != reflect.Pointer {
		return false
	}
	t = t.Elem()
	return t.Name() == "response" && t.PkgPath() == "net/http"
}

// responseHead is the status line and headers of a hijacked stream.
func responseHead(h http.Header) []byte {
	h = h.Clone()
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Del("Connection")
	b := make([]byte, 0, 256)
	b = append(b, "HTTP/1.1 200 OK\r\n"...)
	w := appendWriter{&b}
	h.Write(w)
	b = append(b, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"...)
	return b
}

type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// hijack takes the connection and writes the response head and first.
func (c *conn) hijack(w http.ResponseWriter, first []byte) error {
	head := responseHead(w.Header())
	nc, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return err
	}
	// A client may have sent more than the request (nothing an event
	// stream reads); what net/http buffered is dropped with brw.
	_ = brw
	c.raw.nc, c.raw.rc = nc, connserver.RawConn(nc)
	b := appendChunk(head, first)
	if err := c.rawWrite(b); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// startRaw starts the reader and gives the connection to the writers
// once the stream's setup is done.
func (c *conn) startRaw() {
	c.raw.readerDone = make(chan struct{})
	go c.readLoop()
	c.writing.Store(false)
	c.kick()
}

// readLoop waits for the client to close the connection (an event stream
// sends nothing after its request) and ends the stream then.
func (c *conn) readLoop() {
	defer close(c.raw.readerDone)
	b := make([]byte, 64)
	for {
		if _, err := c.raw.nc.Read(b); err != nil {
			break
		}
	}
	c.abort(errClientGone)
}

// kick starts a writer for a hijacked stream with work and no writer.
func (c *conn) kick() {
	if c.raw != nil && c.q.Ready() && c.writing.CompareAndSwap(false, true) {
		c.s.writers.Add(1)
		go c.rawWriter()
	}
}

// enqueue queues it, then makes sure a writer takes it.
func (c *conn) enqueue(it sendqItem) error {
	err := c.q.Push(bgCtx, it)
	c.kick()
	return err
}

// offer writes chunk (one event, chunked) straight to the socket with w,
// the caller's, if nothing is queued or being written and the socket takes
// it without waiting. It returns false when the caller must queue the
// event instead.
func (c *conn) offer(w *connserver.InlineWriter, chunk []byte) bool {
	r := c.raw
	if r == nil || r.rc == nil || w == nil || !c.writing.CompareAndSwap(false, true) {
		return false
	}
	if c.q.Ready() { // queued events (or an end) go first: a writer takes them
		c.s.writers.Add(1)
		go c.rawWriter()
		return false
	}
	n, err := w.Write(r.rc, chunk)
	if err == nil && n == len(chunk) {
		c.lastWrite.Store(c.s.now())
		c.writing.Store(false)
		c.kick() // something queued meanwhile found the writing flag taken
		return true
	}
	if n > 0 {
		r.pending = append([]byte(nil), chunk[n:]...)
	}
	// The socket is full (or failed): a writer waits for it, with the
	// write deadline, and meets any error.
	c.s.writers.Add(1)
	go c.rawWriter()
	return n > 0
}

// rawWriter writes a hijacked stream's queue while it has events; it is
// started holding c.writing and gives it back when the queue is empty.
// Without inline writes (TLS) it lingers like the handler mode's writer.
func (c *conn) rawWriter() {
	defer c.s.writers.Add(-1)
	for {
		reason, end := c.drainRaw()
		if end {
			c.endRaw(reason)
			return
		}
		if c.raw.rc == nil && c.linger(nil) {
			continue
		}
		c.q.Release()
		c.writing.Store(false)
		if !c.q.Ready() || !c.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// drainRaw writes what is queued in chunks of up to maxBatch bytes. end
// is true when the stream is over.
func (c *conn) drainRaw() (reason CloseReason, end bool) {
	st := &c.s.st
	if p := c.raw.pending; p != nil {
		c.raw.pending = nil
		if err := c.rawWrite(p); err != nil {
			return c.writeFailed(err), true
		}
	}
	for {
		it, ok, err := c.q.Poll()
		if err != nil {
			if errors.Is(err, errClosedQueue) {
				b := []byte(nil)
				if bye := c.bye.Load(); bye != nil {
					b = appendChunk(nil, *bye)
				}
				c.rawWrite(append(b, lastChunk...))
				c.raw.finished = true
				return ReasonShutdown, true
			}
			return closeReason(err), true
		}
		if !ok {
			return "", false
		}
		bp := batchPool.Get().(*[]byte)
		buf := append((*bp)[:0], make([]byte, chunkHeadRoom)...)
		buf = append(buf, it.Value...)
		events, beats := c.count(it.Value)
		buf, e, b := c.appendQueued(buf)
		events, beats = events+e, beats+b
		buf = frameChunk(buf)
		err = c.rawWrite(buf)
		if cap(buf) <= 4*maxBatch {
			*bp = buf[:0]
			batchPool.Put(bp)
		}
		if err != nil {
			return c.writeFailed(err), true
		}
		st.eventsOut.Add(events)
		st.heartbeats.Add(beats)
	}
}

// writeFailed is the reason of a stream whose write failed: the queue's
// cause if it failed first (the reader saw the client leave), else the
// write's.
func (c *conn) writeFailed(err error) CloseReason {
	if qerr := c.q.Err(); qerr != nil && !errors.Is(qerr, errClosedQueue) {
		return closeReason(qerr)
	}
	return writeReason(err)
}

// rawWrite writes b within the write timeout.
func (c *conn) rawWrite(b []byte) error {
	nc := c.raw.nc
	if err := nc.SetWriteDeadline(time.Now().Add(c.s.core.Config().WriteTimeout)); err != nil {
		return err
	}
	if _, err := nc.Write(b); err != nil {
		return err
	}
	c.lastWrite.Store(c.s.now())
	c.s.core.Counters.BytesOut.Add(uint64(len(b)))
	return nil
}

// endRaw ends a hijacked stream (its caller holds c.writing for good). A
// stream the server ends gets the last chunk, so the client sees a
// complete response, if the socket takes it at once.
func (c *conn) endRaw(reason CloseReason) {
	r := c.raw
	switch {
	case r.finished, reason == ReasonClient, reason == ReasonError, reason == ReasonWriteTimeout:
	case r.rc != nil:
		connserver.NewInlineWriter().Write(r.rc, lastChunk)
	default:
		r.nc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		r.nc.Write(lastChunk)
	}
	r.nc.Close()
	if r.readerDone != nil {
		<-r.readerDone
	}
	c.s.finish(c, reason)
}

var lastChunk = []byte("0\r\n\r\n")

// chunkHeadRoom is the room frameChunk needs before a chunk's data: the
// size in hex and CRLF.
const chunkHeadRoom = 10

// frameChunk turns buf (chunkHeadRoom bytes of room, then the data) into
// one HTTP/1.1 chunk, moving its start to fit the size line.
func frameChunk(buf []byte) []byte {
	n := len(buf) - chunkHeadRoom
	var hex [8]byte
	h := strconv.AppendInt(hex[:0], int64(n), 16)
	start := chunkHeadRoom - len(h) - 2
	copy(buf[start:], h)
	buf[chunkHeadRoom-2], buf[chunkHeadRoom-1] = '\r', '\n'
	buf = append(buf, '\r', '\n')
	return buf[start:]
}

// appendChunk appends data as one chunk (nothing for empty data, which
// would end the body).
func appendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = strconv.AppendInt(dst, int64(len(data)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
}

// chunkCache makes a fan-out message's chunk once for all its streams.
type chunkCache struct {
	frame, chunk []byte
}

func (cc *chunkCache) get() []byte {
	if cc.chunk == nil {
		cc.chunk = appendChunk(make([]byte, 0, len(cc.frame)+12), cc.frame)
	}
	return cc.chunk
}

type sendqItem = sendq.Item[[]byte]

var (
	bgCtx          = context.Background()
	errClosedQueue = sendq.ErrClosed
)
