package wt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

// Handler serves one session; the session is closed (CodeNormal) when it
// returns. ctx is the session's context.
type Handler func(ctx context.Context, s Session)

// ServerOptions configures a [Server]. A nil *ServerOptions is valid and
// means all defaults; it is copied, never changed.
type ServerOptions struct {
	// Session configures every session (stream limits, windows,
	// datagrams). Nil means the defaults of [Options].
	Session *Options
	// OriginPatterns are the host patterns (path.Match syntax, matched
	// against the Origin's host, case-insensitively) of other origins
	// whose pages may open sessions. Defaults to none: only same-origin
	// pages and clients that send no Origin (non-browser clients) get in;
	// a browser page from elsewhere gets 403 before the upgrade, on both
	// transports.
	OriginPatterns []string
	// ShutdownReason is the close reason Shutdown gives sessions (code
	// CodeGoingAway). Defaults to "server shutting down; reconnect".
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
	admit   admission

	wtMu sync.Mutex // protects wts
	wts  *webtransport.Server

	mu           sync.Mutex // protects the fields below
	closing      bool
	sessions     map[Session]struct{}
	closedC      context.Context
	closedCancel context.CancelFunc

	handlers sync.WaitGroup // the handlers' request goroutines
	serving  sync.WaitGroup // ServeQUIC
}

// admission is the seam where the shared connection-server core
// (internal/connserver: client IP, global and per-IP limits with 503 and
// Retry-After, origin patterns) plugs in. admit runs before either
// upgrade; when it refuses it has written the response. release is called
// once when the session (or the failed upgrade) ends.
type admission interface {
	admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool)
}

// originAdmission is the admission used until the core lands: the origin
// check only.
type originAdmission struct{ patterns []string }

func (a originAdmission) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	if !originAllowed(r, a.patterns) {
		http.Error(w, "wt: cross-origin request refused; add the page's host to ServerOptions.OriginPatterns", http.StatusForbidden)
		return nil, false
	}
	return func() {}, true
}

// originAllowed is true for a request without Origin, a same-origin one,
// and an origin whose host matches a pattern.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// NewServer returns a Server that runs h for each session. It returns an
// error for invalid options.
func NewServer(h Handler, opts *ServerOptions) (*Server, error) {
	if h == nil {
		return nil, errors.New("wt: NewServer needs a handler")
	}
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	o.OriginPatterns = append([]string(nil), o.OriginPatterns...)
	for _, p := range o.OriginPatterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("wt: ServerOptions.OriginPatterns: %q: %w", p, err)
		}
	}
	if o.ShutdownReason == "" {
		o.ShutdownReason = "server shutting down; reconnect"
	}
	so, err := o.Session.resolve()
	if err != nil {
		return nil, err
	}
	o.Session = nil
	return &Server{
		handler:  h,
		opts:     o,
		sess:     so,
		admit:    originAdmission{patterns: o.OriginPatterns},
		sessions: make(map[Session]struct{}),
	}, nil
}

// ConfigureHTTP3 prepares an HTTP/3 server and its QUIC config for
// WebTransport before it serves: the WebTransport and datagram SETTINGS,
// QUIC datagrams and partial-delivery resets, and the incoming stream
// limits of the session options (one WebTransport session per QUIC
// connection, so the connection's limits are the session's; plain HTTP/3
// requests on the connection share the bidirectional limit). Accepted QUIC
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
// the handler until it returns. Anything else gets 400 with a short
// reason.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isWT := r.Method == http.MethodConnect && (r.Proto == "webtransport-h3" || r.Proto == "webtransport")
	if !isWT && r.Method != http.MethodGet {
		s.c.refused.Add(1)
		http.Error(w, "wt: want a WebTransport CONNECT or a WebSocket GET", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.c.refused.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "wt: server shutting down; retry elsewhere or later", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()

	if !isWT && !offers(r, Subprotocol) {
		s.c.refused.Add(1)
		w.Header().Set("Connection", "close")
		http.Error(w, "wt: WebSocket fallback needs subprotocol "+Subprotocol+" (Sec-WebSocket-Protocol)", http.StatusBadRequest)
		return
	}
	release, ok := s.admit.admit(w, r)
	if !ok {
		s.c.refused.Add(1)
		return
	}
	defer release()

	var sess Session
	if isWT {
		wts := s.webtransport()
		if wts == nil {
			s.c.refused.Add(1)
			http.Error(w, "wt: WebTransport not configured (Server.ConfigureHTTP3)", http.StatusNotImplemented)
			return
		}
		ws, err := wts.Upgrade(w, r)
		if err != nil {
			s.c.refused.Add(1)
			http.Error(w, "wt: WebTransport upgrade failed: "+err.Error(), http.StatusBadRequest)
			return
		}
		qconn, _ := r.Context().Value(quicConnKey{}).(*quic.Conn)
		ws2 := newWTSession(ws, qconn, false, &s.sess, &s.c)
		if hs, ok := w.(http3.HTTPStreamer); ok {
			ws2.connect = hs.HTTPStream()
		}
		sess = ws2
	} else {
		s.fb.count(r.URL.Query().Get(FallbackParam))
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:       []string{Subprotocol},
			InsecureSkipVerify: true, // admission checked the origin
		})
		if err != nil {
			s.c.refused.Add(1)
			return // Accept wrote the response
		}
		ms := newMuxSession(conn, true, &s.sess, &s.c, remoteAddr(r))
		if ms.start() != nil {
			return
		}
		sess = ms
	}
	s.run(sess)
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

// run registers the session, runs the handler and closes the session.
func (s *Server) run(sess Session) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = sess.Close(CodeGoingAway, s.opts.ShutdownReason)
		return
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	if !s.call(sess) {
		s.c.panics.Add(1)
		_ = sess.Close(CodeInternalError, "handler failed")
		return
	}
	_ = sess.Close(CodeNormal, "")
}

// call runs the handler, reporting false when it panicked or called
// runtime.Goexit (the deferred close still runs then).
func (s *Server) call(sess Session) (ok bool) {
	returned := false
	defer func() {
		if !returned {
			recover()
			ok = false
		}
	}()
	s.handler(sess.Context(), sess)
	returned = true
	return true
}

// Stats returns a snapshot of the counters; safe to call concurrently.
func (s *Server) Stats() Stats {
	st := s.c.snapshot()
	st.Fallbacks = s.fb.snapshot()
	return st
}

// Shutdown stops new sessions (503 with Retry-After), closes the open
// ones with CodeGoingAway and ShutdownReason, waits for the handlers
// until ctx is done, then closes the QUIC connections and what remains
// (see Close).
func (s *Server) Shutdown(ctx context.Context) error {
	sessions := s.startClosing()
	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Go(func() { _ = sess.Close(CodeGoingAway, s.opts.ShutdownReason) })
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
		s.closeQUIC()
		return nil
	case <-ctx.Done():
		_ = s.Close()
		<-done
		return ctx.Err()
	}
}

// closeQUIC closes the WebTransport server, ending its QUIC connections
// (ServeQUIC's too), and waits for ServeQUIC.
func (s *Server) closeQUIC() {
	if wts := s.webtransport(); wts != nil {
		_ = wts.Close()
	}
	s.serving.Wait()
}

// Close stops new sessions, starts closing the open ones with
// CodeGoingAway, closes the WebTransport server (its QUIC connections, so
// a WebTransport peer may see the connection end before the close code)
// and waits for the handlers to return.
func (s *Server) Close() error {
	sessions := s.startClosing()
	for _, sess := range sessions {
		go func() { _ = sess.Close(CodeGoingAway, s.opts.ShutdownReason) }()
	}
	s.closeQUIC()
	s.handlers.Wait()
	return nil
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

func (s *Server) startClosing() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if s.closedCancel != nil {
		s.closedCancel()
	}
	out := make([]Session, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess)
	}
	return out
}

// FallbackParam is the query parameter a client adds to the fallback's
// WebSocket URL to say why it fell back: "unsupported" (no WebTransport
// in the browser), "timeout", "failed" or "forced"; the Server counts
// them in Stats.Fallbacks.
const FallbackParam = "wt-fallback"

// FallbackReasons counts WebSocket sessions by the reason the client gave
// for not using WebTransport.
type FallbackReasons struct {
	Unsupported, Timeout, Failed, Forced, Unknown int64
}

type fallbackCounters struct {
	unsupported, timeout, failed, forced, unknown atomic.Int64
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
	default:
		f.unknown.Add(1)
	}
}

func (f *fallbackCounters) snapshot() FallbackReasons {
	return FallbackReasons{f.unsupported.Load(), f.timeout.Load(), f.failed.Load(), f.forced.Load(), f.unknown.Load()}
}
