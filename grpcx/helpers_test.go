package grpcx_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

// quiet is a logger that drops everything, for servers in tests.
var quiet = slog.New(slog.DiscardHandler)

type testServer struct {
	*grpcx.Server
	addr string
}

// startServer serves a catalogpb.Demo with 100 items on a loopback port,
// and closes it when the test ends.
func startServer(t testing.TB, opts *grpcx.ServerOptions) *testServer {
	t.Helper()
	if opts == nil {
		opts = &grpcx.ServerOptions{}
	}
	if opts.Logger == nil {
		o := *opts
		o.Logger = quiet
		opts = &o
	}
	s, err := grpcx.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	catalogpb.RegisterCatalogServer(s, catalogpb.NewDemo(100))
	return &testServer{Server: s, addr: serve(t, s)}
}

// serve serves s on a loopback port until the test ends.
func serve(t testing.TB, s *grpcx.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

func newClient(t testing.TB, target string, opts *grpcx.ClientOptions) *grpcx.Client {
	t.Helper()
	c, err := grpcx.NewClient(target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// drain reads a server stream to its end and returns how many messages it
// held.
func drainList(t testing.TB, s catalogpb.Catalog_ListClient) int {
	t.Helper()
	n := 0
	for {
		_, err := s.Recv()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("List: Recv after %d items: %v", n, err)
		}
		n++
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
