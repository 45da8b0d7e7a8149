package wt

import (
	"context"
	"io"
	"net"
	"time"
)

// Transport names what carries a [Session].
type Transport uint8

// The transports a Session can run on.
const (
	// TransportWebTransport is WebTransport over HTTP/3 (QUIC): streams
	// are independent (a lost packet stalls only its stream) and
	// datagrams are unreliable and unordered.
	TransportWebTransport Transport = iota + 1
	// TransportWebSocket is the WebSocket fallback: streams are
	// multiplexed over one TCP connection (a lost packet stalls them all)
	// and datagrams are delivered reliably and in order, or dropped by
	// the sender's queue when it is full.
	TransportWebSocket
)

// String returns "webtransport" or "websocket".
func (t Transport) String() string {
	switch t {
	case TransportWebTransport:
		return "webtransport"
	case TransportWebSocket:
		return "websocket"
	}
	return "unknown"
}

// Capabilities says honestly what a Session's transport gives.
type Capabilities struct {
	// Transport is what carries the session.
	Transport Transport
	// ReliableDatagrams: datagrams that leave the sender's queue arrive,
	// in order (true on the WebSocket fallback).
	ReliableDatagrams bool
	// IndependentStreams: a lost or slow packet delays only its own
	// stream (true on WebTransport; on the fallback all streams share one
	// TCP connection and its head-of-line blocking).
	IndependentStreams bool
	// MaxDatagramSize is the largest payload SendDatagram accepts now.
	MaxDatagramSize int
	// MaxIncomingStreams and MaxIncomingUniStreams are how many streams
	// of each kind the peer may have open towards us at once.
	MaxIncomingStreams, MaxIncomingUniStreams int
}

// Session is one client's session, over WebTransport or over the
// WebSocket fallback; an application handler written against it serves
// both. Its methods are safe for concurrent use, except that a stream is
// read by one goroutine and written by one goroutine at a time.
//
// Every error a Session or its streams return after the session ended
// matches (errors.As) a [*SessionError] with the code and reason of
// whichever side closed it, or wraps [ErrSessionLost] when the connection
// broke without a close.
type Session interface {
	// OpenStream opens a bidirectional stream, waiting while the peer's
	// stream limit is reached, until ctx is done.
	OpenStream(ctx context.Context) (Stream, error)
	// AcceptStream waits for the peer's next bidirectional stream.
	AcceptStream(ctx context.Context) (Stream, error)
	// OpenUniStream opens a unidirectional (send-only) stream, waiting
	// while the peer's limit is reached, until ctx is done.
	OpenUniStream(ctx context.Context) (SendStream, error)
	// AcceptUniStream waits for the peer's next unidirectional stream.
	AcceptUniStream(ctx context.Context) (ReceiveStream, error)
	// SendDatagram queues b (copied) for sending and returns without
	// waiting for the network. It returns an error wrapping
	// [ErrDatagramTooLarge] for a payload above
	// Capabilities().MaxDatagramSize unless the session sends those on a
	// stream (Options.OversizeDatagrams). Datagrams may be dropped: when
	// the queue is full (the oldest goes), when older than
	// Options.DatagramMaxAge, and on WebTransport by the network.
	SendDatagram(b []byte) error
	// ReceiveDatagram waits for the next datagram.
	ReceiveDatagram(ctx context.Context) ([]byte, error)
	// Close closes the session with an application code and a reason
	// (at most 1024 bytes; longer is cut) that the peer sees. Closing an
	// ended session does nothing and returns nil.
	Close(code SessionErrorCode, reason string) error
	// Context is cancelled when the session ends; its cause
	// (context.Cause) is the session's error, a *SessionError when either
	// side closed it.
	Context() context.Context
	// Transport is what carries the session.
	Transport() Transport
	// Capabilities describes the transport's guarantees and limits.
	Capabilities() Capabilities
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
}

// ReceiveStream is the receiving side of a stream. Read returns io.EOF
// after the peer's Close, a [*StreamError] after the peer's CancelWrite,
// and os.ErrDeadlineExceeded (a net.Error with Timeout) past the read
// deadline.
type ReceiveStream interface {
	io.Reader
	// CancelRead tells the peer to stop sending (STOP_SENDING) with code
	// and discards what arrives.
	CancelRead(code StreamErrorCode)
	// SetReadDeadline bounds Read calls, pending and future; zero means
	// none.
	SetReadDeadline(t time.Time) error
}

// SendStream is the sending side of a stream. Write blocks while the
// peer's flow-control window is full (a peer that stops reading blocks
// only this stream) and returns os.ErrDeadlineExceeded past the write
// deadline, a [*StreamError] after the peer's CancelRead.
type SendStream interface {
	io.Writer
	// Close ends the stream cleanly (FIN): the peer reads io.EOF after
	// the data written so far.
	Close() error
	// CancelWrite aborts sending (RESET_STREAM) with code; data not yet
	// delivered may be lost.
	CancelWrite(code StreamErrorCode)
	// SetWriteDeadline bounds Write calls, pending and future; zero means
	// none.
	SetWriteDeadline(t time.Time) error
}

// Stream is a bidirectional stream.
type Stream interface {
	ReceiveStream
	SendStream
	// SetDeadline sets both the read and the write deadline.
	SetDeadline(t time.Time) error
}
