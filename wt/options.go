package wt

import (
	"fmt"
	"time"
)

// Oversize says what SendDatagram does with a payload above the
// datagram size limit.
type Oversize uint8

const (
	// OversizeRefuse returns an error wrapping [ErrDatagramTooLarge].
	OversizeRefuse Oversize = iota
	// OversizeStream opens a unidirectional stream, writes the payload and
	// closes it; the peer receives it from AcceptUniStream as a stream
	// carrying only that payload (reliably, unlike a datagram).
	OversizeStream
)

// Options configures the sessions of a [Server] or of [Dial]. A nil
// *Options is valid and means all defaults; it is copied, never changed.
type Options struct {
	// MaxIncomingStreams is how many bidirectional streams the peer may
	// have open at once in one session; it waits (OpenStream blocks) for
	// more. Defaults to 100, quic-go's default, kept so that both
	// transports give the same; negative is an error.
	MaxIncomingStreams int
	// MaxIncomingUniStreams is the same for unidirectional streams.
	// Defaults to 100; negative is an error.
	MaxIncomingUniStreams int
	// StreamWindow is the fallback's per-stream flow-control window: how
	// many bytes the peer may send on one stream before the application
	// reads them. A stream the application keeps reading may grow its
	// window up to 4×StreamWindow, from a growth budget of 3×StreamWindow
	// per session shared by its streams, so a session buffers at most
	// StreamWindow per stream plus 3×StreamWindow. Defaults to 256 KiB;
	// negative is an error. (On WebTransport quic-go's own windows apply.)
	StreamWindow int
	// MaxFrameSize is the largest DATA payload of a fallback frame; a
	// Write is cut into frames of at most this size, so streams take turns
	// on the socket at this granularity. Defaults to 16 KiB; negative is an
	// error.
	MaxFrameSize int
	// MaxDatagramSize is the largest datagram payload SendDatagram takes
	// on either transport, so an application behaves the same on both.
	// Defaults to 1100 bytes, which fits in a QUIC packet on every path
	// (QUIC's minimum of 1200 bytes less its headers); WebTransport may
	// lower it when quic-go reports a smaller path. Negative is an error.
	MaxDatagramSize int
	// OversizeDatagrams says what SendDatagram does above MaxDatagramSize.
	// Defaults to OversizeRefuse.
	OversizeDatagrams Oversize
	// DatagramQueue bounds the outbound datagrams waiting to be sent; when
	// full the oldest is dropped (newest wins) and counted. (Received
	// datagrams: on WebTransport quic-go buffers up to 128; on the
	// fallback see FallbackDatagramBuffer.) Defaults to 64; negative is an
	// error.
	DatagramQueue int
	// FallbackDatagramBuffer bounds, in bytes, the received datagrams
	// waiting for ReceiveDatagram on the fallback; past it the oldest are
	// dropped and counted in DatagramsDropped.QueueFull. Each datagram
	// counts its buffer plus 32 bytes, so the bound holds for tiny ones
	// too. It is large because datagrams on the fallback have crossed the
	// network already, and TCP hands over in one burst what it held back
	// while recovering a lost segment; dropping them then loses data the
	// path delivered. Defaults to 1 MiB (about 900 datagrams of the
	// default MaxDatagramSize, more of small ones); negative is an error.
	FallbackDatagramBuffer int
	// DatagramMaxAge drops an outbound datagram that waited longer than
	// this in the queue, like the browser's outgoingMaxAge. Defaults to
	// 1s; negative means no limit.
	DatagramMaxAge time.Duration
	// KeepAlive is how often a WebTransport session's QUIC connection
	// sends a PING while idle (quic-go caps it at half the idle timeout),
	// so that a quiet session outlives the QUIC idle timeout (quic-go's
	// default is 30s; an httpx.Server's is its IdleTimeout) and NAT
	// bindings. On the fallback it is the time between WebSocket pings,
	// each waiting PongTimeout for its pong (a server's pings are
	// scheduled by its one clock, so an idle session has no timer of its
	// own). Defaults to 15s; negative means none: an idle WebTransport
	// session then ends at the idle timeout, and a fallback session whose
	// peer or path silently went away is not noticed until a write fails.
	KeepAlive time.Duration
	// PongTimeout is how long a fallback ping waits for its pong before
	// the session ends with ErrSessionLost (the peer, or a proxy on the
	// way, stopped delivering). Defaults to 10s; negative is an error.
	PongTimeout time.Duration
	// WriteTimeout bounds one write on the fallback's WebSocket; a socket
	// that takes nothing for this long ends the session (the peer is gone
	// or not reading anything at all). Stream deadlines bound waiting for
	// the peer's credit instead. Defaults to 10s; negative is an error.
	WriteTimeout time.Duration
}

// DefaultMaxIncomingStreams is the default of Options.MaxIncomingStreams
// and MaxIncomingUniStreams.
const DefaultMaxIncomingStreams = 100

func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxIncomingStreams", &r.MaxIncomingStreams, DefaultMaxIncomingStreams},
		{"MaxIncomingUniStreams", &r.MaxIncomingUniStreams, DefaultMaxIncomingStreams},
		{"StreamWindow", &r.StreamWindow, 256 << 10},
		{"MaxFrameSize", &r.MaxFrameSize, 16 << 10},
		{"MaxDatagramSize", &r.MaxDatagramSize, 1100},
		{"DatagramQueue", &r.DatagramQueue, 64},
		{"FallbackDatagramBuffer", &r.FallbackDatagramBuffer, 1 << 20},
	} {
		if *f.v < 0 {
			return r, fmt.Errorf("wt: Options.%s is negative (%d); use 0 for the default", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v > 1<<30 {
			return r, fmt.Errorf("wt: Options.%s %d is above 2^30", f.name, *f.v)
		}
	}
	if r.DatagramMaxAge == 0 {
		r.DatagramMaxAge = time.Second
	}
	if r.KeepAlive == 0 {
		r.KeepAlive = 15 * time.Second
	}
	if r.PongTimeout < 0 {
		return r, fmt.Errorf("wt: Options.PongTimeout is negative (%v); use 0 for the default", r.PongTimeout)
	}
	if r.PongTimeout == 0 {
		r.PongTimeout = 10 * time.Second
	}
	if r.WriteTimeout < 0 {
		return r, fmt.Errorf("wt: Options.WriteTimeout is negative (%v); use 0 for the default", r.WriteTimeout)
	}
	if r.WriteTimeout == 0 {
		r.WriteTimeout = 10 * time.Second
	}
	if r.OversizeDatagrams > OversizeStream {
		return r, fmt.Errorf("wt: Options.OversizeDatagrams %d is not an Oversize", r.OversizeDatagrams)
	}
	return r, nil
}
