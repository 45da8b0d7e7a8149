package grpcx

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// errInternal is what a client sees of a panic: the panic value and stack
// go to the log only.
var errInternal = status.Error(codes.Internal, "grpcx: internal error")

// unary is grpcx's own unary server interceptor: in-flight count, panic
// recovery, status mapping, metrics and logging.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	s.inFlight.Add(1)
	returned := false
	defer func() {
		if !returned {
			err = s.recovered(ctx, info.FullMethod, recover())
			resp = nil
		}
		s.inFlight.Add(-1)
		s.finish(ctx, info.FullMethod, start, err, false, 0, 0)
	}()
	resp, err = handler(ctx, req)
	err = ToStatus(err)
	returned = true
	return resp, err
}

// stream is grpcx's own stream server interceptor.
func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	s.inFlight.Add(1)
	cs := &countingStream{ServerStream: ss}
	returned := false
	defer func() {
		if !returned {
			err = s.recovered(ss.Context(), info.FullMethod, recover())
		}
		s.inFlight.Add(-1)
		s.finish(ss.Context(), info.FullMethod, start, err, true, cs.sent.Load(), cs.recv.Load())
	}()
	err = ToStatus(handler(srv, cs))
	returned = true
	return err
}

// recovered turns a panic (v != nil) into INTERNAL, logging the value and
// stack. With v == nil the handler called runtime.Goexit, which cannot be
// stopped: it is counted and logged, and the RPC ends at the client's
// deadline.
func (s *Server) recovered(ctx context.Context, method string, v any) error {
	if v == nil {
		s.goexits.Add(1)
		s.opts.Logger.LogAttrs(ctx, slog.LevelError, "grpc handler called runtime.Goexit",
			slog.String("method", method))
		return errInternal
	}
	s.panics.Add(1)
	s.opts.Logger.LogAttrs(ctx, slog.LevelError, "grpc handler panicked",
		slog.String("method", method), slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
	return errInternal
}

func (s *Server) finish(ctx context.Context, method string, start time.Time, err error, stream bool, sent, recv uint64) {
	d := time.Since(start)
	code := status.Code(err)
	key := rpcKey{method: method, code: code, peer: localAddr}
	if p, ok := peer.FromContext(ctx); ok {
		key.peer = s.reg.peerKey(p.Addr)
	}
	s.reg.observe(s.reg.method(method), key, d, stream, sent, recv)

	level := slog.LevelDebug
	switch code {
	case codes.OK:
	case codes.Unknown, codes.Internal, codes.DataLoss:
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	l := s.opts.Logger
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method), slog.String("code", code.String()),
		slog.Duration("duration", d),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if stream {
		attrs = append(attrs, slog.Uint64("sent", sent), slog.Uint64("received", recv))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
	}
	l.LogAttrs(ctx, level, "grpc", attrs...)
}

// countingStream counts a stream's messages. A handler may send and
// receive on two goroutines, hence the atomics.
type countingStream struct {
	grpc.ServerStream
	sent, recv atomic.Uint64
}

func (c *countingStream) SendMsg(m any) error {
	err := c.ServerStream.SendMsg(m)
	if err == nil {
		c.sent.Add(1)
	}
	return err
}

func (c *countingStream) RecvMsg(m any) error {
	err := c.ServerStream.RecvMsg(m)
	if err == nil {
		c.recv.Add(1)
	}
	return err
}
