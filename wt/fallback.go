package wt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// kind indexes per-direction state: 0 bidirectional, 1 unidirectional.
func kindOf(id uint32) int { return int(id>>1) & 1 }

// muxSession is a Session over the WebSocket fallback: streams and
// datagrams multiplexed on one WebSocket connection (wire format in the
// package doc). It owns two goroutines, the reader and the writer, which
// Close (or the end of the connection) joins.
type muxSession struct {
	conn   *websocket.Conn
	server bool
	o      Options
	c      *counters
	remote net.Addr
	local  hello

	ctx    context.Context // cause: the session's error
	cancel context.CancelCauseFunc
	// ioCtx bounds the connection's reads and writes; cancelled after the
	// close handshake so that the goroutines end.
	ioCtx    context.Context
	ioCancel context.CancelFunc

	openMu sync.Mutex // serialises OPEN frames so stream indexes arrive in order

	mu         sync.Mutex // protects the fields below
	closeErr   error
	peer       *hello
	streams    map[uint32]*muxStream
	nextLocal  [2]uint32
	nextPeer   [2]uint32
	peerLimit  [2]uint32 // how many of our streams of each kind the peer allows, cumulative
	localLimit [2]uint32 // how many peer streams we allow, cumulative
	limitWake  chan struct{}
	acceptQ    [2][]*muxStream
	acceptWake [2]chan struct{}
	ctrl       []ctrlFrame
	ctrlWake   chan struct{}
	maxDgram   int // the smaller of ours and the peer's
	// extraWindow is how far the open streams' receive windows have grown
	// past StreamWindow in all (growWindow).
	extraWindow uint64

	out     *dgramOut
	in      *dgramIn
	pinging atomic.Bool   // a ping is waiting for its pong
	loops   atomic.Int32  // the read and write loops (and a client's ping) still running
	done    chan struct{} // closed when both loops have ended
}

func newMuxSession(conn *websocket.Conn, server bool, o *Options, c *counters, remote net.Addr) *muxSession {
	s := &muxSession{
		conn: conn, server: server, o: *o, c: c, remote: remote,
		local: hello{
			maxBidi: uint32(o.MaxIncomingStreams), maxUni: uint32(o.MaxIncomingUniStreams),
			window: uint32(o.StreamWindow), maxFrame: uint32(o.MaxFrameSize), maxDatagram: uint32(o.MaxDatagramSize),
		},
		streams:    make(map[uint32]*muxStream),
		limitWake:  make(chan struct{}),
		acceptWake: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)},
		ctrlWake:   make(chan struct{}, 1),
		maxDgram:   o.MaxDatagramSize,
		out:        newDgramOut(o, c),
		in:         newDgramIn(o.FallbackDatagramBuffer, c),
		done:       make(chan struct{}),
	}
	s.localLimit = [2]uint32{s.local.maxBidi, s.local.maxUni}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	s.ioCtx, s.ioCancel = context.WithCancel(context.Background())
	// The largest message: a DATA frame, a datagram or a close reason.
	// One byte more, so that a frame just over the limit gets our CLOSE
	// frame; coder/websocket refuses anything larger with 1009 itself.
	conn.SetReadLimit(int64(max(o.MaxFrameSize+5, o.MaxDatagramSize+1, MaxReasonLen+5, helloLen)) + 1)
	return s
}

// start sends our HELLO and starts the goroutines.
func (s *muxSession) start() error {
	if err := s.write(appendHello(nil, s.local)); err != nil {
		s.fail(fmt.Errorf("%w: %w", ErrSessionLost, err), false)
		s.finish()
		return err
	}
	s.c.total.Add(1)
	s.c.ws.Add(1)
	s.loops.Store(2)
	go s.readLoop()
	go s.writeLoop()
	return nil
}

// loopDone runs as each of the two loops ends; the last one marks the
// session done (no goroutine per session waits for them).
func (s *muxSession) loopDone() {
	if s.loops.Add(-1) == 0 {
		s.c.ws.Add(-1)
		close(s.done)
	}
}

// write sends one frame within WriteTimeout. A failed write ends the
// session (coder/websocket closes the connection on a timeout).
func (s *muxSession) write(b []byte) error {
	ctx, cancel := context.WithTimeout(s.ioCtx, s.o.WriteTimeout)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageBinary, b); err != nil {
		if cause := context.Cause(s.ctx); cause != nil {
			return cause
		}
		err = fmt.Errorf("%w: write: %w", ErrSessionLost, err)
		s.fail(err, false)
		return err
	}
	return nil
}

// ctrlFrame is a frame for the writer goroutine. With st set it is the
// RESET that answers a STOP_SENDING, written under the stream's writeMu
// unless the stream already sent FIN or RESET, so no DATA follows it.
type ctrlFrame struct {
	b  []byte
	st *muxStream
}

func (s *muxSession) queueCtrl(b []byte) { s.queue(ctrlFrame{b: b}) }

func (s *muxSession) queue(f ctrlFrame) {
	s.mu.Lock()
	if s.closeErr == nil {
		s.ctrl = append(s.ctrl, f)
	}
	s.mu.Unlock()
	select {
	case s.ctrlWake <- struct{}{}:
	default:
	}
}

// writeLoop writes control frames (credit, stop-sending, stream limits)
// and datagrams, so the reader never blocks on the socket.
func (s *muxSession) writeLoop() {
	defer s.loopDone()
	// A client pings on its own ticker; a server's pings come from its
	// clock (Server.beat).
	var keepAlive <-chan time.Time
	if !s.server && s.o.KeepAlive > 0 {
		t := time.NewTicker(s.o.KeepAlive)
		defer t.Stop()
		keepAlive = t.C
	}
	var buf []byte
	for {
		s.mu.Lock()
		ctrl := s.ctrl
		s.ctrl = nil
		s.mu.Unlock()
		for _, f := range ctrl {
			if f.st != nil {
				f.st.writeMu.Lock()
				var err error
				if !f.st.finSent {
					f.st.finSent = true
					err = s.write(f.b)
				}
				f.st.writeMu.Unlock()
				if err != nil {
					return
				}
				continue
			}
			if s.write(f.b) != nil {
				return
			}
		}
		it, ok, err := s.out.q.Poll()
		if err != nil {
			return // the session failed and closed the queue
		}
		if ok {
			if s.out.fresh(it, time.Now()) {
				buf = append(append(buf[:0], frameDatagram), it.Value...)
				if s.write(buf) != nil {
					return
				}
				s.c.dgSent.Add(1)
			}
			continue
		}
		ready := s.out.q.ReadyChan()
		if s.out.q.Ready() {
			continue
		}
		select {
		case <-s.ctrlWake:
		case <-ready:
		case <-keepAlive:
			if s.pinging.CompareAndSwap(false, true) {
				s.loops.Add(1) // this loop runs, so the session is not done
				go func() {
					defer s.loopDone()
					s.ping()
				}()
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// ping sends a WebSocket ping and ends the session with ErrSessionLost
// when no pong comes within PongTimeout. It runs on a short-lived
// goroutine (the reader receives the pong), with pinging set.
func (s *muxSession) ping() {
	defer s.pinging.Store(false)
	ctx, cancel := context.WithTimeout(s.ctx, s.o.PongTimeout)
	defer cancel()
	if s.conn.Ping(ctx) == nil || s.ctx.Err() != nil {
		return
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.c.pingTimeouts.Add(1)
		s.fail(fmt.Errorf("%w: no pong within %v; the peer or the path to it is gone", ErrSessionLost, s.o.PongTimeout), false)
		s.finish() // the reader may wait forever on a silent connection
	}
}

func (s *muxSession) readLoop() {
	defer s.loopDone()
	defer s.finish()
	for {
		typ, r, err := s.conn.Reader(s.ioCtx)
		if err != nil {
			s.readFailed(err)
			return
		}
		if typ != websocket.MessageBinary {
			s.protocolError(protoErr("text message"))
			return
		}
		// The message goes into a pooled buffer (handle copies what it
		// keeps): conn.Read would allocate and regrow a buffer for every
		// frame, and an idle session holds none.
		bp := msgBufs.Get().(*[]byte)
		msg, err := readMessage(r, (*bp)[:0])
		if err != nil {
			*bp = msg[:0]
			msgBufs.Put(bp)
			s.readFailed(err)
			return
		}
		err = s.handle(msg)
		if cap(msg) <= maxPooledMsg {
			*bp = msg[:0]
			msgBufs.Put(bp)
		}
		if err != nil {
			if errors.Is(err, errRemoteClose) {
				return
			}
			s.protocolError(err)
			return
		}
	}
}

var errRemoteClose = errors.New("remote close")

// msgBufs holds the reader's message buffers, shared by all sessions.
// One grown past maxPooledMsg (a large MaxFrameSize) is left to the GC.
var msgBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

const maxPooledMsg = 1 << 20

// readMessage appends the rest of r to b, reading in large chunks.
// coder/websocket's reader enforces the read limit.
func readMessage(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// readFailed turns the end of the WebSocket into the session's error,
// unless a CLOSE frame or a local Close already set one.
func (s *muxSession) readFailed(err error) {
	if code := websocket.CloseStatus(err); code != -1 {
		if c, ok := SessionCodeFromWebSocket(int(code)); ok {
			var ce websocket.CloseError
			errors.As(err, &ce)
			s.fail(&SessionError{Code: c, Reason: ce.Reason, Remote: true}, false)
			return
		}
	}
	s.fail(fmt.Errorf("%w: %w", ErrSessionLost, err), false)
}

// protocolError closes the session with CodeProtocolError (or
// CodeMessageTooBig) and the reason, counting it.
func (s *muxSession) protocolError(err error) {
	code := CodeProtocolError
	if errors.Is(err, errTooBig) {
		code = CodeMessageTooBig
	}
	if s.fail(&SessionError{Code: code, Reason: err.Error()}, true) {
		s.c.protocolErrs.Add(1)
	}
}

// fail ends the session with err once: streams and waiters get err, the
// context is cancelled with it. With sendClose the CLOSE frame and the
// WebSocket close go out (a local close). It reports whether this call
// ended the session.
func (s *muxSession) fail(err error, sendClose bool) bool {
	s.mu.Lock()
	if s.closeErr != nil {
		s.mu.Unlock()
		return false
	}
	s.closeErr = err
	streams := make([]*muxStream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	s.acceptQ = [2][]*muxStream{}
	s.ctrl = nil
	close(s.limitWake)
	s.mu.Unlock()
	s.cancel(err)
	for _, st := range streams {
		st.sessionFailed(err)
	}
	s.out.q.CloseWithError(err)
	if sendClose {
		var se *SessionError
		errors.As(err, &se)
		s.closeConn(se)
	} else if se, ok := err.(*SessionError); ok && se.Remote {
		// Answer the peer's close.
		s.closeConn(se)
	}
	return true
}

// closeConn sends the CLOSE frame (for a local close) and the WebSocket
// close, then waits for the peer's close frame, bounded by WriteTimeout.
func (s *muxSession) closeConn(se *SessionError) {
	if se == nil {
		se = &SessionError{Code: CodeInternalError}
	}
	if !se.Remote {
		ctx, cancel := context.WithTimeout(s.ioCtx, s.o.WriteTimeout)
		_ = s.conn.Write(ctx, websocket.MessageBinary, appendClose(nil, se.Code, se.Reason))
		cancel()
	}
	reason := se.Reason
	if len(reason) > 123 { // a WebSocket close reason's limit
		reason = cutTo(reason, 123)
	}
	_ = s.conn.Close(websocket.StatusCode(WebSocketCloseCode(se.Code)), reason)
}

// finish releases the connection once the reader has stopped.
func (s *muxSession) finish() {
	s.ioCancel()
	_ = s.conn.CloseNow()
}

func (s *muxSession) closeError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

// handle applies one frame. It runs on the reader goroutine.
func (s *muxSession) handle(msg []byte) error {
	s.mu.Lock()
	peer := s.peer
	s.mu.Unlock()
	f, err := parseFrame(msg, s.o.MaxFrameSize, s.o.MaxDatagramSize)
	if err != nil {
		return err
	}
	if peer == nil {
		if f.typ != frameHello {
			return protoErr("first frame is type %#x, want HELLO", f.typ)
		}
		h := f.hello
		s.mu.Lock()
		s.peer = &h
		s.peerLimit = [2]uint32{h.maxBidi, h.maxUni}
		s.maxDgram = min(s.o.MaxDatagramSize, int(min(h.maxDatagram, 1<<30)))
		if s.closeErr == nil {
			close(s.limitWake)
			s.limitWake = make(chan struct{})
		}
		s.mu.Unlock()
		return nil
	}
	switch f.typ {
	case frameHello:
		return protoErr("second HELLO")
	case frameDatagram:
		s.in.put(bytes.Clone(f.payload)) // msg is the reader's buffer
		return nil
	case frameClose:
		s.fail(&SessionError{Code: SessionErrorCode(f.n), Reason: string(f.payload), Remote: true}, false)
		return errRemoteClose
	case frameMaxStreams:
		s.mu.Lock()
		defer s.mu.Unlock()
		if f.n < s.peerLimit[f.kind] {
			return protoErr("MAX_STREAMS went down from %d to %d", s.peerLimit[f.kind], f.n)
		}
		s.peerLimit[f.kind] = f.n
		if s.closeErr == nil {
			close(s.limitWake)
			s.limitWake = make(chan struct{})
		}
		return nil
	case frameOpen:
		return s.peerOpen(f.id)
	}
	st, err := s.lookup(f.id)
	if err != nil {
		return err
	}
	if st == nil { // retired: both sides ended
		if f.typ == frameStopSending || f.typ == frameCredit {
			return nil // may cross our FIN
		}
		// A retired stream's receive side ended with the peer's FIN or
		// RESET (CancelRead waits for one), so nothing may follow.
		return protoErr("frame type %#x on stream %d after its FIN or RESET", f.typ, f.id)
	}
	switch f.typ {
	case frameData, frameFin, frameReset:
		if !st.canRecv {
			return protoErr("frame type %#x on send-only stream %d", f.typ, f.id)
		}
		return st.received(f)
	default: // frameStopSending, frameCredit
		if !st.canSend {
			return protoErr("frame type %#x on receive-only stream %d", f.typ, f.id)
		}
		return st.control(f)
	}
}

// lookup finds an open stream. A stream that existed and is retired
// returns nil, nil; one that never existed is a protocol error.
func (s *muxSession) lookup(id uint32) (*muxStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[id]; st != nil {
		return st, nil
	}
	k, idx := kindOf(id), id>>2
	peerInit := (id&idServer != 0) != s.server
	if (peerInit && idx < s.nextPeer[k]) || (!peerInit && idx < s.nextLocal[k]) {
		return nil, nil
	}
	return nil, protoErr("unknown stream %d", id)
}

func (s *muxSession) peerOpen(id uint32) error {
	if (id&idServer != 0) == s.server {
		return protoErr("OPEN of stream %d with our initiator bit", id)
	}
	k, idx := kindOf(id), id>>2
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case idx != s.nextPeer[k]:
		return protoErr("OPEN of stream %d out of order (want index %d)", id, s.nextPeer[k])
	case idx >= s.localLimit[k]:
		return protoErr("OPEN of stream %d above the stream limit %d", id, s.localLimit[k])
	case s.closeErr != nil:
		return nil
	}
	s.nextPeer[k]++
	st := s.newStreamLocked(id, true, k == 1)
	s.acceptQ[k] = append(s.acceptQ[k], st)
	select {
	case s.acceptWake[k] <- struct{}{}:
	default:
	}
	return nil
}

func (s *muxSession) newStreamLocked(id uint32, peerInit, uni bool) *muxStream {
	st := &muxStream{s: s, id: id, canRecv: !uni || peerInit, canSend: !uni || !peerInit, peerInit: peerInit}
	st.recvLimit = uint64(s.o.StreamWindow)
	st.window = st.recvLimit
	if s.peer != nil {
		st.credit = int64(s.peer.window)
	}
	st.rwake = make(chan struct{}, 1)
	st.wwake = make(chan struct{}, 1)
	s.streams[id] = st
	s.c.streamOpened()
	return st
}

// retire forgets a stream both of whose sides are done and, for a peer's
// stream, lets the peer open another.
func (s *muxSession) retire(st *muxStream) {
	s.mu.Lock()
	if s.streams[st.id] != st {
		s.mu.Unlock()
		return
	}
	delete(s.streams, st.id)
	s.extraWindow -= st.window - uint64(s.o.StreamWindow) // st.mu is held (retireLocked)
	var f []byte
	if st.peerInit && s.closeErr == nil {
		k := kindOf(st.id)
		s.localLimit[k]++
		f = appendMaxStreams(nil, byte(k), s.localLimit[k])
	}
	s.mu.Unlock()
	s.c.streamClosed()
	if f != nil {
		s.queueCtrl(f)
	}
}

// maxWindowGrowth bounds growWindow: the windows of a session's streams
// grow by at most (maxWindowGrowth-1)×StreamWindow in all.
const maxWindowGrowth = 4

// growWindow doubles a reading stream's receive window w while the
// session's growth budget, (maxWindowGrowth-1)×StreamWindow shared by
// its streams, lasts: one busy stream gets a window that covers the
// credit's round trip, and what a session may make us buffer rises by
// that budget only, whatever the number of streams. It runs with st.mu
// held (then s.mu, the lock order).
func (s *muxSession) growWindow(w uint64) uint64 {
	base := uint64(s.o.StreamWindow)
	if base > 1<<28 {
		return w // credit increments stay far below 2^32
	}
	budget := (maxWindowGrowth - 1) * base
	s.mu.Lock()
	defer s.mu.Unlock()
	delta := min(w, budget-s.extraWindow)
	if s.closeErr != nil || delta == 0 {
		return w
	}
	s.extraWindow += delta
	return w + delta
}
