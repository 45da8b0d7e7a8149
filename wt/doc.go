// Package wt serves WebTransport sessions with a WebSocket fallback
// behind one [Session] type: an application handler is written once and
// serves browsers and Go clients over WebTransport (HTTP/3) where it
// works and over a multiplexed WebSocket where it does not (UDP blocked,
// older browsers). Safari shipped WebTransport in 26.4 (2026), so advice
// that says "no Safari" is outdated; Chromium and Firefox have had it for
// longer.
//
// # Quick start
//
//	srv, err := wt.NewServer(func(ctx context.Context, s wt.Session) {
//		for {
//			st, err := s.AcceptStream(ctx)
//			if err != nil {
//				return // the session ended; context.Cause(ctx) says how
//			}
//			go func() { io.Copy(st, st); st.Close() }() // echo
//		}
//	}, nil)
//	mux.Handle("/wt", srv)          // WebTransport and the fallback, one URL
//	mux.Handle("/wt.js", wt.Script) // the browser module
//	hs, err := httpx.NewServer(mux, &httpx.ServerOptions{
//		TLSConfig:  tlsConf,
//		HTTP3Conns: srv, // WebTransport on the HTTP/3 port, same Alt-Svc
//	})
//	srv.RegisterOnShutdown(hs, 10*time.Second) // sessions get 1001 when draining starts
//	go hs.ListenAndServe(":443")               // TCP and UDP, one port number
//	<-ctx.Done()                               // SIGTERM
//	hs.Shutdown(context.Background())
//
// and in Go, [Dial] (WebTransport first, then the fallback) or, for a
// service that keeps a session open, [NewClient] (redials with backoff):
//
//	s, info, err := wt.Dial(ctx, "https://example.com/wt", nil)
//
// An upgrade the server refuses is a [*RefusedError] with its status and
// Retry-After; a Client waits at least the Retry-After (at most its
// MaxBackoff) before trying again.
//
// Where UDP is blocked, WebTransport fails only by timing out
// (DialOptions.WebTransportTimeout, 3s). A [BrokenCache] remembers that
// per origin, as httpx's racing transport does for HTTP/3: dials sharing
// it (DialOptions.Broken; a Client has its own) go straight to the
// fallback for 5 minutes, doubling per further failure up to 48 hours,
// with DialInfo.FallbackReason [FallbackBroken], and then try
// WebTransport again. A 503 or a Retry-After is the server's limit, not a
// broken path, and is not remembered.
//
// # Serving
//
// A [Server] is an http.Handler mounted at one path: a WebSocket GET
// there is the fallback, an HTTP/3 extended CONNECT (":protocol
// webtransport-h3") is WebTransport. WebTransport needs the QUIC
// connections. With httpx.Server, set ServerOptions.HTTP3Conns to the
// Server: httpx calls [Server.ConfigureHTTP3] and hands every QUIC
// connection to [Server.ServeQUICConn], so WebTransport and plain HTTP/3
// share the UDP port, TLS config and Alt-Svc of HTTP/1.1 and HTTP/2, and
// httpx's drain closes the connections after their requests. Any other
// HTTP/3 server that accepts connections itself can do the same;
// [Server.ServeQUIC] serves HTTP/3 on a UDP socket on its own. Serve the
// UDP socket on the TCP listener's port so that Alt-Svc and the browser
// find it, and dual-stack ("[::]") for localhost: Chromium resolves
// localhost to ::1 and does not fall back to 127.0.0.1. Middleware
// between the HTTP/3 server and the Server (compression, logging) may wrap
// the ResponseWriter if the wrapper has Unwrap, as http.ResponseController
// expects; without it a WebTransport upgrade gets 500.
//
// Before either upgrade the Server refuses, with 403, a browser page from
// another origin unless ServerOptions.OriginPatterns allows it; with 503
// and Retry-After a session over ServerOptions.MaxSessions (10,000, both
// transports together) or MaxSessionsPerIP (100, by ServerOptions.ClientIP)
// and any upgrade during shutdown; and with 400 a fallback client that
// does not offer the wire format's version ([Subprotocol]). A session
// counts against the limits from its admission, before the handshake,
// until its handler has returned. This admission, the session registry
// and the drain are the connection-server core the ws Hub and the sse
// Server use, so the three read and behave alike.
//
// Shutdown closes the sessions with [CodeGoingAway] and a reconnect hint,
// ServerOptions.ShutdownBatch (100) at a time with a random pause of up to
// ShutdownJitter (100ms) between batches so that clients do not all
// reconnect at once, waits for the handlers, then closes the QUIC
// connections if ServeQUIC serves them (an HTTP/3 server that handed them
// over closes its own).
// [Server.RegisterOnShutdown] wires Shutdown into an httpx.Server's drain
// (it runs when draining starts, while the listeners still serve) or an
// *http.Server's Shutdown.
//
// A handler runs on the request's goroutine; when it returns the session
// is closed with [CodeNormal]. A handler that panics (or calls
// runtime.Goexit) closes its session with [CodeInternalError], is
// counted in Stats.HandlerPanics, and the server goes on.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero
// field select the documented default; a negative value switches a limit
// or feature off where the field says so and is otherwise an error from
// the constructor, naming the field. In ServerOptions, MaxSessions and
// MaxSessionsPerIP take a negative value as "no limit", ShutdownBatch as
// "all at once" and ShutdownJitter as "no pause"; in Options,
// DatagramMaxAge as "no age limit".
//
// # What each transport gives
//
// [Session.Capabilities] says it. On WebTransport streams are
// independent QUIC streams and datagrams are QUIC datagrams (unreliable,
// unordered, at most about 1,200 bytes). On the fallback all streams
// share one TCP connection (a lost packet delays them all) and datagrams
// are reliable and ordered; a datagram the queue dropped is still lost.
// The same limits apply on both: Options.MaxDatagramSize (1,100 bytes by
// default, what every QUIC path carries), Options.MaxIncomingStreams and
// MaxIncomingUniStreams (100 each, quic-go's default, stated here so both
// transports give the same; on WebTransport they are the QUIC
// connection's limits, one session per connection).
//
// # Datagrams
//
// SendDatagram never blocks: a datagram goes into a bounded queue
// (Options.DatagramQueue, 64) where the newest wins, and is dropped if it
// waited longer than Options.DatagramMaxAge (1s) when its turn comes,
// like the browser's outgoingMaxAge. A payload above the size limit is
// refused with [ErrDatagramTooLarge], or sent on a unidirectional stream
// of its own with [OversizeStream]. On the fallback received datagrams
// wait for ReceiveDatagram in a buffer bounded in bytes
// (Options.FallbackDatagramBuffer, 1 MiB): they already crossed the
// network, and TCP delivers in one burst what it held back while
// recovering a loss, so a small count would drop them. Drops are counted
// by reason in [Stats]; a client sees its session's in [SessionStats].
//
// # Streams and backpressure
//
// Writes block while the peer's flow-control window for the stream is
// full, so a peer that stops reading one stream blocks only that stream;
// SetWriteDeadline bounds the wait (os.ErrDeadlineExceeded). On the
// fallback each stream has a credit window (Options.StreamWindow,
// 256 KiB; a stream the application keeps reading may grow to four times
// that, from a budget of 3×StreamWindow per session shared by its
// streams) and a Write is cut into frames of Options.MaxFrameSize
// (16 KiB), so streams take turns on the socket; a socket that takes
// nothing for Options.WriteTimeout ends the session.
//
// # Keep-alive
//
// Every Options.KeepAlive (15s) an idle session proves its path is alive:
// on WebTransport with QUIC PINGs (a dead path ends the session at the
// QUIC idle timeout), on the fallback with a WebSocket ping that must be
// answered within Options.PongTimeout (10s), else the session ends with
// [ErrSessionLost] and is counted in Stats.PingTimeouts. A Server's
// fallback pings are scheduled by the connection-server core's one clock,
// spread over its beat slots, so an idle session has no timer of its own;
// a Go client pings from its session's writer.
//
// # Close codes
//
// [Session.Close] takes a 32-bit code and a reason, and the peer's
// errors then match a [*SessionError] with both, on either transport.
// The package's own codes borrow the WebSocket close codes' numbers
// (1001 going away, 1002 protocol error, 1009 too big, 1011 internal
// error, 1013 try again later), and application codes 4000–4999 read
// the same everywhere; see [WebSocketCloseCode] for the mapping used in
// the fallback's WebSocket close frame.
//
// On WebTransport webtransport-go loses the peer's code in two places:
// the session context's cause is only "context canceled" and
// ReceiveDatagram returns a bare EOF. This package takes the code from
// the *webtransport.SessionError the stream accept returns, so Context's
// cause and every method's error carry it. A Go client's Close keeps the
// QUIC connection open until the server has seen the close (at most a
// second), since closing it at once discards the close capsule; the
// server closes a connection whose client closed its session.
//
// # Browser module
//
// [Script] serves wt.js, an ES module: connect(url, options) tries
// WebTransport (with serverCertificateHashes for a development
// certificate), falls back to the WebSocket after a failure or a timeout
// (a timeout is remembered per origin in localStorage for a backoff,
// options.brokenBackoff, 5 minutes, as a BrokenCache does), reports which
// transport it got and why, and gives the page the same
// session API over both (streams as WHATWG streams, datagrams, close with
// a code and reason).
//
// # The fallback's wire format, version 1
//
// The WebSocket subprotocol is "wirespeed-wt.v1" ([Subprotocol]); a
// future version gets a new name, and the server accepts only versions it
// speaks. Every WebSocket message is binary and carries exactly one
// frame: a type byte, then big-endian fixed-width fields:
//
//	0x00 HELLO        max_bidi u32, max_uni u32, window u32, max_frame u32, max_datagram u32
//	0x01 OPEN         stream u32
//	0x02 DATA         stream u32, payload (1..max_frame bytes; 0 allowed)
//	0x03 FIN          stream u32
//	0x04 RESET        stream u32, code u32
//	0x05 STOP_SENDING stream u32, code u32
//	0x06 CREDIT       stream u32, increment u32 (> 0)
//	0x07 MAX_STREAMS  kind u8 (0 bidirectional, 1 unidirectional), count u32
//	0x08 DATAGRAM     payload (..max_datagram bytes)
//	0x09 CLOSE        code u32, reason (UTF-8, at most 1024 bytes)
//
// Each side sends HELLO first and exactly once: how many streams of each
// kind the other may have open towards it, the initial credit of every
// stream it receives on (window, bytes), and the largest DATA and
// DATAGRAM payloads it accepts.
//
// Stream IDs: bit 0 is the initiator (0 client, 1 server), bit 1 the
// direction (0 bidirectional, 1 unidirectional), the rest an index that
// each initiator counts up from 0 per kind. OPEN must come in index order
// and below the receiver's cumulative limit: its HELLO count, raised by
// MAX_STREAMS (count is cumulative, never decreasing) as streams end.
// A stream ends, and stops counting, when both of its directions have:
// the sending side by FIN, RESET, or the peer's STOP_SENDING (which the
// sender answers with RESET unless it already sent FIN or RESET); the
// receiving side when the application has read FIN, or on RESET, or, after
// its own STOP_SENDING, when the peer's FIN or RESET arrives (data
// arriving meanwhile is discarded).
//
// Flow control: the sender of DATA may send, per stream, the receiver's
// window plus all CREDIT increments it received for that stream; the
// receiver grants credit as the application reads.
//
// DATAGRAM frames carry datagrams; CLOSE ends the session with a code and
// reason, after which the sender closes the WebSocket with
// [WebSocketCloseCode] of the code.
//
// A receiver closes the session, with CLOSE code 1002 ([CodeProtocolError])
// and WebSocket close 1002, on: a text message, an unknown frame type, a
// frame of the wrong length, a frame before HELLO or a second HELLO, an
// OPEN out of order, with the receiver's initiator bit or above the
// limit, DATA, FIN or RESET on a stream never opened or after its FIN or
// RESET, DATA, FIN or RESET on a stream the receiver sends on only,
// STOP_SENDING or CREDIT on a stream it receives on only, DATA beyond the
// credit, a CREDIT of zero or taking the credit above 2^32, MAX_STREAMS
// going down; and with 1009 ([CodeMessageTooBig]) on DATA or DATAGRAM
// above the sizes its HELLO announced. STOP_SENDING and CREDIT for a
// stream that has ended are ignored (they may cross its FIN). None of it
// affects other sessions.
package wt
