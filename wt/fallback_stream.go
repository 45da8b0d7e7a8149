package wt

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"
)

// muxStream is one stream of a fallback session. Receive side: data up
// to the window the session granted, buffered until read; a CREDIT frame
// goes out when half the window has been read. Send side: a Write waits
// for the peer's credit, so a peer that does not read blocks only this
// stream.
type muxStream struct {
	s                          *muxSession
	id                         uint32
	canRecv, canSend, peerInit bool

	writeMu sync.Mutex // serialises this stream's frames on the socket
	buf     []byte     // DATA frame scratch, under writeMu
	finSent bool       // FIN or RESET written, under writeMu

	mu sync.Mutex // protects the fields below
	// receive side
	rbuf      [][]byte
	rfin      bool  // the peer sent FIN
	rerr      error // terminal read error
	rlocal    bool  // the receive side ended by our CancelRead
	recvDone  bool
	recvTotal uint64 // bytes received
	recvLimit uint64 // bytes the peer may send in all
	window    uint64 // receive window: StreamWindow, grown by growWindow
	readTotal uint64 // bytes read by the application
	rdeadline time.Time
	rwake     chan struct{}
	// send side
	credit    int64
	serr      error // terminal write error
	sendDone  bool
	wdeadline time.Time
	wwake     chan struct{}
	retired   bool
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// wait blocks until woken or the deadline passes; it reports false past
// the deadline. Called without st.mu.
func waitWake(c chan struct{}, deadline time.Time) bool {
	if deadline.IsZero() {
		<-c
		return true
	}
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}

// received applies DATA, FIN or RESET from the peer (reader goroutine).
func (st *muxStream) received(f frame) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.s.closeErrSet() {
		return nil // the session is ending
	}
	if st.rlocal {
		// We sent STOP_SENDING: data in flight is dropped; the peer's
		// FIN or RESET ends the receive side.
		if f.typ != frameData {
			st.recvDone = true
			st.retireLocked()
		}
		return nil
	}
	if st.rfin || st.rerr != nil {
		return protoErr("frame type %#x on stream %d after its FIN or RESET", f.typ, st.id)
	}
	switch f.typ {
	case frameData:
		st.recvTotal += uint64(len(f.payload))
		if st.recvTotal > st.recvLimit {
			return protoErr("stream %d: credit overrun (%d bytes received, %d granted)", st.id, st.recvTotal, st.recvLimit)
		}
		if len(f.payload) > 0 {
			st.rbuf = append(st.rbuf, bytes.Clone(f.payload)) // f aliases the reader's buffer
		}
	case frameFin:
		st.rfin = true
	case frameReset:
		st.rerr = &StreamError{Code: StreamErrorCode(f.n), Remote: true}
		st.rbuf = nil
		st.recvDone = true
	}
	wake(st.rwake)
	if st.recvDone {
		st.retireLocked()
	}
	return nil
}

// control applies STOP_SENDING or CREDIT from the peer.
func (st *muxStream) control(f frame) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sendDone {
		return nil
	}
	switch f.typ {
	case frameStopSending:
		st.serr = &StreamError{Code: StreamErrorCode(f.n), Remote: true}
		st.sendDone = true
		st.s.queue(ctrlFrame{b: appendIDCodeFrame(nil, frameReset, st.id, f.n), st: st})
		st.retireLocked()
	case frameCredit:
		st.credit += int64(f.n)
		if st.credit > 1<<32 {
			return protoErr("stream %d: credit above 2^32", st.id)
		}
	}
	wake(st.wwake)
	return nil
}

func (st *muxStream) sessionFailed(err error) {
	st.mu.Lock()
	// What arrived stays readable; then Read returns the session's error
	// (or io.EOF after a FIN).
	if st.rerr == nil && !st.rfin {
		st.rerr = err
	}
	if st.serr == nil {
		st.serr = err
	}
	st.recvDone, st.sendDone = true, true
	st.retireLocked()
	st.mu.Unlock()
	wake(st.rwake)
	wake(st.wwake)
}

// retireLocked retires the stream once both sides are done. It takes the
// session's lock after st.mu (the only order used).
func (st *muxStream) retireLocked() {
	if st.retired || !(st.recvDone || !st.canRecv) || !(st.sendDone || !st.canSend) {
		return
	}
	st.retired = true
	st.s.retire(st)
}

func (st *muxStream) Read(p []byte) (int, error) {
	st.mu.Lock()
	for {
		if len(st.rbuf) > 0 {
			n := 0
			for n < len(p) && len(st.rbuf) > 0 {
				c := copy(p[n:], st.rbuf[0])
				n += c
				if c == len(st.rbuf[0]) {
					st.rbuf[0] = nil
					st.rbuf = st.rbuf[1:]
				} else {
					st.rbuf[0] = st.rbuf[0][c:]
				}
			}
			st.readTotal += uint64(n)
			var credit uint32
			window := st.window
			if !st.rfin && st.readTotal+window-st.recvLimit >= window/2 {
				window = st.s.growWindow(window)
				st.window = window
				credit = uint32(st.readTotal + window - st.recvLimit)
				st.recvLimit += uint64(credit)
			}
			st.mu.Unlock()
			if credit > 0 {
				st.s.queueCtrl(appendIDCodeFrame(nil, frameCredit, st.id, credit))
			}
			return n, nil
		}
		if st.rerr != nil {
			err := st.rerr
			st.mu.Unlock()
			return 0, err
		}
		if st.rfin {
			st.recvDone = true
			st.rerr = io.EOF
			st.retireLocked()
			st.mu.Unlock()
			return 0, io.EOF
		}
		deadline := st.rdeadline
		st.mu.Unlock()
		if !waitWake(st.rwake, deadline) {
			st.mu.Lock()
			if st.rdeadline.Equal(deadline) && len(st.rbuf) == 0 && st.rerr == nil && !st.rfin {
				st.mu.Unlock()
				return 0, os.ErrDeadlineExceeded
			}
			continue
		}
		st.mu.Lock()
	}
}

func (st *muxStream) CancelRead(code StreamErrorCode) {
	st.mu.Lock()
	if st.recvDone || !st.canRecv {
		st.mu.Unlock()
		return
	}
	if st.rfin || st.rerr != nil { // the peer already finished: nothing to stop
		st.rerr, st.recvDone = ErrStreamClosed, true
		st.rbuf = nil
		st.retireLocked()
		st.mu.Unlock()
		wake(st.rwake)
		return
	}
	st.rerr, st.rlocal = ErrStreamClosed, true
	st.rbuf = nil
	st.mu.Unlock()
	wake(st.rwake)
	st.s.queueCtrl(appendIDCodeFrame(nil, frameStopSending, st.id, uint32(code)))
}

func (st *muxStream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	st.rdeadline = t
	st.mu.Unlock()
	wake(st.rwake)
	return nil
}

func (st *muxStream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		st.mu.Lock()
		for {
			if st.serr != nil {
				err := st.serr
				st.mu.Unlock()
				return n, err
			}
			if st.sendDone {
				st.mu.Unlock()
				return n, ErrStreamClosed
			}
			if st.credit > 0 {
				break
			}
			deadline := st.wdeadline
			st.mu.Unlock()
			ok := waitWake(st.wwake, deadline)
			st.mu.Lock()
			if !ok && st.wdeadline.Equal(deadline) && st.credit <= 0 && st.serr == nil && !st.sendDone {
				st.mu.Unlock()
				return n, os.ErrDeadlineExceeded
			}
		}
		k := int(min(int64(len(p)), st.credit, int64(st.s.peerMaxFrame())))
		st.credit -= int64(k)
		st.mu.Unlock()

		st.writeMu.Lock()
		if st.finSent { // a RESET answering STOP_SENDING went out meanwhile
			st.writeMu.Unlock()
			st.mu.Lock()
			err := st.serr
			st.mu.Unlock()
			if err == nil {
				err = ErrStreamClosed
			}
			return n, err
		}
		st.buf = append(appendIDFrame(st.buf[:0], frameData, st.id), p[:k]...)
		err := st.s.write(st.buf)
		st.writeMu.Unlock()
		if err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// finish sends FIN or RESET once and marks the send side done.
func (st *muxStream) finish(typ byte, code StreamErrorCode) error {
	st.mu.Lock()
	if st.sendDone || !st.canSend {
		err := st.serr
		st.mu.Unlock()
		if typ == frameFin && err != nil {
			return err
		}
		return nil
	}
	st.sendDone = true
	if typ == frameReset {
		st.serr = ErrStreamClosed
	}
	st.mu.Unlock()
	wake(st.wwake)
	var f []byte
	if typ == frameFin {
		f = appendIDFrame(nil, frameFin, st.id)
	} else {
		f = appendIDCodeFrame(nil, frameReset, st.id, uint32(code))
	}
	var err error
	st.writeMu.Lock()
	if !st.finSent {
		st.finSent = true
		err = st.s.write(f)
	}
	st.writeMu.Unlock()
	st.mu.Lock()
	st.retireLocked()
	st.mu.Unlock()
	return err
}

func (st *muxStream) Close() error                     { return st.finish(frameFin, 0) }
func (st *muxStream) CancelWrite(code StreamErrorCode) { _ = st.finish(frameReset, code) }

func (st *muxStream) SetWriteDeadline(t time.Time) error {
	st.mu.Lock()
	st.wdeadline = t
	st.mu.Unlock()
	wake(st.wwake)
	return nil
}

func (st *muxStream) SetDeadline(t time.Time) error {
	_ = st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}

func (s *muxSession) peerMaxFrame() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peer == nil {
		return s.o.MaxFrameSize
	}
	return int(min(s.peer.maxFrame, 1<<30))
}

func (s *muxSession) closeErrSet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr != nil
}
