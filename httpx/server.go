package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// ErrServerStarted is returned by [Server.Serve] when the Server is already
// serving: a Server serves one pair of listeners.
var ErrServerStarted = errors.New("httpx: server already serving; create another Server for other listeners")

// ServerOptions configures [NewServer]. The zero value, and nil, are valid:
// every field has a default, stated in its comment.
type ServerOptions struct {
	// TLSConfig makes the server serve HTTPS: HTTP/1.1 and HTTP/2 over TLS
	// on TCP, and HTTP/3 on UDP. It is cloned. Nil means plain HTTP/1.1
	// (and HTTP/2 with H2C).
	TLSConfig *tls.Config
	// DisableHTTP3 serves TCP only even with TLSConfig and a UDP socket.
	DisableHTTP3 bool
	// H2C serves HTTP/2 without TLS ("prior knowledge") next to HTTP/1.1
	// when TLSConfig is nil. Off by default.
	H2C bool
	// AltSvcMaxAge is the "ma" of the Alt-Svc header that advertises
	// HTTP/3. Defaults to 24h (RFC 7838's default freshness); negative is
	// an error.
	AltSvcMaxAge time.Duration
	// AltSvcPort is the UDP port advertised in Alt-Svc. Defaults to the
	// port of the UDP socket served, right unless a port mapping sits in
	// between; negative, or above 65535, is an error.
	AltSvcPort int

	// ReadHeaderTimeout bounds reading a request's headers. Defaults to
	// 10s, which stops slowloris clients holding connections; negative
	// disables it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. Defaults
	// to 0, none, so uploads are not cut; set it for APIs with small
	// bodies. Negative is an error.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. Defaults to 0, none, so
	// streams (SSE, downloads) are not cut. Negative is an error.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may stay idle
	// (HTTP/1.1, HTTP/2, HTTP/3). Defaults to 120s: longer than the idle
	// timeout of clients and load balancers (this package's clients use
	// 55s, most load balancers 60s), so the client side closes first and
	// never sends a request on a connection the server is closing.
	// Negative is an error.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps request headers. Defaults to 1 MiB
	// (http.DefaultMaxHeaderBytes); negative is an error.
	MaxHeaderBytes int
	// MaxConnAge retires HTTP/1.1 and HTTP/2 connections after about this
	// long (±10% jitter, so connections opened together do not all leave
	// together): the next response on an older connection carries
	// "Connection: close" (HTTP/1.1) or is followed by a GOAWAY (HTTP/2),
	// and the client reconnects, through the load balancer, to whichever
	// instance it picks. HTTP/3 connections are not aged: quic-go has no
	// per-connection GOAWAY, and QUIC-aware load balancers route by
	// connection ID. Defaults to 0, no limit; negative is an error.
	MaxConnAge time.Duration

	// DrainDelay is how long Shutdown keeps serving after the readiness
	// handler starts answering 503, so a load balancer notices and stops
	// sending new requests before the listeners close. Behind a load
	// balancer, use its health-check interval times its failure
	// threshold, plus a margin. Defaults to 0, no delay, right for a
	// server without a load balancer; negative is an error.
	DrainDelay time.Duration
	// DrainTimeout is how long Shutdown lets requests in flight finish
	// after the listeners close; then the remaining connections are
	// closed. Defaults to 25s, which with a 5s DrainDelay fits the 30s
	// termination grace period Kubernetes gives by default; negative is
	// an error.
	DrainTimeout time.Duration

	// HTTP3Conns, when set, takes over the HTTP/3 connections: NewServer
	// lets it adjust the http3.Server and quic.Config (ConfigureHTTP3),
	// and Serve hands it every QUIC connection accepted
	// (ServeQUICConn) instead of serving them with http3.Server. This is
	// how wt serves WebTransport on the same UDP port, TLS config and
	// Alt-Svc as everything else. Defaults to nil: the Server serves
	// HTTP/3 itself. It needs TLSConfig; with DisableHTTP3 it is unused.
	HTTP3Conns HTTP3ConnServer

	// Logger receives the servers' error logs (TLS handshake errors and
	// the like). Nil means the standard log package for HTTP/1.1 and
	// HTTP/2 and no logging for HTTP/3.
	Logger *slog.Logger
}

func (o *ServerOptions) fill() error {
	if o.AltSvcMaxAge == 0 {
		o.AltSvcMaxAge = DefaultAltSvcMaxAge
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 25 * time.Second
	}
	switch {
	case o.AltSvcMaxAge < 0:
		return negativeError("ServerOptions.AltSvcMaxAge", o.AltSvcMaxAge, "")
	case o.AltSvcPort < 0:
		return negativeError("ServerOptions.AltSvcPort", o.AltSvcPort, "use 0 for the served UDP port")
	case o.AltSvcPort > 65535:
		return fmt.Errorf("httpx: ServerOptions.AltSvcPort %d is not a port", o.AltSvcPort)
	case o.ReadTimeout < 0:
		return negativeError("ServerOptions.ReadTimeout", o.ReadTimeout, "use 0 for none")
	case o.WriteTimeout < 0:
		return negativeError("ServerOptions.WriteTimeout", o.WriteTimeout, "use 0 for none")
	case o.IdleTimeout < 0:
		return negativeError("ServerOptions.IdleTimeout", o.IdleTimeout, "")
	case o.MaxHeaderBytes < 0:
		return negativeError("ServerOptions.MaxHeaderBytes", o.MaxHeaderBytes, "")
	case o.MaxConnAge < 0:
		return negativeError("ServerOptions.MaxConnAge", o.MaxConnAge, "use 0 for no limit")
	case o.DrainDelay < 0:
		return negativeError("ServerOptions.DrainDelay", o.DrainDelay, "use 0 for none")
	case o.DrainTimeout < 0:
		return negativeError("ServerOptions.DrainTimeout", o.DrainTimeout, "")
	case o.TLSConfig == nil && o.AltSvcPort != 0:
		return errors.New("httpx: ServerOptions.AltSvcPort needs TLSConfig: HTTP/3 requires TLS")
	case o.TLSConfig == nil && o.HTTP3Conns != nil:
		return errors.New("httpx: ServerOptions.HTTP3Conns needs TLSConfig: HTTP/3 requires TLS")
	case o.TLSConfig != nil && len(o.TLSConfig.Certificates) == 0 && o.TLSConfig.GetCertificate == nil && o.TLSConfig.GetConfigForClient == nil:
		return errors.New("httpx: ServerOptions.TLSConfig has no certificate (set Certificates or GetCertificate)")
	}
	return nil
}

// Server serves one handler over HTTP/1.1, HTTP/2 and HTTP/3 on one port
// number (TCP and UDP), advertises HTTP/3 with Alt-Svc, ages connections
// out, and shuts down in the order a deploy needs (see [Server.Shutdown]).
//
// Its methods are safe for concurrent use. Serve's goroutines, the drain
// hooks and the QUIC socket are owned by the Server and joined by Shutdown
// or Close.
type Server struct {
	opts    ServerOptions
	handler http.Handler
	h12     *http.Server
	h3      *http3.Server // nil without TLS or with DisableHTTP3
	qcfg    *quic.Config  // the QUIC listener's; nil without h3
	qconns  *quicConns    // HTTP3Conns' connections; nil without it

	mu        sync.Mutex // protects the fields below
	serving   bool
	closed    bool
	altSvc    atomic.Pointer[string]
	serveDone chan struct{} // closed when Serve returns
	hooks     []func()

	drainOnce  sync.Once
	draining   chan struct{}
	drainStart time.Time      // set once draining is closed
	hooksWG    sync.WaitGroup // joins the drain hooks
	closeOnce  sync.Once
	closeCh    chan struct{} // closed by Close
	h3Once     sync.Once
	h3Stopped  chan struct{} // closed when HTTP/3 serving has ended

	h1Reqs, h2Reqs, h3Reqs atomic.Int64
	inFlight, h3InFlight   atomic.Int64
	accepted, open         atomic.Int64
	aged                   atomic.Int64
}

// ServerStats is a snapshot of a Server's counters.
type ServerStats struct {
	// HTTP1, HTTP2 and HTTP3 count requests by protocol.
	HTTP1, HTTP2, HTTP3 int64
	// InFlight is the number of requests being handled now.
	InFlight int64
	// ConnsAccepted is the number of TCP connections accepted; ConnsOpen
	// the number open now (QUIC connections are not counted).
	ConnsAccepted, ConnsOpen int64
	// ConnsAged is the number of connections told to close because they
	// reached MaxConnAge.
	ConnsAged int64
	// Draining reports that Shutdown (or StartDrain) has begun.
	Draining bool
}

// NewServer returns a Server for h configured by opts (nil means all
// defaults). It returns an error for invalid options.
func NewServer(h http.Handler, opts *ServerOptions) (*Server, error) {
	if h == nil {
		return nil, errors.New("httpx: NewServer needs a handler")
	}
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	if err := o.fill(); err != nil {
		return nil, err
	}
	s := &Server{opts: o, handler: h, draining: make(chan struct{}), closeCh: make(chan struct{}), h3Stopped: make(chan struct{})}
	s.h12 = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: nonNeg(o.ReadHeaderTimeout),
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ConnState:         s.connState,
		ConnContext:       s.connContext,
	}
	if o.Logger != nil {
		s.h12.ErrorLog = slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)
	}
	if o.TLSConfig != nil {
		s.opts.TLSConfig = o.TLSConfig.Clone()
		s.h12.TLSConfig = o.TLSConfig.Clone()
		if len(s.h12.TLSConfig.NextProtos) == 0 {
			s.h12.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
		}
	} else if o.H2C {
		s.h12.Protocols = new(http.Protocols)
		s.h12.Protocols.SetHTTP1(true)
		s.h12.Protocols.SetUnencryptedHTTP2(true)
	}
	if o.TLSConfig != nil && !o.DisableHTTP3 {
		s.h3 = &http3.Server{
			Handler:        http.HandlerFunc(s.serveHTTP),
			MaxHeaderBytes: o.MaxHeaderBytes,
			IdleTimeout:    o.IdleTimeout,
			Logger:         o.Logger,
		}
		s.qcfg = &quic.Config{}
		if o.HTTP3Conns != nil {
			o.HTTP3Conns.ConfigureHTTP3(s.h3, s.qcfg)
			s.qconns = newQUICConns(o.HTTP3Conns, o.Logger)
		}
		// What the Server decides stays its own, whatever ConfigureHTTP3
		// did: its handler wrapper, the idle timeout, and no 0-RTT
		// (0-RTT requests can be replayed).
		s.h3.Handler = http.HandlerFunc(s.serveHTTP)
		s.qcfg.MaxIdleTimeout = min(o.IdleTimeout, 5*time.Minute)
		s.qcfg.Allow0RTT = false
	}
	return s, nil
}

// Listen binds addr on TCP and on UDP, with the same port number for both,
// for [Server.Serve]. With port 0 it picks a port free on both. Both
// sockets belong to the caller until passed to Serve.
func Listen(addr string) (net.Listener, net.PacketConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("httpx: listen %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("httpx: listen: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return l, pc, nil
		}
		l.Close()
		if port != "0" || attempt == 10 {
			return nil, nil, fmt.Errorf("httpx: listen on UDP port %d (TCP was free): %w", p, err)
		}
	}
}

// ListenAndServe listens on addr (TCP, and UDP when serving HTTP/3) and
// serves; see [Server.Serve].
func (s *Server) ListenAndServe(addr string) error {
	if s.h3 == nil {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("httpx: listen: %w", err)
		}
		return s.Serve(l, nil)
	}
	l, pc, err := Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(l, pc)
}

// Serve serves HTTP/1.1 and HTTP/2 on l and, when pc is not nil and the
// Server has TLS and HTTP/3 enabled, HTTP/3 on pc. It takes ownership of
// both and closes them when it returns. It blocks until Shutdown or Close,
// then returns http.ErrServerClosed; if either protocol fails, the other
// is closed and the failure returned.
func (s *Server) Serve(l net.Listener, pc net.PacketConn) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		l.Close()
		if pc != nil {
			pc.Close()
		}
		return http.ErrServerClosed
	case s.serving:
		s.mu.Unlock()
		return ErrServerStarted
	}
	s.serving = true
	s.serveDone = make(chan struct{})
	defer close(s.serveDone)
	var (
		qtr *quic.Transport
		qln *quic.EarlyListener
	)
	if pc != nil && s.h3 != nil {
		port := s.opts.AltSvcPort
		if port == 0 {
			if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok {
				port = ua.Port
			}
		}
		alt := AltService{Protocol: http3.NextProtoH3, Port: port, MaxAge: s.opts.AltSvcMaxAge}.String()
		s.altSvc.Store(&alt)
		qtr = &quic.Transport{Conn: pc}
		var err error
		qln, err = qtr.ListenEarly(http3.ConfigureTLSConfig(s.opts.TLSConfig), s.qcfg)
		if err != nil {
			s.mu.Unlock()
			qtr.Close()
			pc.Close()
			l.Close()
			return fmt.Errorf("httpx: QUIC listener: %w", err)
		}
	} else if pc != nil {
		pc.Close()
	}
	s.mu.Unlock()

	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if s.opts.TLSConfig != nil {
			err = s.h12.ServeTLS(l, "", "")
		} else {
			err = s.h12.Serve(l)
		}
		errc <- err
	})
	switch {
	case qln != nil && s.qconns != nil:
		wg.Go(func() { errc <- s.qconns.serve(qln) })
	case qln != nil:
		wg.Go(func() { errc <- s.h3.ServeListener(qln) })
	}
	first := <-errc
	if !errors.Is(first, http.ErrServerClosed) {
		// One protocol failed on its own: stop the other.
		s.closeServers()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if first == nil || errors.Is(first, http.ErrServerClosed) {
			first = err
		}
	}
	if qln != nil {
		// No new QUIC connections; those accepted are drained by
		// Shutdown, and the socket stays open until that is done.
		qln.Close()
		<-s.h3Stopped
		if s.qconns != nil {
			s.qconns.wait() // closed by now: their goroutines end
		}
		qtr.Close()
		pc.Close()
	}
	if first == nil || errors.Is(first, http.ErrServerClosed) {
		return http.ErrServerClosed
	}
	return fmt.Errorf("httpx: serve: %w", first)
}

// serveHTTP wraps the handler: counting, Alt-Svc, connection age.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.ProtoMajor {
	case 1:
		s.h1Reqs.Add(1)
	case 2:
		s.h2Reqs.Add(1)
	case 3:
		s.h3Reqs.Add(1)
		s.h3InFlight.Add(1)
		defer s.h3InFlight.Add(-1)
	}
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if alt := s.altSvc.Load(); alt != nil && r.ProtoMajor < 3 {
		w.Header().Set("Alt-Svc", *alt)
	}
	if ci, ok := r.Context().Value(connInfoKey{}).(*connInfo); ok && r.ProtoMajor < 3 && time.Now().After(ci.retireAt) {
		// HTTP/1.1 closes after this response; HTTP/2 turns the header
		// into a GOAWAY and finishes the streams in flight.
		w.Header().Set("Connection", "close")
		if !ci.told.Swap(true) {
			s.aged.Add(1)
		}
	}
	s.handler.ServeHTTP(w, r)
}

type connInfoKey struct{}

// connInfo is the age of one TCP connection.
type connInfo struct {
	retireAt time.Time
	told     atomic.Bool
}

func (s *Server) connContext(ctx context.Context, _ net.Conn) context.Context {
	if s.opts.MaxConnAge <= 0 {
		return ctx
	}
	age := time.Duration(float64(s.opts.MaxConnAge) * (0.9 + 0.2*rand.Float64()))
	return context.WithValue(ctx, connInfoKey{}, &connInfo{retireAt: time.Now().Add(age)})
}

func (s *Server) connState(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		s.accepted.Add(1)
		s.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.open.Add(-1)
	}
}

// Stats returns a snapshot of the Server's counters; safe to call
// concurrently.
func (s *Server) Stats() ServerStats {
	st := ServerStats{
		HTTP1:         s.h1Reqs.Load(),
		HTTP2:         s.h2Reqs.Load(),
		HTTP3:         s.h3Reqs.Load(),
		InFlight:      s.inFlight.Load(),
		ConnsAccepted: s.accepted.Load(),
		ConnsOpen:     s.open.Load(),
		ConnsAged:     s.aged.Load(),
	}
	select {
	case <-s.draining:
		st.Draining = true
	default:
	}
	return st
}

// AltSvc returns the Alt-Svc value the Server adds to HTTP/1.1 and HTTP/2
// responses, or "" when it does not serve HTTP/3 (yet).
func (s *Server) AltSvc() string {
	if alt := s.altSvc.Load(); alt != nil {
		return *alt
	}
	return ""
}
