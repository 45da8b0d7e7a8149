package grpcx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// faulty is a catalog whose Get fails as its ID says.
type faulty struct {
	catalogpb.UnimplementedCatalogServer
	block chan struct{}
	sent  atomic.Int64 // List's messages sent
}

// List sends 64 KiB items until the client goes away.
func (f *faulty) List(_ *catalogpb.ListRequest, s catalogpb.Catalog_ListServer) error {
	it := &catalogpb.Item{Id: "big", Payload: make([]byte, 64<<10)}
	for {
		if err := s.Send(it); err != nil {
			return err
		}
		f.sent.Add(1)
	}
}

func (f *faulty) Get(ctx context.Context, req *catalogpb.GetRequest) (*catalogpb.Item, error) {
	switch req.GetId() {
	case "panic":
		panic("secret: db password is hunter2")
	case "goexit":
		runtime.Goexit()
	case "deadline":
		return nil, fmt.Errorf("query: %w", context.DeadlineExceeded)
	case "canceled":
		return nil, context.Canceled
	case "plain":
		return nil, errors.New("plain failure")
	case "status":
		return nil, fmt.Errorf("wrapped: %w", status.Error(codes.NotFound, "nope"))
	case "block":
		select {
		case <-f.block:
			return &catalogpb.Item{Id: "block"}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "big":
		return &catalogpb.Item{Id: "big", Payload: make([]byte, 5<<20)}, nil
	}
	return &catalogpb.Item{Id: req.GetId()}, nil
}

func serveFaulty(t *testing.T, opts *grpcx.ServerOptions) (*grpcx.Server, string, *faulty) {
	t.Helper()
	if opts == nil {
		opts = &grpcx.ServerOptions{}
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := grpcx.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	f := &faulty{block: make(chan struct{})}
	catalogpb.RegisterCatalogServer(s, f)
	addr := serve(t, s)
	return s, addr, f
}

func TestStatusMapping(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	s, addr, _ := serveFaulty(t, &grpcx.ServerOptions{Logger: logger})
	cat := catalogpb.NewCatalogClient(newClient(t, addr, nil))
	for _, tc := range []struct {
		id   string
		code codes.Code
		msg  string
	}{
		{"panic", codes.Internal, "grpcx: internal error"},
		{"deadline", codes.DeadlineExceeded, "query: context deadline exceeded"},
		{"canceled", codes.Canceled, "context canceled"},
		{"plain", codes.Unknown, "plain failure"},
		{"status", codes.NotFound, "wrapped: rpc error: code = NotFound desc = nope"},
		{"ok", codes.OK, ""},
	} {
		_, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: tc.id})
		st := status.Convert(err)
		if st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("Get(%q) = %v %q, want %v %q", tc.id, st.Code(), st.Message(), tc.code, tc.msg)
		}
	}
	stats := s.Stats()
	if stats.Panics != 1 {
		t.Errorf("Panics = %d, want 1", stats.Panics)
	}
	got := map[codes.Code]uint64{}
	for _, r := range stats.RPCs {
		if r.Method == "/wirespeed.catalog.v1.Catalog/Get" {
			got[r.Code] += r.Count
		}
	}
	want := map[codes.Code]uint64{codes.Internal: 1, codes.DeadlineExceeded: 1, codes.Canceled: 1, codes.Unknown: 1, codes.NotFound: 1, codes.OK: 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RPCs by code = %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), "grpc handler panicked") {
		t.Errorf("the panic is not in the log:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestOversizedMessages(t *testing.T) {
	_, addr, _ := serveFaulty(t, &grpcx.ServerOptions{MaxRecvMsgSize: 1 << 20})
	// The client's send limit is higher than the server's receive limit,
	// so the server is the one that refuses.
	cat := catalogpb.NewCatalogClient(newClient(t, addr, &grpcx.ClientOptions{MaxSendMsgSize: 8 << 20}))
	_, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: strings.Repeat("x", 2<<20)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized request: %v, want RESOURCE_EXHAUSTED", err)
	}
	// The server's answer exceeds its own send limit (4 MiB by default).
	_, err = cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "big"})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized response: %v, want RESOURCE_EXHAUSTED", err)
	}
	// The client refuses to send more than its own limit.
	small := catalogpb.NewCatalogClient(newClient(t, addr, &grpcx.ClientOptions{MaxSendMsgSize: 1024}))
	_, err = small.Get(ctxT(t), &catalogpb.GetRequest{Id: strings.Repeat("x", 2048)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized on the client: %v, want RESOURCE_EXHAUSTED", err)
	}
	// The connection survives all of it.
	if _, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "ok"}); err != nil {
		t.Errorf("after oversized messages: %v", err)
	}
}

func TestUnknownMethod(t *testing.T) {
	srv := startServer(t, nil)
	c := newClient(t, srv.addr, nil)
	err := c.Invoke(ctxT(t), "/wirespeed.catalog.v1.Catalog/Delete", &catalogpb.GetRequest{}, &catalogpb.Item{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v, want UNIMPLEMENTED", err)
	}
	err = c.Invoke(ctxT(t), "/no.Such/Service", &catalogpb.GetRequest{}, &catalogpb.Item{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown service: %v, want UNIMPLEMENTED", err)
	}
}

func TestHealthAndDrain(t *testing.T) {
	s, addr, f := serveFaulty(t, &grpcx.ServerOptions{DrainTimeout: time.Minute})
	c := newClient(t, addr, &grpcx.ClientOptions{NoHealthCheck: true})
	h := healthpb.NewHealthClient(c)
	for _, svc := range []string{"", "wirespeed.catalog.v1.Catalog"} {
		r, err := h.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q = %v, %v", svc, r, err)
		}
	}
	cat := catalogpb.NewCatalogClient(c)
	res := make(chan error, 1)
	go func() {
		_, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "block"})
		res <- err
	}()
	waitFor(t, "the blocked RPC", func() bool { return s.Stats().InFlight == 1 })

	watch, err := h.Watch(ctxT(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch = %v, %v", r, err)
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// NOT_SERVING comes first, while the RPC in flight still runs.
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch during drain = %v, %v", r, err)
	}
	if !s.Stats().Draining {
		t.Error("Stats.Draining is false during Shutdown")
	}
	// Then the Watch ends, so that it does not hold the drain up.
	if _, err := watch.Recv(); err == nil {
		t.Fatal("the Watch stream goes on after NOT_SERVING during a drain")
	}
	close(f.block)
	if err := <-res; err != nil {
		t.Errorf("the RPC in flight failed during the drain: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	s, addr, f := serveFaulty(t, &grpcx.ServerOptions{DrainTimeout: 50 * time.Millisecond})
	defer close(f.block)
	// No health Watch stream, so that InFlight counts the Get alone.
	cat := catalogpb.NewCatalogClient(newClient(t, addr, &grpcx.ClientOptions{NoHealthCheck: true}))
	res := make(chan error, 1)
	go func() {
		_, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "block"})
		res <- err
	}()
	waitFor(t, "the blocked RPC", func() bool { return s.Stats().InFlight >= 1 })
	err := s.Shutdown(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "in flight after DrainTimeout") {
		t.Errorf("Shutdown = %v, want DrainTimeout's error", err)
	}
	if err := <-res; status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
		t.Errorf("the RPC cut off by Stop: %v", err)
	}
}

// drainer is what httpx.Server offers: RegisterOnShutdown hooks run when
// its drain starts.
type drainer struct{ hooks []func() }

func (d *drainer) RegisterOnShutdown(f func()) { d.hooks = append(d.hooks, f) }

func TestDrainWith(t *testing.T) {
	s, addr, _ := serveFaulty(t, nil)
	d := &drainer{}
	s.DrainWith(d)
	h := healthpb.NewHealthClient(newClient(t, addr, nil))
	if r, err := h.Check(ctxT(t), &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", r, err)
	}
	for _, f := range d.hooks {
		f()
	}
	select {
	case <-s.Draining():
	default:
		t.Fatal("the drain hook did not start the drain")
	}
	if err := s.Shutdown(ctxT(t)); err != nil {
		t.Errorf("Shutdown after the hook = %v", err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var _ grpc.ServiceRegistrar = (*grpcx.Server)(nil)

func TestHandlerGoexit(t *testing.T) {
	s, addr, _ := serveFaulty(t, nil)
	cat := catalogpb.NewCatalogClient(newClient(t, addr, &grpcx.ClientOptions{Timeout: 200 * time.Millisecond}))
	// runtime.Goexit cannot be stopped: the RPC gets no answer and ends at
	// the client's deadline, but it is counted and the server goes on.
	if _, err := cat.Get(context.Background(), &catalogpb.GetRequest{Id: "goexit"}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Get(goexit) = %v, want DEADLINE_EXCEEDED", err)
	}
	waitFor(t, "the Goexit to be counted", func() bool { return s.Stats().Goexits == 1 && s.Stats().InFlight <= 1 })
	if _, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "ok"}); err != nil {
		t.Errorf("after a Goexit: %v", err)
	}
}
