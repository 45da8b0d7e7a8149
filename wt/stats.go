package wt

import "sync/atomic"

// DropReasons counts dropped datagrams by reason.
type DropReasons struct {
	// Expired: older than Options.DatagramMaxAge when its turn came.
	Expired int64
	// QueueFull: pushed out of a full queue, outbound or inbound.
	QueueFull int64
	// TooLarge: above the size limit (refused by SendDatagram, or by
	// quic-go for a path smaller than MaxDatagramSize).
	TooLarge int64
}

// Stats is a snapshot of a Server's (or one client's) counters.
type Stats struct {
	// WebTransport and WebSocket are the sessions open now per transport.
	WebTransport, WebSocket int64
	// SessionsTotal counts the sessions opened since the start.
	SessionsTotal int64
	// StreamsOpen are the streams open now (both directions, both
	// initiators); StreamsOpened counts them since the start.
	StreamsOpen, StreamsOpened int64
	// DatagramsSent and DatagramsReceived count datagrams handed to the
	// network and to ReceiveDatagram.
	DatagramsSent, DatagramsReceived int64
	// DatagramsDropped counts datagrams dropped, by reason.
	DatagramsDropped DropReasons
	// ProtocolErrors counts fallback sessions closed for breaking the
	// protocol.
	ProtocolErrors int64
	// PingTimeouts counts fallback sessions ended because a ping got no
	// pong within Options.PongTimeout.
	PingTimeouts int64
	// HandlerPanics counts handlers, and ServerOptions.ClientIP hooks,
	// that panicked or called runtime.Goexit.
	HandlerPanics int64
	// Refused counts upgrades refused or failed for a bad request: not a
	// CONNECT or GET, no common subprotocol, a failed handshake.
	Refused int64
	// RejectedLimit counts upgrades refused with 503 and Retry-After: a
	// session limit, or the server shutting down.
	RejectedLimit int64
	// RejectedOrigin counts upgrades refused with 403: a cross-origin page
	// that ServerOptions.OriginPatterns do not allow.
	RejectedOrigin int64
	// Fallbacks counts WebSocket sessions by the reason their client
	// gave for falling back (see FallbackParam).
	Fallbacks FallbackReasons
}

// counters are the live counters behind Stats, shared by a server's
// sessions.
type counters struct {
	wt, ws, total       atomic.Int64
	streamsOpen, opened atomic.Int64
	dgSent, dgRecv      atomic.Int64
	dgExpired, dgFull   atomic.Int64
	dgTooLarge          atomic.Int64
	protocolErrs        atomic.Int64
	pingTimeouts        atomic.Int64
	refused             atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		WebTransport:      c.wt.Load(),
		WebSocket:         c.ws.Load(),
		SessionsTotal:     c.total.Load(),
		StreamsOpen:       c.streamsOpen.Load(),
		StreamsOpened:     c.opened.Load(),
		DatagramsSent:     c.dgSent.Load(),
		DatagramsReceived: c.dgRecv.Load(),
		DatagramsDropped: DropReasons{
			Expired:   c.dgExpired.Load(),
			QueueFull: c.dgFull.Load(),
			TooLarge:  c.dgTooLarge.Load(),
		},
		ProtocolErrors: c.protocolErrs.Load(),
		PingTimeouts:   c.pingTimeouts.Load(),
		Refused:        c.refused.Load(),
	}
}

func (c *counters) streamOpened() { c.opened.Add(1); c.streamsOpen.Add(1) }
func (c *counters) streamClosed() { c.streamsOpen.Add(-1) }

// SessionStats returns the counters of one session from [Dial] (or a
// [Client]): its streams, its datagrams sent, received and dropped (on
// the fallback, received datagrams past Options.FallbackDatagramBuffer
// are dropped and counted here), so that a client application can see
// what it lost. ok is false for a Server's session, whose counters are
// the Server's ([Server.Stats]).
func SessionStats(s Session) (st Stats, ok bool) {
	d, ok := s.(interface{ dialStats() (Stats, bool) })
	if !ok {
		return Stats{}, false
	}
	return d.dialStats()
}

func (s *muxSession) dialStats() (Stats, bool) {
	if s.server {
		return Stats{}, false
	}
	return s.c.snapshot(), true
}

func (w *wtSession) dialStats() (Stats, bool) {
	if !w.client {
		return Stats{}, false
	}
	return w.c.snapshot(), true
}
