package grpcx_test

import (
	"context"
	"net"
	"testing"

	"github.com/wirespeed/wirespeed/grpcx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// BenchmarkServerUnaryInterceptor measures what grpcx's interceptors
// (in-flight count, recovery, status mapping, metrics by method, code and
// peer, latency histogram, logging at a disabled level) add to one unary
// RPC, against calling the handler directly.
func BenchmarkServerUnaryInterceptor(b *testing.B) {
	s, err := grpcx.NewServer(&grpcx.ServerOptions{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 4242}})
	info := &grpc.UnaryServerInfo{FullMethod: "/wirespeed.catalog.v1.Catalog/Get"}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	b.Run("Direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			handler(ctx, nil)
		}
	})
	b.Run("Grpcx", func(b *testing.B) {
		in := s.UnaryInterceptor()
		b.ReportAllocs()
		for b.Loop() {
			in(ctx, nil, info, handler)
		}
	})
}
