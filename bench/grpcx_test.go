package bench

// gRPC side by side: grpcx's pool against one ClientConn, a checkout-style
// pool (the pattern of processout/grpc-go-pool, which the module proxy here
// does not serve, written out below) and a channel per request; protobuf
// against encoding/json; a server stream against unary calls; grpcx's
// server interceptors against bare grpc-go and go-grpc-middleware v2.
//
//	cd bench && go test -run '^$' -bench Grpc -count 6 .

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

var discard = slog.New(slog.DiscardHandler)

// slowCatalog answers Get after a fixed delay, as a service backed by a
// database would: with MaxConcurrentStreams 100, one connection carries at
// most 100 RPCs per delay.
type slowCatalog struct {
	*catalogpb.Demo
	delay time.Duration
}

func (s slowCatalog) Get(ctx context.Context, req *catalogpb.GetRequest) (*catalogpb.Item, error) {
	time.Sleep(s.delay)
	return s.Demo.Get(ctx, req)
}

func serveGrpc(tb testing.TB, srv *grpc.Server) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	tb.Cleanup(func() { srv.Stop(); <-done })
	return l.Addr().String()
}

func startGrpcx(tb testing.TB, impl catalogpb.CatalogServer, opts *grpcx.ServerOptions) string {
	tb.Helper()
	if opts == nil {
		opts = &grpcx.ServerOptions{}
	}
	opts.Logger = discard
	s, err := grpcx.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	catalogpb.RegisterCatalogServer(s, impl)
	return serveGrpc(tb, s.GRPC())
}

func dialRaw(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// checkoutPool lends a whole connection to one RPC at a time, as
// processout/grpc-go-pool does: Get takes a connection off a channel,
// Put returns it.
type checkoutPool struct{ conns chan *grpc.ClientConn }

func newCheckoutPool(tb testing.TB, addr string, n int) *checkoutPool {
	p := &checkoutPool{conns: make(chan *grpc.ClientConn, n)}
	for range n {
		p.conns <- dialRaw(tb, addr)
	}
	return p
}

func (p *checkoutPool) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	cc := <-p.conns
	defer func() { p.conns <- cc }()
	return cc.Invoke(ctx, method, args, reply, opts...)
}

func (p *checkoutPool) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	panic("not used")
}

// perRequest opens a channel for every RPC: the pitfall.
type perRequest struct{ addr string }

func (p perRequest) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	return cc.Invoke(ctx, method, args, reply, opts...)
}

func (p perRequest) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	panic("not used")
}

const (
	grpcConcurrency = 1000
	grpcPoolConns   = 10
	grpcDelay       = 100 * time.Millisecond
)

// BenchmarkGrpcConcurrentUnary runs 1000 concurrent unary RPCs against a
// server with MaxConcurrentStreams 100 whose handler takes 100ms (a slow
// backend: one connection then carries at most 1000 RPC/s). ns/op is
// per RPC: QPS = 1e9 / ns/op.
func BenchmarkGrpcConcurrentUnary(b *testing.B) {
	addr := startGrpcx(b, slowCatalog{catalogpb.NewDemo(100), grpcDelay}, &grpcx.ServerOptions{MaxConcurrentStreams: 100})
	pool, err := grpcx.NewClient(addr, &grpcx.ClientOptions{MaxConns: grpcPoolConns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pool.Close() })
	for _, tc := range []struct {
		name string
		cc   grpc.ClientConnInterface
	}{
		{"OneClientConn", dialRaw(b, addr)},
		{"GrpcxPool", pool},
		{"CheckoutPool", newCheckoutPool(b, addr, grpcPoolConns)},
		{"ChannelPerRequest", perRequest{addr}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cat := catalogpb.NewCatalogClient(tc.cc)
			b.ReportAllocs()
			b.SetParallelism(max(1, grpcConcurrency/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := cat.Get(ctx, &catalogpb.GetRequest{Id: "item-00001"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rpc/s")
			if p, ok := tc.cc.(*grpcx.Client); ok {
				b.ReportMetric(float64(len(p.Stats().Conns)), "conns")
			}
		})
	}
}

// The messages compared: a catalog record, a small request, a summary and
// a chat message.
func grpcMessages() []struct {
	name string
	msg  proto.Message
	new  func() proto.Message
} {
	return []struct {
		name string
		msg  proto.Message
		new  func() proto.Message
	}{
		{"Item", catalogpb.DemoItem(4242), func() proto.Message { return new(catalogpb.Item) }},
		{"ListRequest", &catalogpb.ListRequest{Prefix: "item-00", Limit: 100}, func() proto.Message { return new(catalogpb.ListRequest) }},
		{"UploadSummary", &catalogpb.UploadSummary{Items: 1234, PayloadBytes: 987654321}, func() proto.Message { return new(catalogpb.UploadSummary) }},
		{"ChatMessage", &catalogpb.ChatMessage{Seq: 42, Text: "is item-04242 back in stock?"}, func() proto.Message { return new(catalogpb.ChatMessage) }},
	}
}

// BenchmarkGrpcCodec encodes and decodes each message with protobuf and
// with encoding/json (the generated struct's json tags); the bytes metric
// is the encoded size.
func BenchmarkGrpcCodec(b *testing.B) {
	for _, m := range grpcMessages() {
		pb, err := proto.Marshal(m.msg)
		if err != nil {
			b.Fatal(err)
		}
		js, err := json.Marshal(m.msg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(m.name+"/Protobuf/Encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				proto.Marshal(m.msg)
			}
			b.ReportMetric(float64(len(pb)), "bytes")
		})
		b.Run(m.name+"/JSON/Encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				json.Marshal(m.msg)
			}
			b.ReportMetric(float64(len(js)), "bytes")
		})
		b.Run(m.name+"/Protobuf/Decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := proto.Unmarshal(pb, m.new()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(pb)), "bytes")
		})
		b.Run(m.name+"/JSON/Decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := json.Unmarshal(js, m.new()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(js)), "bytes")
		})
	}
}

// BenchmarkGrpcStreamVsUnary fetches 1000 records on loopback: one
// server-streaming List against 1000 sequential unary Gets. One op is all
// 1000 records.
func BenchmarkGrpcStreamVsUnary(b *testing.B) {
	addr := startGrpcx(b, catalogpb.NewDemo(1000), nil)
	cat := catalogpb.NewCatalogClient(dialRaw(b, addr))
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = catalogpb.DemoItem(i + 1).Id
	}
	b.Run("ServerStream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := cat.List(ctx, &catalogpb.ListRequest{Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				if _, err := s.Recv(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				b.Fatalf("%d records", n)
			}
		}
	})
	b.Run("Unary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, id := range ids {
				if _, err := cat.Get(ctx, &catalogpb.GetRequest{Id: id}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkGrpcInterceptors measures unary RPCs through three servers: bare
// grpc-go, grpcx (metrics, recovery, status mapping, slog logging) and
// go-grpc-middleware v2's recovery and logging interceptors (slog). Loggers
// discard, and grpcx logs successes at Debug, so the cost measured is the
// interceptors', not the log output's.
func BenchmarkGrpcInterceptors(b *testing.B) {
	demo := catalogpb.NewDemo(100)
	bare := grpc.NewServer()
	catalogpb.RegisterCatalogServer(bare, demo)
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		discard.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	mw := grpc.NewServer(
		grpc.ChainUnaryInterceptor(
			logging.UnaryServerInterceptor(logger, logging.WithLogOnEvents(logging.FinishCall)),
			recovery.UnaryServerInterceptor(),
		),
		grpc.ChainStreamInterceptor(
			logging.StreamServerInterceptor(logger, logging.WithLogOnEvents(logging.FinishCall)),
			recovery.StreamServerInterceptor(),
		),
	)
	catalogpb.RegisterCatalogServer(mw, demo)
	for _, tc := range []struct {
		name string
		addr string
	}{
		{"Bare", serveGrpc(b, bare)},
		{"Grpcx", startGrpcx(b, demo, nil)},
		{"MiddlewareV2", serveGrpc(b, mw)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cat := catalogpb.NewCatalogClient(dialRaw(b, tc.addr))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := cat.Get(ctx, &catalogpb.GetRequest{Id: "item-00001"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestGrpcBenchClientsAgree checks that every client the benchmarks
// compare gets the same answer.
func TestGrpcBenchClientsAgree(t *testing.T) {
	addr := startGrpcx(t, slowCatalog{catalogpb.NewDemo(10), 0}, nil)
	pool, err := grpcx.NewClient(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var wg sync.WaitGroup
	for _, cc := range []grpc.ClientConnInterface{dialRaw(t, addr), pool, newCheckoutPool(t, addr, 2), perRequest{addr}} {
		wg.Go(func() {
			it, err := catalogpb.NewCatalogClient(cc).Get(context.Background(), &catalogpb.GetRequest{Id: "item-00003"})
			if err != nil || !strings.HasPrefix(it.GetName(), "Widget 3") {
				t.Errorf("%T: %v, %v", cc, it, err)
			}
		})
	}
	wg.Wait()
	for _, m := range grpcMessages() {
		pb, _ := proto.Marshal(m.msg)
		js, _ := json.Marshal(m.msg)
		back := m.new()
		if err := json.Unmarshal(js, back); err != nil || !proto.Equal(back, m.msg) {
			t.Errorf("%s: JSON round trip: %v", m.name, err)
		}
		if len(pb) == 0 || len(js) == 0 {
			t.Errorf("%s: empty encoding", m.name)
		}
	}
}
