package wt

import (
	"context"
	"fmt"
	"net"
	"time"
)

// The Session methods of the fallback: opening and accepting streams,
// datagrams, close.

func (s *muxSession) open(ctx context.Context, uni bool) (*muxStream, error) {
	k := 0
	if uni {
		k = 1
	}
	s.openMu.Lock()
	defer s.openMu.Unlock()
	for {
		s.mu.Lock()
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return nil, err
		}
		if s.peer != nil && s.nextLocal[k] < s.peerLimit[k] {
			break
		}
		wake := s.limitWake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			if err := s.closeError(); err != nil {
				return nil, err
			}
			return nil, ctx.Err()
		}
	}
	id := s.nextLocal[k]<<2 | uint32(k)<<1
	if s.server {
		id |= idServer
	}
	s.nextLocal[k]++
	st := s.newStreamLocked(id, false, uni)
	s.mu.Unlock()
	if err := s.write(appendIDFrame(nil, frameOpen, id)); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *muxSession) accept(ctx context.Context, k int) (*muxStream, error) {
	for {
		s.mu.Lock()
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return nil, err
		}
		if q := s.acceptQ[k]; len(q) > 0 {
			st := q[0]
			q[0] = nil
			s.acceptQ[k] = q[1:]
			s.mu.Unlock()
			return st, nil
		}
		s.mu.Unlock()
		select {
		case <-s.acceptWake[k]:
		case <-s.ctx.Done():
		case <-ctx.Done():
			if err := s.closeError(); err != nil {
				return nil, err
			}
			return nil, ctx.Err()
		}
	}
}

func (s *muxSession) OpenStream(ctx context.Context) (Stream, error) {
	st, err := s.open(ctx, false)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *muxSession) OpenUniStream(ctx context.Context) (SendStream, error) {
	st, err := s.open(ctx, true)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *muxSession) AcceptStream(ctx context.Context) (Stream, error) {
	st, err := s.accept(ctx, 0)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *muxSession) AcceptUniStream(ctx context.Context) (ReceiveStream, error) {
	st, err := s.accept(ctx, 1)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *muxSession) SendDatagram(b []byte) error {
	if err := s.closeError(); err != nil {
		return err
	}
	s.mu.Lock()
	limit := s.maxDgram
	s.mu.Unlock()
	if len(b) > limit {
		return oversize(s, b, limit)
	}
	return s.out.push(b)
}

// oversize applies Options.OversizeDatagrams to a datagram above limit.
func oversize(s Session, b []byte, limit int) error {
	var o Options
	switch t := s.(type) {
	case *muxSession:
		o = t.o
	case *wtSession:
		o = t.o
		t.c.dgTooLarge.Add(1)
	}
	if ms, ok := s.(*muxSession); ok {
		ms.c.dgTooLarge.Add(1)
	}
	if o.OversizeDatagrams != OversizeStream {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrDatagramTooLarge, len(b), limit)
	}
	ctx, cancel := context.WithTimeout(s.Context(), o.WriteTimeout)
	defer cancel()
	st, err := s.OpenUniStream(ctx)
	if err != nil {
		return fmt.Errorf("wt: oversize datagram: open stream: %w", err)
	}
	if err := st.SetWriteDeadline(time.Now().Add(o.WriteTimeout)); err != nil {
		return err
	}
	if _, err := st.Write(b); err != nil {
		st.CancelWrite(0)
		return fmt.Errorf("wt: oversize datagram: %w", err)
	}
	return st.Close()
}

func (s *muxSession) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return s.in.get(ctx, s.ctx.Done(), s.closeError)
}

func (s *muxSession) Close(code SessionErrorCode, reason string) error {
	s.fail(&SessionError{Code: code, Reason: cutReason(reason)}, true)
	<-s.done
	return nil
}

func (s *muxSession) Context() context.Context { return s.ctx }
func (s *muxSession) Transport() Transport     { return TransportWebSocket }
func (s *muxSession) RemoteAddr() net.Addr     { return s.remote }

func (s *muxSession) Capabilities() Capabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Capabilities{
		Transport:             TransportWebSocket,
		ReliableDatagrams:     true,
		MaxDatagramSize:       s.maxDgram,
		MaxIncomingStreams:    s.o.MaxIncomingStreams,
		MaxIncomingUniStreams: s.o.MaxIncomingUniStreams,
	}
}

// cutTo cuts s to at most n bytes on a rune boundary.
func cutTo(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:min(n, len(s))]
}
