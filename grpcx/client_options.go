package grpcx

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ClientOptions configures NewClient. A nil *ClientOptions selects every
// default; NewClient copies it and never changes it.
type ClientOptions struct {
	// Creds are the transport credentials (TLS). Default nil: plaintext
	// HTTP/2 (h2c), matching a ServerOptions without Creds.
	Creds credentials.TransportCredentials

	// KeepaliveTime is how long a connection may go without activity
	// before the client pings the server, to find a dead connection before
	// an RPC does. grpc-go raises values under 10s to 10s. NewClient
	// rejects a value below ServerPolicy.MinTime with a *KeepaliveError.
	// Default 30s; zero selects it; negative disables pings.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long the client waits for a ping's answer
	// before it closes the connection. Default 10s; zero selects it;
	// negative is an error.
	KeepaliveTimeout time.Duration
	// KeepaliveWithoutStream makes the client ping connections without
	// active RPCs too (idle pooled connections). NewClient rejects it when
	// ServerPolicy forbids it. Default false: pings only during RPCs.
	KeepaliveWithoutStream bool
	// ServerPolicy is the keepalive enforcement policy of the servers this
	// client talks to (ServerOptions.Policy() for a grpcx server,
	// GRPCGoDefaultPolicy for a stock grpc-go server). Default nil:
	// DefaultServerPolicy, a grpcx server's default.
	ServerPolicy *KeepalivePolicy

	// Timeout is the deadline given to unary RPCs whose context has none,
	// so that a lost server cannot hold a caller forever. Streams are
	// long-lived by design and get none. Default 30s; zero selects it;
	// negative disables it.
	Timeout time.Duration
	// MaxRecvMsgSize is the largest message the client accepts; a larger
	// one fails the RPC with RESOURCE_EXHAUSTED. Default 4 MiB; zero
	// selects it; negative is an error.
	MaxRecvMsgSize int
	// MaxSendMsgSize is the largest message the client sends; a larger
	// one fails with RESOURCE_EXHAUSTED before it is sent. Default 4 MiB
	// (a grpc-go server's receive limit); zero selects it; negative is an
	// error.
	MaxSendMsgSize int

	// IdempotentMethods lists the methods that may be retried on
	// UNAVAILABLE (the server never saw them, or lost them): full names
	// "/package.Service/Method", or "package.Service" for all of a
	// service's methods. Default none: nothing is retried.
	IdempotentMethods []string
	// RetryAttempts is the number of attempts, the first included, of an
	// idempotent method's RPC, at most 5 (grpc-go's cap). Default 3; zero
	// selects it; negative disables retries.
	RetryAttempts int
	// HealthService is the service whose health each backend reports; a
	// backend answering NOT_SERVING (draining) gets no new RPCs. Default
	// "": the server as a whole, which a grpcx server sets to NOT_SERVING
	// when it drains. A server without the health service counts as
	// healthy.
	HealthService string
	// NoHealthCheck turns client-side health checking off. Default false.
	NoHealthCheck bool

	// Conns is the number of connections (grpc.ClientConns) the client
	// opens at first and keeps. Default 1; zero selects it; negative is an
	// error.
	Conns int
	// MaxConns is the most connections the client opens when every
	// connection has StreamLimit RPCs in flight. Default 4; zero selects
	// it; negative is an error; less than Conns means Conns.
	MaxConns int
	// StreamLimit is the number of RPCs in flight on one connection past
	// which the client opens another. Default 0: the server's
	// SETTINGS_MAX_CONCURRENT_STREAMS, 100 until it arrives; negative is
	// an error.
	StreamLimit int
	// CloseTimeout is how long Close waits for RPCs in flight before it
	// closes the connections under them. Default 10s; zero selects it;
	// negative closes at once.
	CloseTimeout time.Duration

	// LatencyBuckets are the latency histograms' upper bounds, ascending.
	// Default nil: DefaultLatencyBuckets.
	LatencyBuckets []time.Duration
	// UnaryInterceptors and StreamInterceptors run on every connection, in
	// order. Default none.
	UnaryInterceptors  []grpc.UnaryClientInterceptor
	StreamInterceptors []grpc.StreamClientInterceptor
	// DialOptions are passed to grpc.NewClient after grpcx's, so they
	// override them; set TLS with Creds, not grpc.WithTransportCredentials,
	// which would hide the server's SETTINGS and GOAWAYs from the pool.
	// Default none.
	DialOptions []grpc.DialOption
}

func (o *ClientOptions) resolve() (ClientOptions, error) {
	var r ClientOptions
	if o != nil {
		r = *o
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxRecvMsgSize", r.MaxRecvMsgSize}, {"MaxSendMsgSize", r.MaxSendMsgSize}, {"Conns", r.Conns}, {"MaxConns", r.MaxConns}, {"StreamLimit", r.StreamLimit}} {
		if f.v < 0 {
			return r, negative("ClientOptions", f.name, f.v)
		}
	}
	if r.KeepaliveTimeout < 0 {
		return r, negative("ClientOptions", "KeepaliveTimeout", r.KeepaliveTimeout)
	}
	if r.RetryAttempts > 5 {
		return r, fmt.Errorf("grpcx: ClientOptions.RetryAttempts is %d; grpc-go makes at most 5 attempts", r.RetryAttempts)
	}
	for i, b := range r.LatencyBuckets {
		if b <= 0 || (i > 0 && b <= r.LatencyBuckets[i-1]) {
			return r, fmt.Errorf("grpcx: ClientOptions.LatencyBuckets must be positive and ascending (%v)", r.LatencyBuckets)
		}
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	def(&r.KeepaliveTime, 30*time.Second)
	def(&r.KeepaliveTimeout, 10*time.Second)
	def(&r.Timeout, 30*time.Second)
	def(&r.CloseTimeout, 10*time.Second)
	if r.MaxRecvMsgSize == 0 {
		r.MaxRecvMsgSize = 4 << 20
	}
	if r.MaxSendMsgSize == 0 {
		r.MaxSendMsgSize = 4 << 20
	}
	if r.RetryAttempts == 0 {
		r.RetryAttempts = 3
	}
	if r.Conns == 0 {
		r.Conns = 1
	}
	if r.MaxConns == 0 {
		r.MaxConns = 4
	}
	r.MaxConns = max(r.MaxConns, r.Conns)
	policy := DefaultServerPolicy
	if r.ServerPolicy != nil {
		policy = *r.ServerPolicy
	}
	r.ServerPolicy = &policy
	if err := lintKeepalive(r.KeepaliveTime, r.KeepaliveWithoutStream, policy); err != nil {
		return r, err
	}
	r.IdempotentMethods = append([]string(nil), r.IdempotentMethods...)
	r.LatencyBuckets = append([]time.Duration(nil), r.LatencyBuckets...)
	r.UnaryInterceptors = append([]grpc.UnaryClientInterceptor(nil), r.UnaryInterceptors...)
	r.StreamInterceptors = append([]grpc.StreamClientInterceptor(nil), r.StreamInterceptors...)
	r.DialOptions = append([]grpc.DialOption(nil), r.DialOptions...)
	return r, nil
}

// minKeepalive is grpc-go's floor for a client's keepalive time.
const minKeepalive = 10 * time.Second

func lintKeepalive(t time.Duration, withoutStream bool, p KeepalivePolicy) error {
	if t < 0 {
		return nil // no pings
	}
	if eff := max(t, minKeepalive); eff < p.MinTime {
		return &KeepaliveError{Time: t, MinTime: p.MinTime}
	}
	if withoutStream && !p.PermitWithoutStream {
		return &KeepaliveError{Time: t, MinTime: p.MinTime, WithoutStream: true}
	}
	return nil
}

// serviceConfig is the client's default service config: the load balancer,
// health checking and retries for idempotent methods.
func serviceConfig(o *ClientOptions) (string, error) {
	type name struct {
		Service string `json:"service"`
		Method  string `json:"method,omitempty"`
	}
	type retry struct {
		MaxAttempts          int      `json:"maxAttempts"`
		InitialBackoff       string   `json:"initialBackoff"`
		MaxBackoff           string   `json:"maxBackoff"`
		BackoffMultiplier    float64  `json:"backoffMultiplier"`
		RetryableStatusCodes []string `json:"retryableStatusCodes"`
	}
	type methodConfig struct {
		Name        []name `json:"name"`
		RetryPolicy *retry `json:"retryPolicy,omitempty"`
	}
	sc := map[string]any{"loadBalancingConfig": []any{map[string]any{"round_robin": map[string]any{}}}}
	if !o.NoHealthCheck {
		sc["healthCheckConfig"] = map[string]string{"serviceName": o.HealthService}
	}
	if len(o.IdempotentMethods) > 0 && o.RetryAttempts > 1 {
		mc := methodConfig{RetryPolicy: &retry{
			MaxAttempts: o.RetryAttempts, InitialBackoff: "0.1s", MaxBackoff: "1s",
			BackoffMultiplier: 2, RetryableStatusCodes: []string{"UNAVAILABLE"},
		}}
		for _, m := range o.IdempotentMethods {
			svc, meth, _ := strings.Cut(strings.TrimPrefix(m, "/"), "/")
			if svc == "" || strings.Contains(meth, "/") {
				return "", fmt.Errorf("grpcx: ClientOptions.IdempotentMethods: %q is neither \"/package.Service/Method\" nor \"package.Service\"", m)
			}
			mc.Name = append(mc.Name, name{Service: svc, Method: meth})
		}
		sc["methodConfig"] = []methodConfig{mc}
	}
	b, err := json.Marshal(sc)
	return string(b), err
}
