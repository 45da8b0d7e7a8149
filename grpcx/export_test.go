package grpcx

import "google.golang.org/grpc"

// UnaryInterceptor exposes the server's own unary interceptor to the
// benchmarks.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor { return s.unary }
