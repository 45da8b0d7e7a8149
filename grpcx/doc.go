// Package grpcx packages the production answers for gRPC on
// google.golang.org/grpc: a server with keepalive enforcement, stream
// limits, health wired to drain and metrics interceptors, and a client that
// pools connections by streams in flight, balances across backends and
// checks its keepalive against the server's policy before it is rejected
// in production. It is a module of its own (with grpcx/catalogpb), so that
// only programs that use gRPC have grpc-go in their module graph:
// go get github.com/wirespeed/wirespeed/grpcx.
//
// # Quick start
//
// Serve a service with the defaults, and call it through a pool that
// generated stubs take as their connection:
//
//	srv, err := grpcx.NewServer(&grpcx.ServerOptions{Reflection: true})
//	if err != nil {
//		log.Fatal(err)
//	}
//	catalogpb.RegisterCatalogServer(srv, catalogpb.NewDemo(10)) // srv is a grpc.ServiceRegistrar
//	go srv.Serve(lis)
//	defer srv.Shutdown(context.Background()) // NOT_SERVING, GOAWAY, wait for RPCs
//
//	client, err := grpcx.NewClient(lis.Addr().String(), &grpcx.ClientOptions{
//		IdempotentMethods: []string{"/wirespeed.catalog.v1.Catalog/Get"},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer client.Close()
//	item, err := catalogpb.NewCatalogClient(client).Get(ctx, &catalogpb.GetRequest{Id: "item-00001"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Println(item.GetName())
//	st := client.Stats() // per connection: state, RPCs in flight, GOAWAYs
//
// A target may name several backends ("dns:///catalog.internal:9090",
// "static:///10.0.0.1:9090,10.0.0.2:9090"): RPCs go round robin to the
// healthy ones.
//
// # Server
//
// [NewServer] builds a grpc.Server with MaxConcurrentStreams 100
// (advertised in SETTINGS; what clients assume until then), 4 MiB message
// limits both ways, a keepalive enforcement policy that accepts pings every
// 10s and pings on idle connections (the grpcx client pings every 30s), a
// 30 minute MaxConnectionAge so clients re-resolve and rebalance, the
// standard health service, and reflection when asked.
//
// Its interceptors count every RPC by method, status code and client IP
// (bounded by MaxPeers), keep a latency histogram per method and the
// messages sent and received per stream, turn a handler's panic into
// INTERNAL without sending the panic's text to the client, log through
// log/slog, and map handler errors that are not statuses to codes with
// [ToStatus]: context.DeadlineExceeded to DEADLINE_EXCEEDED,
// context.Canceled to CANCELED. [Server.Stats] returns them all.
//
// [Server.Shutdown] drains: health turns NOT_SERVING (clients that watch
// health, as grpcx clients do, stop sending new RPCs; watch streams end),
// then GracefulStop sends GOAWAY and lets RPCs in flight finish for up to
// DrainTimeout, then Stop closes what is left. [Server.DrainWith] starts
// that sequence when an httpx.Server in the same process starts draining.
//
// # Client
//
// [NewClient] returns a [Client], a pool of grpc.ClientConns that
// implements grpc.ClientConnInterface. Each connection uses round_robin
// over every address of the target (grpc-go's default, pick_first, sends
// everything to one backend) with client-side health checking, so a
// draining backend is skipped; "static:///a:1,b:2" names a fixed list. A
// retry policy covers the methods declared idempotent, unary RPCs without
// a deadline get one (30s), and messages are limited to 4 MiB.
//
// Each RPC goes to the connection with the fewest RPCs in flight. When
// every connection has as many as the server's
// SETTINGS_MAX_CONCURRENT_STREAMS allows (read off the wire; 100 until it
// arrives), the pool opens another, up to MaxConns, instead of queueing
// RPCs behind the limit. A connection that receives GOAWAY (drain,
// MaxConnectionAge, keepalive enforcement) or reports TRANSIENT_FAILURE
// while another is usable is retired: it takes no new RPCs, its streams
// finish on it, and it closes when they have; the next RPC opens a
// replacement. [Client.Close] waits for RPCs in flight, up to
// CloseTimeout.
//
// # Keepalive
//
// A client that pings more often than the server's enforcement policy
// allows gets GOAWAY too_many_pings after two strikes, and loses every RPC
// on the connection. NewClient checks its keepalive against the policy
// the servers declare ([ClientOptions].ServerPolicy, by default a grpcx
// server's) and returns a [*KeepaliveError] instead. GOAWAYs that happen
// anyway are counted in [ClientStats].TooManyPings; a server counts those
// it sends in [ServerStats].TooManyPings.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor.
//
// # Demo service
//
// The subpackage catalogpb holds a demo catalog service (one method of
// each kind) that the tests, examples and benchmarks use; its generated
// code is reproduced by go generate.
package grpcx
