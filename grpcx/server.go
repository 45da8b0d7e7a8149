package grpcx

import (
	"context"

	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// Server is a grpc.Server with grpcx's defaults, interceptors, health
// service and drain sequence. Register services on it (it is a
// grpc.ServiceRegistrar), then call Serve.
type Server struct {
	opts   ServerOptions
	grpc   *grpc.Server
	health *health.Server
	reg    *registry

	inFlight, panics, goexits atomic.Int64
	conns, connsTotal         atomic.Int64
	goAways, tooManyPings     atomic.Uint64

	drainOnce    sync.Once
	draining     chan struct{}
	drainCtx     context.Context // cancelled with draining closed
	drainCancel  context.CancelFunc
	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
	bg           sync.WaitGroup // Shutdowns started by drain hooks
}

// NewServer returns a Server configured by opts (nil selects every
// default), or an error naming the first invalid option.
func NewServer(opts *ServerOptions) (*Server, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	for i, b := range o.LatencyBuckets {
		if b <= 0 || (i > 0 && b <= o.LatencyBuckets[i-1]) {
			return nil, fmt.Errorf("grpcx: ServerOptions.LatencyBuckets must be positive and ascending (%v)", o.LatencyBuckets)
		}
	}
	drainCtx, drainCancel := context.WithCancel(context.Background())
	s := &Server{
		opts:         o,
		reg:          newRegistry(o.LatencyBuckets, o.MaxPeers),
		draining:     make(chan struct{}),
		drainCtx:     drainCtx,
		drainCancel:  drainCancel,
		shutdownDone: make(chan struct{}),
	}
	creds := o.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	kp := keepalive.ServerParameters{Time: o.KeepaliveTime, Timeout: o.KeepaliveTimeout, MaxConnectionAgeGrace: o.MaxConnectionAgeGrace}
	if o.KeepaliveTime < 0 {
		kp.Time = infinity
	}
	if o.MaxConnectionAge > 0 {
		kp.MaxConnectionAge = o.MaxConnectionAge
	}
	gopts := []grpc.ServerOption{
		grpc.Creds(&watchCreds{TransportCredentials: creds, server: s.watchConn}),
		grpc.MaxConcurrentStreams(uint32(o.MaxConcurrentStreams)),
		grpc.MaxRecvMsgSize(o.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(o.MaxSendMsgSize),
		grpc.KeepaliveParams(kp),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             o.KeepaliveMinTime,
			PermitWithoutStream: !o.ForbidPingsWithoutStream,
		}),
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{s.unary}, o.UnaryInterceptors...)...),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{s.stream}, o.StreamInterceptors...)...),
	}
	s.grpc = grpc.NewServer(append(gopts, o.GRPCOptions...)...)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, &drainingHealth{Server: s.health, drain: s.drainCtx})
	if o.Reflection {
		reflection.Register(s.grpc)
	}
	return s, nil
}

// infinity turns a keepalive timer off in grpc-go.
const infinity = time.Duration(1<<63 - 1)

func (s *Server) watchConn(c net.Conn) net.Conn {
	s.conns.Add(1)
	s.connsTotal.Add(1)
	wc := &writeWatchConn{Conn: c, onClose: func() { s.conns.Add(-1) }}
	wc.w.ev = &frameEvents{goAway: s.sentGoAway}
	return wc
}

func (s *Server) sentGoAway(code uint32, debug string) {
	s.goAways.Add(1)
	if code == errCodeEnhanceYourCalm && debug == "too_many_pings" {
		s.tooManyPings.Add(1)
	}
}

// RegisterService registers a service implementation, as on a grpc.Server,
// and marks the service SERVING in the health service.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
	s.health.SetServingStatus(desc.ServiceName, healthpb.HealthCheckResponse_SERVING)
}

// GRPC returns the underlying grpc.Server, for APIs that need one.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve accepts connections on l until Shutdown or Close. It returns nil
// after either, and grpc.ErrServerStopped when called after they ran.
func (s *Server) Serve(l net.Listener) error { return s.grpc.Serve(l) }

// StartDrain sets every service's health status to NOT_SERVING (for good:
// later SetServingStatus calls are ignored) without stopping anything, so
// that clients watching health and load balancers polling it move away
// while RPCs are still served. Shutdown calls it. It is idempotent.
func (s *Server) StartDrain() {
	s.drainOnce.Do(func() {
		close(s.draining)
		s.drainCancel()
		s.health.Shutdown()
	})
}

// Draining returns a channel that is closed when draining starts. A
// long-lived streaming handler selects on it to end its stream (so the
// client reconnects elsewhere) instead of holding the drain up until
// DrainTimeout.
func (s *Server) Draining() <-chan struct{} { return s.draining }

// DrainWith ties the server's drain to another server's, typically an
// *httpx.Server in the same process: when r starts draining (it runs the
// hooks given to RegisterOnShutdown), this server starts its Shutdown
// sequence in the background. Call Shutdown or Close later to wait for it.
func (s *Server) DrainWith(r interface{ RegisterOnShutdown(func()) }) {
	r.RegisterOnShutdown(func() {
		s.StartDrain()
		s.bg.Go(func() { s.Shutdown(context.Background()) })
	})
}

// Shutdown drains the server:
//
//  1. StartDrain: health turns NOT_SERVING, RPCs are still served;
//  2. wait DrainDelay;
//  3. GracefulStop: GOAWAY to every client, no new RPCs, RPCs in flight go
//     on;
//  4. after DrainTimeout, or when ctx ends, Stop: close every connection,
//     cancelling what is left.
//
// It returns nil when every RPC finished, or an error wrapping
// context.DeadlineExceeded (DrainTimeout) or ctx's error naming how many
// RPCs were cut off. It returns once every handler has: Stop cancels their
// contexts, so a handler that ignores its context holds Shutdown up.
// Health Watch streams end once they have sent NOT_SERVING, so watchers do
// not hold the drain up. Calling Shutdown again waits for the first call
// and returns its result.
func (s *Server) Shutdown(ctx context.Context) error {
	first := false
	s.shutdownOnce.Do(func() {
		first = true
		s.shutdownErr = s.shutdown(ctx)
		close(s.shutdownDone)
	})
	if !first {
		select {
		case <-s.shutdownDone:
		case <-ctx.Done():
			s.grpc.Stop()
			<-s.shutdownDone
		}
	}
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.StartDrain()
	if s.opts.DrainDelay > 0 {
		t := time.NewTimer(s.opts.DrainDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			n := s.inFlight.Load()
			s.grpc.Stop()
			return fmt.Errorf("grpcx: shutdown during the drain delay, %d RPCs cut off: %w", n, ctx.Err())
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.grpc.GracefulStop()
		close(done)
	})
	defer wg.Wait()
	t := time.NewTimer(s.opts.DrainTimeout)
	defer t.Stop()
	var err error
	select {
	case <-done:
		return nil
	case <-t.C:
		err = fmt.Errorf("grpcx: shutdown: %d RPCs still in flight after DrainTimeout %v; closed: %w", s.inFlight.Load(), s.opts.DrainTimeout, context.DeadlineExceeded)
	case <-ctx.Done():
		err = fmt.Errorf("grpcx: shutdown: %d RPCs still in flight when the context ended; closed: %w", s.inFlight.Load(), ctx.Err())
	}
	s.grpc.Stop()
	return err
}

// Close stops the server at once: health turns NOT_SERVING, every
// connection closes and RPCs in flight are cancelled. It waits for a
// Shutdown started by DrainWith's hook.
func (s *Server) Close() error {
	s.StartDrain()
	s.grpc.Stop()
	s.bg.Wait()
	return nil
}

// ServerStats is a snapshot of a Server's counters.
type ServerStats struct {
	// InFlight is the number of RPCs being handled, including the health
	// Watch streams of clients that check health (one per connection).
	InFlight int64
	// Draining is true once StartDrain (or Shutdown, Close) has run.
	Draining bool
	// Conns is the number of open connections, ConnsTotal of all accepted.
	Conns, ConnsTotal int64
	// Panics counts handlers that panicked (answered with INTERNAL);
	// Goexits those that called runtime.Goexit (their RPC gets no answer
	// and ends at the client's deadline).
	Panics, Goexits int64
	// GoAways counts GOAWAY frames sent (drain, MaxConnectionAge,
	// keepalive enforcement); TooManyPings those sent because a client
	// pinged more often than KeepaliveMinTime allows.
	GoAways, TooManyPings uint64
	// Methods has one entry per method that finished an RPC, by name.
	Methods []MethodStats
	// RPCs counts finished RPCs by method, status code and peer.
	RPCs []RPCCount
}

// Stats returns a snapshot of the counters. It is safe to call
// concurrently with everything else.
func (s *Server) Stats() ServerStats {
	st := ServerStats{
		InFlight: s.inFlight.Load(), Conns: s.conns.Load(), ConnsTotal: s.connsTotal.Load(),
		Panics: s.panics.Load(), Goexits: s.goexits.Load(),
		GoAways: s.goAways.Load(), TooManyPings: s.tooManyPings.Load(),
	}
	select {
	case <-s.draining:
		st.Draining = true
	default:
	}
	st.Methods, st.RPCs = s.reg.snapshot()
	return st
}
