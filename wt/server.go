package wt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"

	"github.com/wirespeed/wirespeed/internal/connserver"
)

// Handler serves one session; the session is closed (CodeNormal) when it
// returns. ctx is the session's context.
type Handler func(ctx context.Context, s Session)

// ServerOptions configures a [Server]. A nil *ServerOptions is valid and
// means all defaults; it is copied, never changed. A zero field selects
// its default; a negative one is an error from NewServer unless the field
// gives it a meaning.
type ServerOptions struct {
	// Session configures every session (stream limits, windows,
	// datagrams). Nil means the defaults of [Options].
	Session *Options
	// OriginPatterns are host patterns (path.Match syntax, e.g.
	// "*.example.com"; a pattern with "://" is matched against
	// scheme://host) of cross-origin pages allowed to open sessions. The
	// request's own host is always allowed, and so are clients that send
	// no Origin (non-browser clients). Nil, the default, allows
	// same-origin only: a page from elsewhere gets 403 before the
	// upgrade, on both transports. A malformed pattern is an error.
	OriginPatterns []string
	// MaxSessions bounds the sessions, both transports together, counted
	// from the moment an upgrade is admitted (before the handshake) until
	// the handler has returned; over it, upgrades get HTTP 503 with
	// Retry-After. Zero means the default, 10000; negative means no limit.
	MaxSessions int
	// MaxSessionsPerIP bounds sessions per client IP (see ClientIP),
	// counted like MaxSessions. Zero means the default, 100; negative
	// means no limit.
	MaxSessionsPerIP int
	// RetryAfter is the Retry-After given with a 503, rounded up to whole
	// seconds. Zero means the default, 5s; negative is an error.
	RetryAfter time.Duration
	// ClientIP returns the client address used for MaxSessionsPerIP. Set
	// it to read a trusted proxy's X-Forwarded-For. It runs on a
	// goroutine of its own for each upgrade: if it panics or calls
	// runtime.Goexit, that request gets 500, Stats.HandlerPanics counts it,
	// and the server goes on. Nil, the default, means the host part of
	// Request.RemoteAddr.
	ClientIP func(*http.Request) string
	// ShutdownBatch is how many sessions Shutdown closes at a time. Zero
	// means the default, 100; negative closes them all at once.
	ShutdownBatch int
	// ShutdownJitter is the largest random pause between two Shutdown
	// batches, so clients do not reconnect in a storm. Zero means the
	// default, 100ms; negative means no pause.
	ShutdownJitter time.Duration
	// ShutdownReason is the close reason Shutdown gives sessions (code
	// CodeGoingAway), a hint for clients; longer than 123 bytes (what a
	// WebSocket close frame carries) is an error. "" means the default,
	// "server shutting down; reconnect".
	ShutdownReason string
}

// Server accepts sessions on both transports and runs one [Handler] for
// each: WebTransport (an HTTP/3 extended CONNECT, which needs the Server
// wired into the HTTP/3 server, see [Server.ConfigureHTTP3]) and the
// WebSocket fallback (a GET upgrade on HTTP/1.1 or HTTP/2). Mount it at
// one path; the same URL serves both.
//
// Its methods are safe for concurrent use. Handlers run on the HTTP
// server's request goroutines; Shutdown and Close wait for them.
type Server struct {
	handler Handler
	opts    ServerOptions
	sess    Options
	c       counters
	fb      fallbackCounters
	// core is the connection-server core ws and sse share: client IP,
	// origin check, global and per-IP reservations, the session registry
	// and the jittered drain.
	core *connserver.Server[*entry, struct{}]

	wtMu sync.Mutex // protects wts
	wts  *webtransport.Server

	mu           sync.Mutex // protects the fields below
	closing      bool
	standalone   bool // ServeQUIC owns the QUIC connections
	closedC      context.Context
	closedCancel context.CancelFunc

	serving sync.WaitGroup // ServeQUIC

	slots atomic.Uint64 // spreads sessions over the clock's beat slots
	due   []*muxSession // beat's scratch, used on the clock goroutine only
}

// entry is one session in the core's registry.
type entry struct {
	sess  Session
	slot  uint64        // the clock's beat slot that pings it (fallback)
	ended chan struct{} // closed once the handler returned and the session was released
}

// NewServer returns a Server that runs h for each session. It returns an
// error for invalid options (a negative value where the field gives it no
// meaning names the field).
func NewServer(h Handler, opts *ServerOptions) (*Server, error) {
	if h == nil {
		return nil, errors.New("wt: NewServer needs a handler")
	}
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	v := connserver.Checker{Pkg: "wt", Type: "ServerOptions"}
	v.Int("MaxSessions", &o.MaxSessions, 10000, true)
	v.Int("MaxSessionsPerIP", &o.MaxSessionsPerIP, 100, true)
	v.Int("ShutdownBatch", &o.ShutdownBatch, 100, true)
	v.Duration("ShutdownJitter", &o.ShutdownJitter, 100*time.Millisecond, true)
	if len(o.ShutdownReason) > 123 {
		v.Fail(errors.New("wt: ServerOptions.ShutdownReason is longer than 123 bytes; a close reason must fit a WebSocket close frame"))
	}
	if v.Err != nil {
		return nil, v.Err
	}
	if o.ShutdownReason == "" {
		o.ShutdownReason = "server shutting down; reconnect"
	}
	so, err := o.Session.resolve()
	if err != nil {
		return nil, err
	}
	o.Session = nil
	s := &Server{handler: h, sess: so}
	hb := so.KeepAlive // WebTransport's keep-alive is QUIC's
	if hb <= 0 {
		hb = -1
	}
	s.core, err = connserver.New(connserver.Config{
		Pkg: "wt", Type: "ServerOptions",
		MaxConns: o.MaxSessions, MaxConnsPerIP: o.MaxSessionsPerIP, RetryAfter: o.RetryAfter,
		ClientIP: o.ClientIP, OriginPatterns: o.OriginPatterns,
		Heartbeat: hb, LingerWait: 1, // the clock pings fallback sessions
		ShutdownBatch: max(o.ShutdownBatch, 0), ShutdownJitter: max(o.ShutdownJitter, 0),
	}, nil, connserver.Hooks[*entry, struct{}]{
		Start:  func(*connserver.Topic[*entry, struct{}]) {}, // no topics
		Beat:   s.beat,
		GoAway: s.goAway,
		Abort:  s.goAway,
		Ended:  func(e *entry) <-chan struct{} { return e.ended },
	})
	if err != nil {
		return nil, err
	}
	o.OriginPatterns = s.core.Config().OriginPatterns
	s.opts = o
	return s, nil
}

// beat runs on the core's clock BeatSlots times per Options.KeepAlive:
// it pings the fallback sessions of this slot, each from a short-lived
// goroutine, so an idle session has no timer or goroutine of its own for
// keep-alives.
func (s *Server) beat(slot uint64) {
	s.core.Mu.Lock()
	if s.core.ClosingLocked() {
		s.core.Mu.Unlock()
		return
	}
	for e := range s.core.ConnsLocked() {
		if ms, ok := e.sess.(*muxSession); ok && e.slot == slot && ms.pinging.CompareAndSwap(false, true) {
			s.due = append(s.due, ms)
		}
	}
	s.core.WG.Add(len(s.due))
	s.core.Mu.Unlock()
	for _, ms := range s.due {
		go func() {
			defer s.core.WG.Done()
			ms.ping()
		}()
	}
	clear(s.due)
	s.due = s.due[:0]
}

// goAway starts closing a session with CodeGoingAway and the reconnect
// hint, without waiting: the handler sees its context end and returns.
func (s *Server) goAway(e *entry) {
	s.core.WG.Go(func() { _ = e.sess.Close(CodeGoingAway, s.opts.ShutdownReason) })
}

// ConfigureHTTP3 prepares an HTTP/3 server and its QUIC config for
// WebTransport before it serves: the WebTransport and datagram SETTINGS,
// QUIC datagrams and partial-delivery resets, keep-alive PINGs
// (Options.KeepAlive), and the incoming stream limits of the session
// options (one WebTransport session per QUIC connection, so the
// connection's limits are the session's; plain HTTP/3 requests on the
// connection share the bidirectional limit). Accepted QUIC
// connections must then be served by [Server.ServeQUICConn], not by the
// HTTP/3 server. Call it once, with the server that routes the session
// URL to this Server.
func (s *Server) ConfigureHTTP3(h3 *http3.Server, qcfg *quic.Config) {
	webtransport.ConfigureHTTP3Server(h3)
	connContext := h3.ConnContext
	h3.ConnContext = func(ctx context.Context, c *quic.Conn) context.Context {
		if connContext != nil {
			ctx = connContext(ctx, c)
		}
		return context.WithValue(ctx, quicConnKey{}, c)
	}
	qcfg.EnableDatagrams = true
	qcfg.EnableStreamResetPartialDelivery = true
	qcfg.MaxIncomingStreams = int64(s.sess.MaxIncomingStreams) + 1       // + the CONNECT stream
	qcfg.MaxIncomingUniStreams = int64(s.sess.MaxIncomingUniStreams) + 3 // + HTTP/3 control and QPACK streams
	// Idle plain HTTP/3 connections are still closed by the HTTP/3
	// server's own idle timer, which PINGs do not reset.
	qcfg.KeepAlivePeriod = max(s.sess.KeepAlive, 0)
	h3.QUICConfig = qcfg
	s.wtMu.Lock()
	s.wts = &webtransport.Server{H3: h3, CheckOrigin: func(*http.Request) bool { return true }} // admission checked the origin
	s.wtMu.Unlock()
}

type quicConnKey struct{}

// ServeQUICConn serves one QUIC connection accepted with the config
// ConfigureHTTP3 prepared: WebTransport streams go to their sessions,
// everything else to the HTTP/3 server. It returns when the connection
// ends.
func (s *Server) ServeQUICConn(conn *quic.Conn) error {
	wts := s.webtransport()
	if wts == nil {
		conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeInternalError), "")
		return errors.New("wt: ServeQUICConn before ConfigureHTTP3")
	}
	return wts.ServeQUICConn(conn)
}

func (s *Server) webtransport() *webtransport.Server {
	s.wtMu.Lock()
	defer s.wtMu.Unlock()
	return s.wts
}

// ServeQUIC serves HTTP/3 with WebTransport on pc, standalone: h handles
// the requests (route the session URL to s in it), tlsConf gives the
// certificate. It blocks until Close or Shutdown and closes pc. For
// localhost in Chromium, bind pc dual-stack ("[::]:port"): Chromium tries
// ::1 first and does not fall back to 127.0.0.1.
func (s *Server) ServeQUIC(pc net.PacketConn, tlsConf *tls.Config, h http.Handler) error {
	h3 := &http3.Server{Handler: h, TLSConfig: http3.ConfigureTLSConfig(tlsConf.Clone())}
	qcfg := &quic.Config{}
	s.ConfigureHTTP3(h3, qcfg)
	ln, err := quic.ListenEarly(pc, h3.TLSConfig, qcfg)
	if err != nil {
		pc.Close()
		return fmt.Errorf("wt: QUIC listener: %w", err)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		pc.Close()
		return ErrServerClosed
	}
	s.serving.Add(1)
	s.standalone = true
	s.mu.Unlock()
	defer s.serving.Done()
	stop := context.AfterFunc(s.closedCtx(), func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			break
		}
		wg.Go(func() { _ = s.ServeQUICConn(conn) })
	}
	// Shutdown or Close closes the WebTransport server (and with it the
	// connections) once the sessions have ended.
	wg.Wait()
	pc.Close()
	return ErrServerClosed
}

// ServeHTTP upgrades a WebTransport CONNECT or a WebSocket GET and runs
// the handler until it returns. Before either upgrade it answers 400 for
// anything else (or a fallback client without [Subprotocol]), 403 for a
// cross-origin page OriginPatterns do not allow, 503 with Retry-After at
// a session limit or while shutting down, and 500 when
// ServerOptions.ClientIP panics or calls runtime.Goexit.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isWT := r.Method == http.MethodConnect && (r.Proto == "webtransport-h3" || r.Proto == "webtransport")
	switch {
	case !isWT && r.Method != http.MethodGet:
		s.c.refused.Add(1)
		http.Error(w, "wt: want a WebTransport CONNECT or a WebSocket GET", http.StatusBadRequest)
		return
	case !isWT && !offers(r, Subprotocol):
		s.c.refused.Add(1)
		w.Header().Set("Connection", "close")
		http.Error(w, "wt: WebSocket fallback needs subprotocol "+Subprotocol+" (Sec-WebSocket-Protocol)", http.StatusBadRequest)
		return
	}
	if ok, _ := s.core.CheckOrigin(w, r); !ok {
		return
	}
	ip, ok := s.core.Admit(w, r)
	if !ok {
		return
	}
	sess := s.upgrade(w, r, isWT)
	if sess == nil {
		s.core.Release(ip)
		return
	}
	e := &entry{sess: sess, slot: s.slots.Add(1) % connserver.BeatSlots, ended: make(chan struct{})}
	if _, ok := s.core.Add(e); !ok {
		// Shutdown began during the upgrade.
		_ = sess.Close(CodeGoingAway, s.opts.ShutdownReason)
		s.core.Release(ip)
		return
	}
	s.run(e, ip)
}

// upgrade answers the upgrade and returns the session, or nil when it
// failed (the response is written).
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, isWT bool) Session {
	if !isWT {
		s.fb.count(r.URL.Query().Get(FallbackParam))
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:       []string{Subprotocol},
			InsecureSkipVerify: true, // the core checked the origin
		})
		if err != nil {
			s.c.refused.Add(1)
			return nil // Accept wrote the response
		}
		ms := newMuxSession(conn, true, &s.sess, &s.c, remoteAddr(r))
		if ms.start() != nil {
			return nil
		}
		return ms
	}
	wts := s.webtransport()
	if wts == nil {
		s.c.refused.Add(1)
		http.Error(w, "wt: WebTransport not configured (Server.ConfigureHTTP3)", http.StatusNotImplemented)
		return nil
	}
	// Middleware (compression, logging) wraps the HTTP/3 writer; the
	// upgrade needs the writer itself, reached as ResponseController does.
	h3w, ok := h3Writer(w)
	if !ok {
		s.c.refused.Add(1)
		http.Error(w, "wt: WebTransport needs the HTTP/3 server's ResponseWriter; a middleware wraps it without an Unwrap method", http.StatusInternalServerError)
		return nil
	}
	w = h3w
	ws, err := wts.Upgrade(w, r)
	if err != nil {
		s.c.refused.Add(1)
		http.Error(w, "wt: WebTransport upgrade failed: "+err.Error(), http.StatusBadRequest)
		return nil
	}
	qconn, _ := r.Context().Value(quicConnKey{}).(*quic.Conn)
	sess := newWTSession(ws, qconn, false, &s.sess, &s.c)
	if hs, ok := w.(http3.HTTPStreamer); ok {
		sess.connect = hs.HTTPStream()
	}
	return sess
}

func offers(r *http.Request, proto string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == proto {
				return true
			}
		}
	}
	return false
}

func remoteAddr(r *http.Request) net.Addr {
	if ap, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return ap
	}
	return nil
}

// run runs the handler of a registered session, then closes the session
// (CodeNormal, or CodeInternalError when the handler panicked or called
// runtime.Goexit) and releases it.
func (s *Server) run(e *entry, ip string) {
	returned := false
	defer func() {
		if returned {
			_ = e.sess.Close(CodeNormal, "")
		} else {
			_ = e.sess.Close(CodeInternalError, "handler failed")
		}
		s.core.Mu.Lock()
		s.core.RemoveLocked(e, ip)
		s.core.Mu.Unlock()
		close(e.ended)
	}()
	returned = s.core.Recover(func() { s.handler(e.sess.Context(), e.sess) })
}

// Stats returns a snapshot of the counters; safe to call concurrently.
func (s *Server) Stats() Stats {
	st := s.c.snapshot()
	st.Fallbacks = s.fb.snapshot()
	st.HandlerPanics = int64(s.core.Counters.CallbackPanics.Load())
	st.RejectedLimit = int64(s.core.Counters.RejectedLimit.Load())
	st.RejectedOrigin = int64(s.core.Counters.RejectedOrigin.Load())
	return st
}

// Shutdown stops new sessions (503 with Retry-After) and closes the open
// ones with CodeGoingAway and ShutdownReason, ShutdownBatch at a time with
// a random pause of up to ShutdownJitter between batches, so clients do
// not reconnect in one storm. It waits for the handlers; if ctx ends
// first, the sessions not yet told are closed at once and Shutdown
// returns ctx.Err() once the handlers have returned. Then it closes the
// QUIC connections if ServeQUIC serves them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClosing()
	err := s.core.Shutdown(ctx)
	s.closeQUIC()
	return err
}

// closeQUIC closes the WebTransport server, ending its QUIC connections,
// and waits for ServeQUIC, when ServeQUIC serves them.
func (s *Server) closeQUIC() {
	s.closeWTS()
	s.serving.Wait()
}

// closeWTS closes the WebTransport server when ServeQUIC serves its
// connections. Connections an HTTP/3 server handed to ServeQUICConn
// (httpx.Server's) are that server's to close: they carry its other
// HTTP/3 requests too, which its own drain lets finish.
func (s *Server) closeWTS() {
	s.mu.Lock()
	standalone := s.standalone
	s.mu.Unlock()
	if wts := s.webtransport(); wts != nil && standalone {
		_ = wts.Close()
	}
}

// Close stops new sessions, closes the QUIC connections if ServeQUIC
// serves them (so a WebTransport peer may see the connection end before
// the close code), closes the open sessions with CodeGoingAway at once
// and waits for the handlers to return.
func (s *Server) Close() error {
	s.beginClosing()
	s.closeWTS()
	err := s.core.Close()
	s.serving.Wait()
	return err
}

// RegisterOnShutdown makes srv call s.Shutdown, bounded by timeout (zero
// or negative: 10s), when srv starts shutting down. srv is anything with
// RegisterOnShutdown(func()): an *http.Server runs it in its Shutdown; an
// httpx.Server (whose RegisterOnShutdown is OnDrain) when draining starts,
// so sessions are told to reconnect while the load balancer moves traffic
// away and the listeners still serve.
func (s *Server) RegisterOnShutdown(srv interface{ RegisterOnShutdown(func()) }, timeout time.Duration) {
	connserver.RegisterOnShutdown(srv, timeout, s.Shutdown)
}

// closedCtx is done once the server starts closing.
func (s *Server) closedCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedC == nil {
		s.closedC, s.closedCancel = context.WithCancel(context.Background())
		if s.closing {
			s.closedCancel()
		}
	}
	return s.closedC
}

// beginClosing stops ServeQUIC accepting connections.
func (s *Server) beginClosing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if s.closedCancel != nil {
		s.closedCancel()
	}
}

// FallbackParam is the query parameter a client adds to the fallback's
// WebSocket URL to say why it fell back: "unsupported" (no WebTransport
// in the browser), "timeout", "failed", "forced" or FallbackBroken (not
// tried: the client remembers it failing recently); the Server counts
// them in Stats.Fallbacks.
const FallbackParam = "wt-fallback"

// FallbackReasons counts WebSocket sessions by the reason the client gave
// for not using WebTransport.
type FallbackReasons struct {
	Unsupported, Timeout, Failed, Forced, Unknown int64
	// Broken counts clients that did not try WebTransport because it
	// failed for them recently (FallbackBroken).
	Broken int64
}

type fallbackCounters struct {
	unsupported, timeout, failed, forced, unknown, broken atomic.Int64
}

func (f *fallbackCounters) count(reason string) {
	switch reason {
	case "unsupported":
		f.unsupported.Add(1)
	case "timeout":
		f.timeout.Add(1)
	case "failed":
		f.failed.Add(1)
	case "forced":
		f.forced.Add(1)
	case FallbackBroken:
		f.broken.Add(1)
	default:
		f.unknown.Add(1)
	}
}

func (f *fallbackCounters) snapshot() FallbackReasons {
	return FallbackReasons{
		Unsupported: f.unsupported.Load(), Timeout: f.timeout.Load(), Failed: f.failed.Load(),
		Forced: f.forced.Load(), Unknown: f.unknown.Load(), Broken: f.broken.Load(),
	}
}

// h3Writer finds the HTTP/3 server's ResponseWriter under w, following
// Unwrap as http.ResponseController does.
func h3Writer(w http.ResponseWriter) (http.ResponseWriter, bool) {
	for range 100 { // a bound, against a writer that unwraps to itself
		_, settings := w.(http3.Settingser)
		_, stream := w.(http3.HTTPStreamer)
		if settings && stream {
			return w, true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil, false
		}
		w = u.Unwrap()
	}
	return nil, false
}
