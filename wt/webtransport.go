package wt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

// wtSession adapts a *webtransport.Session. It owns one goroutine, the
// datagram sender, which the end of the session joins.
type wtSession struct {
	s *webtransport.Session
	o Options
	c *counters

	ctx    context.Context // cause: the session's error, learnt as below
	cancel context.CancelCauseFunc
	out    *dgramOut
	max    atomic.Int64 // datagram size limit, lowered when quic-go reports a smaller path
	done   chan struct{}

	mu      sync.Mutex // protects streams
	streams map[*wtStreamState]struct{}

	// conn is the session's QUIC connection. A client session owns it;
	// on the server it carries only this session (webtransport-go without
	// WebTransport flow control allows one), so it is closed once the
	// client closed the session, which also ends the client's linger.
	conn   *quic.Conn
	client bool
	// connect is the server's CONNECT stream, on which Close sends the
	// close capsule itself (see Close); nil on a client.
	connect  *http3.Stream
	closeErr atomic.Pointer[SessionError] // set by a local Close
}

// closeLinger is how long a client's QUIC connection stays open after a
// local Close, unless the server closes it first, so that the close
// capsule (with the code) goes out: closing the connection at once
// discards it and the server would see only H3_NO_ERROR.
const closeLinger = time.Second

// closeSessionCapsuleType is WebTransport's WT_CLOSE_SESSION capsule.
const closeSessionCapsuleType http3.CapsuleType = 0x2843

func newWTSession(s *webtransport.Session, conn *quic.Conn, client bool, o *Options, c *counters) *wtSession {
	w := &wtSession{s: s, conn: conn, client: client, o: *o, c: c, out: newDgramOut(o, c), done: make(chan struct{}), streams: make(map[*wtStreamState]struct{})}
	w.max.Store(int64(o.MaxDatagramSize))
	w.ctx, w.cancel = context.WithCancelCause(context.Background())
	c.total.Add(1)
	c.wt.Add(1)
	go w.sendLoop()
	context.AfterFunc(s.Context(), w.ended)
	return w
}

// ended runs once the webtransport session's context is done. That
// context's cause is only "context canceled" and ReceiveDatagram returns
// a bare EOF, so the peer's code would be lost; the incoming stream map,
// however, holds the *webtransport.SessionError, and AcceptUniStream with
// a cancelled context returns it without waiting or taking a stream.
func (w *wtSession) ended() {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := w.s.AcceptUniStream(done)
	cause := w.mapSessionErr(err)
	if se, ok := cause.(*SessionError); !ok || !se.Remote {
		// Our own close, sent by Close before webtransport-go knew.
		if local := w.closeErr.Load(); local != nil {
			cause = local
		}
	}
	w.cancel(cause)
	w.out.q.CloseWithError(context.Cause(w.ctx))
	w.mu.Lock()
	states := w.streams
	w.streams = nil
	w.mu.Unlock()
	for st := range states {
		st.end(w.c)
	}
	if w.conn != nil {
		se, ok := context.Cause(w.ctx).(*SessionError)
		switch {
		case w.client && (!ok || se.Remote), !w.client && ok && se.Remote:
			w.conn.CloseWithError(0, "")
		} // else a client's Close lingers, then closes it
	}
}

// mapSessionErr turns webtransport-go's session errors into ours.
func (w *wtSession) mapSessionErr(err error) error {
	if se, ok := errors.AsType[*webtransport.SessionError](err); ok {
		return &SessionError{Code: SessionErrorCode(se.ErrorCode), Reason: se.Message, Remote: se.Remote}
	}
	if err == nil || errors.Is(err, context.Canceled) {
		err = errors.New("session ended")
	}
	return fmt.Errorf("%w: %w", ErrSessionLost, err)
}

// mapErr maps an error from a stream or session call.
func (w *wtSession) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*webtransport.StreamError](err); ok {
		return &StreamError{Code: StreamErrorCode(se.ErrorCode), Remote: se.Remote}
	}
	if _, ok := errors.AsType[*webtransport.SessionError](err); ok {
		return w.mapSessionErr(err)
	}
	if isTimeout(err) {
		return err
	}
	if cause := context.Cause(w.ctx); cause != nil {
		return cause
	}
	if errors.Is(err, io.EOF) {
		return err
	}
	if _, ok := errors.AsType[*quic.ApplicationError](err); ok {
		return fmt.Errorf("%w: %w", ErrSessionLost, err)
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sendLoop sends queued datagrams, dropping stale ones. quic-go's own
// queue blocks when full, which only delays this goroutine.
func (w *wtSession) sendLoop() {
	defer close(w.done)
	defer w.c.wt.Add(-1)
	for {
		it, err := w.out.q.Next(context.Background())
		if err != nil {
			return
		}
		if !w.out.fresh(it, time.Now()) {
			continue
		}
		err = w.s.SendDatagram(it.Value)
		if tl, ok := errors.AsType[*quic.DatagramTooLargeError](err); ok {
			w.c.dgTooLarge.Add(1)
			w.max.Store(min(w.max.Load(), max(tl.MaxDatagramPayloadSize-8, 0)))
			continue
		}
		if err != nil {
			continue // the session is ending; ended closes the queue
		}
		w.c.dgSent.Add(1)
	}
}

func (w *wtSession) OpenStream(ctx context.Context) (Stream, error) {
	s, err := w.s.OpenStreamSync(ctx)
	if err != nil {
		return nil, w.mapErr(err)
	}
	return &wtStream{s: s, st: w.track(true, true), w: w}, nil
}

func (w *wtSession) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := w.s.AcceptStream(ctx)
	if err != nil {
		if ctx.Err() != nil && context.Cause(w.ctx) == nil {
			return nil, ctx.Err()
		}
		return nil, w.mapErr(err)
	}
	return &wtStream{s: s, st: w.track(true, true), w: w}, nil
}

func (w *wtSession) OpenUniStream(ctx context.Context) (SendStream, error) {
	s, err := w.s.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, w.mapErr(err)
	}
	return &wtSendStream{s: s, st: w.track(false, true), w: w}, nil
}

func (w *wtSession) AcceptUniStream(ctx context.Context) (ReceiveStream, error) {
	s, err := w.s.AcceptUniStream(ctx)
	if err != nil {
		if ctx.Err() != nil && context.Cause(w.ctx) == nil {
			return nil, ctx.Err()
		}
		return nil, w.mapErr(err)
	}
	return &wtRecvStream{s: s, st: w.track(true, false), w: w}, nil
}

func (w *wtSession) SendDatagram(b []byte) error {
	if cause := context.Cause(w.ctx); cause != nil {
		return cause
	}
	if limit := int(w.max.Load()); len(b) > limit {
		return oversize(w, b, limit)
	}
	return w.out.push(b)
}

func (w *wtSession) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	b, err := w.s.ReceiveDatagram(ctx)
	if err != nil {
		if ctx.Err() != nil && context.Cause(w.ctx) == nil {
			return nil, ctx.Err()
		}
		// After the session ends this is a bare EOF: wait for ended to
		// learn the real cause.
		select {
		case <-w.ctx.Done():
		case <-ctx.Done():
		}
		if cause := context.Cause(w.ctx); cause != nil {
			return nil, cause
		}
		return nil, ctx.Err()
	}
	w.c.dgRecv.Add(1)
	return b, nil
}

func (w *wtSession) Close(code SessionErrorCode, reason string) error {
	reason = cutReason(reason)
	if w.connect != nil && w.s.Context().Err() == nil && w.closeErr.CompareAndSwap(nil, &SessionError{Code: code, Reason: reason}) {
		// webtransport-go queues the close capsule and at once sends
		// STOP_SENDING on the CONNECT stream; quic-go packs that control
		// frame ahead of the capsule's data, and Chromium, reading
		// STOP_SENDING first, reports "Connection lost" without the code.
		// So send the capsule and FIN first and give the peer up to
		// closeLinger to close the session before cancelling the stream.
		value := binary.BigEndian.AppendUint32(nil, uint32(code))
		var b bytes.Buffer
		_ = http3.WriteCapsule(&b, closeSessionCapsuleType, append(value, reason...))
		_ = w.connect.SetWriteDeadline(time.Now().Add(closeLinger))
		if _, err := w.connect.Write(b.Bytes()); err == nil {
			_ = w.connect.Close()
			t := time.NewTimer(closeLinger)
			select {
			case <-w.s.Context().Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	err := w.s.CloseWithError(webtransport.SessionErrorCode(code), reason)
	<-w.ctx.Done()
	<-w.done
	if w.client {
		t := time.NewTimer(closeLinger)
		select {
		case <-w.conn.Context().Done():
		case <-t.C:
		}
		t.Stop()
		w.conn.CloseWithError(0, "")
	}
	return err
}

func (w *wtSession) Context() context.Context { return w.ctx }
func (w *wtSession) Transport() Transport     { return TransportWebTransport }
func (w *wtSession) RemoteAddr() net.Addr     { return w.s.RemoteAddr() }

func (w *wtSession) Capabilities() Capabilities {
	return Capabilities{
		Transport:             TransportWebTransport,
		IndependentStreams:    true,
		MaxDatagramSize:       int(w.max.Load()),
		MaxIncomingStreams:    w.o.MaxIncomingStreams,
		MaxIncomingUniStreams: w.o.MaxIncomingUniStreams,
	}
}

// wtStreamState tracks when both sides of a stream are done, for
// Stats.StreamsOpen.
type wtStreamState struct {
	mu               sync.Mutex
	recvOpen, sendOp bool
	counted          bool
}

func (w *wtSession) track(recv, send bool) *wtStreamState {
	st := &wtStreamState{recvOpen: recv, sendOp: send, counted: true}
	w.c.streamOpened()
	w.mu.Lock()
	if w.streams == nil { // the session already ended
		w.mu.Unlock()
		st.end(w.c)
		return st
	}
	w.streams[st] = struct{}{}
	w.mu.Unlock()
	return st
}

func (st *wtStreamState) end(c *counters) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.counted {
		st.counted = false
		c.streamClosed()
	}
}

func (st *wtStreamState) side(w *wtSession, recv bool) {
	st.mu.Lock()
	if recv {
		st.recvOpen = false
	} else {
		st.sendOp = false
	}
	both := !st.recvOpen && !st.sendOp
	st.mu.Unlock()
	if both {
		st.end(w.c)
		w.mu.Lock()
		delete(w.streams, st)
		w.mu.Unlock()
	}
}

// doneErr reports whether an I/O error ends that side of the stream
// (a timeout does not).
func doneErr(err error) bool { return err != nil && !isTimeout(err) }

type wtStream struct {
	s  *webtransport.Stream
	st *wtStreamState
	w  *wtSession
}

func (s *wtStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	if doneErr(err) {
		s.st.side(s.w, true)
	}
	return n, s.w.mapErr(err)
}

func (s *wtStream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	if doneErr(err) {
		s.st.side(s.w, false)
	}
	return n, s.w.mapErr(err)
}

func (s *wtStream) Close() error {
	err := s.s.Close()
	s.st.side(s.w, false)
	return s.w.mapErr(err)
}

func (s *wtStream) CancelRead(code StreamErrorCode) {
	s.s.CancelRead(webtransport.StreamErrorCode(code))
	s.st.side(s.w, true)
}

func (s *wtStream) CancelWrite(code StreamErrorCode) {
	s.s.CancelWrite(webtransport.StreamErrorCode(code))
	s.st.side(s.w, false)
}

func (s *wtStream) SetReadDeadline(t time.Time) error  { return s.s.SetReadDeadline(t) }
func (s *wtStream) SetWriteDeadline(t time.Time) error { return s.s.SetWriteDeadline(t) }
func (s *wtStream) SetDeadline(t time.Time) error      { return s.s.SetDeadline(t) }

type wtSendStream struct {
	s  *webtransport.SendStream
	st *wtStreamState
	w  *wtSession
}

func (s *wtSendStream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	if doneErr(err) {
		s.st.side(s.w, false)
	}
	return n, s.w.mapErr(err)
}

func (s *wtSendStream) Close() error {
	err := s.s.Close()
	s.st.side(s.w, false)
	return s.w.mapErr(err)
}

func (s *wtSendStream) CancelWrite(code StreamErrorCode) {
	s.s.CancelWrite(webtransport.StreamErrorCode(code))
	s.st.side(s.w, false)
}

func (s *wtSendStream) SetWriteDeadline(t time.Time) error { return s.s.SetWriteDeadline(t) }

type wtRecvStream struct {
	s  *webtransport.ReceiveStream
	st *wtStreamState
	w  *wtSession
}

func (s *wtRecvStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	if doneErr(err) {
		s.st.side(s.w, true)
	}
	return n, s.w.mapErr(err)
}

func (s *wtRecvStream) CancelRead(code StreamErrorCode) {
	s.s.CancelRead(webtransport.StreamErrorCode(code))
	s.st.side(s.w, true)
}

func (s *wtRecvStream) SetReadDeadline(t time.Time) error { return s.s.SetReadDeadline(t) }
