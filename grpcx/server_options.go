package grpcx

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// KeepalivePolicy is a server's keepalive enforcement: what it accepts from
// clients. A server closes the connection of a client that breaks it (GOAWAY
// too_many_pings after two strikes). A client declares the policy of the
// servers it talks to in [ClientOptions].ServerPolicy, and NewClient checks
// its own keepalive against it.
type KeepalivePolicy struct {
	// MinTime is the shortest interval between client pings the server
	// accepts.
	MinTime time.Duration
	// PermitWithoutStream allows pings on connections without active RPCs.
	PermitWithoutStream bool
}

// DefaultServerPolicy is the keepalive policy of a server built by
// NewServer with default options; grpcx clients' defaults satisfy it.
var DefaultServerPolicy = KeepalivePolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}

// GRPCGoDefaultPolicy is the keepalive policy of a grpc-go server without
// keepalive options (and of most other gRPC servers): pings at most every
// 5 minutes, none without active RPCs. Declare it in
// ClientOptions.ServerPolicy when the server is not a grpcx server.
var GRPCGoDefaultPolicy = KeepalivePolicy{MinTime: 5 * time.Minute}

// ServerOptions configures NewServer. A nil *ServerOptions selects every
// default; NewServer copies it and never changes it.
type ServerOptions struct {
	// Creds are the transport credentials (TLS). Default nil: plaintext
	// HTTP/2 (h2c), for a service behind a proxy or on a private network.
	Creds credentials.TransportCredentials

	// MaxConcurrentStreams is the number of concurrent RPCs one connection
	// may carry, advertised to clients in SETTINGS; further streams wait on
	// the client. Default 100 (what clients assume before SETTINGS
	// arrive); zero selects it; negative is an error.
	MaxConcurrentStreams int
	// MaxRecvMsgSize is the largest message the server accepts; a larger
	// one fails the RPC with RESOURCE_EXHAUSTED. Default 4 MiB; zero
	// selects it; negative is an error.
	MaxRecvMsgSize int
	// MaxSendMsgSize is the largest message the server sends; a handler
	// returning a larger one fails the RPC with RESOURCE_EXHAUSTED. Default
	// 4 MiB; zero selects it; negative is an error.
	MaxSendMsgSize int

	// KeepaliveTime is how long a connection may be idle before the server
	// pings the client to check it is alive. Default 2 minutes; zero
	// selects it; negative disables the server's pings.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long the server waits for the ping's answer
	// before closing the connection. Default 20s; zero selects it;
	// negative is an error.
	KeepaliveTimeout time.Duration
	// KeepaliveMinTime is the enforcement policy's shortest interval
	// between client pings (KeepalivePolicy.MinTime). Default 10s, below
	// the grpcx client's 30s; zero selects it; negative is an error.
	KeepaliveMinTime time.Duration
	// ForbidPingsWithoutStream makes the server count pings on
	// connections without active RPCs as strikes. Default false: such
	// pings are allowed, so clients can keep idle pooled connections
	// checked.
	ForbidPingsWithoutStream bool
	// MaxConnectionAge is how long a connection may live before the
	// server sends GOAWAY, so that clients reconnect, re-resolve and
	// rebalance across instances (grpc-go adds ±10% jitter). Default 30
	// minutes; zero selects it; negative means no limit.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long RPCs in flight on a connection past
	// MaxConnectionAge may take to finish before it is closed. Default 1
	// minute; zero selects it; negative is an error.
	MaxConnectionAgeGrace time.Duration

	// DrainDelay is how long Shutdown keeps serving after setting the
	// health status to NOT_SERVING, for load balancers that poll health
	// to take the server out. Default 0: no delay (grpcx clients watch
	// health and are told by GOAWAY); negative is an error.
	DrainDelay time.Duration
	// DrainTimeout bounds how long Shutdown waits for RPCs in flight
	// (GracefulStop) before it closes every connection (Stop). Default
	// 25s; zero selects it; negative is an error.
	DrainTimeout time.Duration

	// Reflection registers the server reflection service, which lets
	// grpcurl and other tools list services and call methods without the
	// .proto files. Default false: off, since it describes every service
	// to anyone who can connect.
	Reflection bool

	// Logger receives one record per RPC: failures at Info (Error for
	// UNKNOWN, INTERNAL, DATA_LOSS and panics, with the stack), successes
	// at Debug. Default nil: slog.Default(). To log nothing, pass a logger
	// whose handler is disabled.
	Logger *slog.Logger
	// LatencyBuckets are the latency histograms' upper bounds, ascending.
	// Default nil: DefaultLatencyBuckets.
	LatencyBuckets []time.Duration
	// MaxPeers bounds the distinct client addresses counted in
	// ServerStats.RPCs; RPCs from further addresses count under peer
	// "other". Default 256; zero selects it; negative is an error.
	MaxPeers int

	// UnaryInterceptors and StreamInterceptors run after grpcx's own
	// (which see their errors and panics), in order. Default none.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor
	// GRPCOptions are passed to grpc.NewServer after grpcx's, so they
	// override them; set TLS with Creds, not grpc.Creds, which would hide
	// the connections from the GOAWAY counts. Default none.
	GRPCOptions []grpc.ServerOption
}

func (o *ServerOptions) resolve() (ServerOptions, error) {
	var r ServerOptions
	if o != nil {
		r = *o
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxConcurrentStreams", int64(r.MaxConcurrentStreams)},
		{"MaxRecvMsgSize", int64(r.MaxRecvMsgSize)},
		{"MaxSendMsgSize", int64(r.MaxSendMsgSize)},
		{"KeepaliveTimeout", int64(r.KeepaliveTimeout)},
		{"KeepaliveMinTime", int64(r.KeepaliveMinTime)},
		{"MaxConnectionAgeGrace", int64(r.MaxConnectionAgeGrace)},
		{"DrainDelay", int64(r.DrainDelay)},
		{"DrainTimeout", int64(r.DrainTimeout)},
		{"MaxPeers", int64(r.MaxPeers)},
	} {
		if f.v < 0 {
			if f.name == "MaxConcurrentStreams" || f.name == "MaxRecvMsgSize" || f.name == "MaxSendMsgSize" || f.name == "MaxPeers" {
				return r, negative("ServerOptions", f.name, f.v)
			}
			return r, negative("ServerOptions", f.name, time.Duration(f.v))
		}
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if r.MaxConcurrentStreams == 0 {
		r.MaxConcurrentStreams = 100
	}
	if r.MaxRecvMsgSize == 0 {
		r.MaxRecvMsgSize = 4 << 20
	}
	if r.MaxSendMsgSize == 0 {
		r.MaxSendMsgSize = 4 << 20
	}
	if r.MaxPeers == 0 {
		r.MaxPeers = 256
	}
	def(&r.KeepaliveTime, 2*time.Minute)
	def(&r.KeepaliveTimeout, 20*time.Second)
	def(&r.KeepaliveMinTime, DefaultServerPolicy.MinTime)
	def(&r.MaxConnectionAge, 30*time.Minute)
	def(&r.MaxConnectionAgeGrace, time.Minute)
	def(&r.DrainTimeout, 25*time.Second)
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	r.UnaryInterceptors = append([]grpc.UnaryServerInterceptor(nil), r.UnaryInterceptors...)
	r.StreamInterceptors = append([]grpc.StreamServerInterceptor(nil), r.StreamInterceptors...)
	r.GRPCOptions = append([]grpc.ServerOption(nil), r.GRPCOptions...)
	return r, nil
}

// Policy returns the keepalive enforcement policy these options give a
// server, for ClientOptions.ServerPolicy.
func (o *ServerOptions) Policy() KeepalivePolicy {
	r, err := o.resolve()
	if err != nil {
		return DefaultServerPolicy
	}
	return KeepalivePolicy{MinTime: r.KeepaliveMinTime, PermitWithoutStream: !r.ForbidPingsWithoutStream}
}
