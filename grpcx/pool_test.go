package grpcx_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestPoolGrowsPastStreamLimit(t *testing.T) {
	s, addr, f := serveFaulty(t, &grpcx.ServerOptions{MaxConcurrentStreams: 2})
	c := newClient(t, addr, &grpcx.ClientOptions{NoHealthCheck: true, MaxConns: 4})
	cat := catalogpb.NewCatalogClient(c)
	// Learn the server's limit from its SETTINGS first.
	if _, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "x"}); err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "block"})
			errs <- err
		})
	}
	// With 2 streams per connection, all 6 run at once only on 3.
	waitFor(t, "6 RPCs running on the server", func() bool { return s.Stats().InFlight == n })
	st := c.Stats()
	if len(st.Conns) != 3 {
		t.Errorf("%d connections, want 3: %+v", len(st.Conns), st.Conns)
	}
	for _, cs := range st.Conns {
		if cs.InFlight != 2 || cs.MaxStreams != 2 {
			t.Errorf("connection %+v: want 2 in flight and MaxStreams 2", cs)
		}
	}
	close(f.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestPoolMaxConnsQueues(t *testing.T) {
	s, addr, f := serveFaulty(t, &grpcx.ServerOptions{MaxConcurrentStreams: 1})
	c := newClient(t, addr, &grpcx.ClientOptions{NoHealthCheck: true, MaxConns: 2})
	cat := catalogpb.NewCatalogClient(c)
	if _, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "x"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "block"}); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "2 RPCs running", func() bool { return s.Stats().InFlight == 2 })
	waitFor(t, "4 RPCs in the client", func() bool { return c.Stats().InFlight == 4 })
	if n := len(c.Stats().Conns); n != 2 {
		t.Errorf("%d connections, want MaxConns 2", n)
	}
	close(f.block)
	wg.Wait()
}

func TestPoolReplacesAfterGoAway(t *testing.T) {
	// MaxConnectionAge makes the server send GOAWAY every 100ms or so.
	srv := startServer(t, &grpcx.ServerOptions{MaxConnectionAge: 100 * time.Millisecond, MaxConnectionAgeGrace: time.Minute})
	c := newClient(t, srv.addr, &grpcx.ClientOptions{IdempotentMethods: []string{"wirespeed.catalog.v1.Catalog"}})
	cat := catalogpb.NewCatalogClient(c)
	ctx := ctxT(t)
	// A stream started before the GOAWAY stays on its connection and ends
	// normally.
	chat, err := cat.Chat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 connections retired", func() bool {
		if _, err := cat.Get(ctx, &catalogpb.GetRequest{Id: "item-00001"}); err != nil {
			t.Fatalf("Get during GOAWAYs: %v", err)
		}
		return c.Stats().Retired >= 2
	})
	for i := range 3 {
		if err := chat.Send(&catalogpb.ChatMessage{Seq: int64(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := chat.Recv(); err != nil {
			t.Fatalf("the stream lost its connection: %v", err)
		}
	}
	chat.CloseSend()
	chat.Recv()
	st := c.Stats()
	if st.GoAways < 2 || st.Dialed < 2 {
		t.Errorf("stats after GOAWAYs: %+v", st)
	}
}

func TestClientClose(t *testing.T) {
	s, addr, f := serveFaulty(t, nil)
	c, err := grpcx.NewClient(addr, &grpcx.ClientOptions{NoHealthCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	cat := catalogpb.NewCatalogClient(c)
	res := make(chan error, 1)
	go func() {
		_, err := cat.Get(context.Background(), &catalogpb.GetRequest{Id: "block"})
		res <- err
	}()
	waitFor(t, "the RPC", func() bool { return s.Stats().InFlight == 1 })
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	waitFor(t, "Close to refuse new RPCs", func() bool {
		_, err := cat.Get(context.Background(), &catalogpb.GetRequest{Id: "x"})
		return status.Code(err) == codes.Canceled && errorsIs(err, grpcx.ErrClosed)
	})
	select {
	case <-closed:
		t.Fatal("Close returned with an RPC in flight")
	default:
	}
	close(f.block)
	if err := <-res; err != nil {
		t.Errorf("the RPC in flight during Close: %v", err)
	}
	<-closed
}

// TestTooManyPingsCounted answers a grpcx client with GOAWAY
// too_many_pings from a bare HTTP/2 server, as a server whose keepalive
// policy the client breaks would.
func TestTooManyPingsCounted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := conn.Read(preface); err != nil {
			return
		}
		fr := http2.NewFramer(conn, conn)
		fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 7})
		fr.WriteGoAway(0, http2.ErrCodeEnhanceYourCalm, []byte("too_many_pings"))
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	c := newClient(t, l.Addr().String(), nil)
	c.Connect()
	waitFor(t, "the GOAWAY to be counted", func() bool { st := c.Stats(); return st.TooManyPings == 1 && st.Retired == 1 })
	st := c.Stats()
	if st.GoAways != 1 || st.Retired != 1 {
		t.Errorf("stats: %+v", st)
	}
	c.Close()
	<-done
}

// TestPingFloodGetsGoAway pings a grpcx server far more often than its
// policy allows, with a bare HTTP/2 client: the server answers GOAWAY
// too_many_pings and counts it.
func TestPingFloodGetsGoAway(t *testing.T) {
	srv := startServer(t, &grpcx.ServerOptions{ForbidPingsWithoutStream: true})
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte(http2.ClientPreface))
	fr := http2.NewFramer(conn, conn)
	fr.WriteSettings()
	var pings atomic.Int64
	go func() {
		for i := range 100 {
			if fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
			pings.Add(1)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY after %d pings: %v", pings.Load(), err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeEnhanceYourCalm || string(g.DebugData()) != "too_many_pings" {
				t.Fatalf("GOAWAY %v %q", g.ErrCode, g.DebugData())
			}
			break
		}
	}
	waitFor(t, "the GOAWAY to be counted", func() bool { return srv.Stats().TooManyPings == 1 })
}

func TestManyStreamsPerConnection(t *testing.T) {
	// A client that opens more streams than MaxConcurrentStreams: the
	// excess waits for a free stream (grpc-go queues it), nothing fails.
	s, addr, f := serveFaulty(t, &grpcx.ServerOptions{MaxConcurrentStreams: 3})
	c := newClient(t, addr, &grpcx.ClientOptions{NoHealthCheck: true, MaxConns: 1})
	cat := catalogpb.NewCatalogClient(c)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "block"}); err != nil {
				t.Errorf("RPC %d: %v", i, err)
			}
		})
	}
	waitFor(t, "3 RPCs running", func() bool { return s.Stats().InFlight == 3 })
	waitFor(t, "10 RPCs in the client", func() bool { return c.Stats().InFlight == 10 })
	if n := s.Stats().InFlight; n != 3 {
		t.Errorf("%d RPCs on the server, want MaxConcurrentStreams 3", n)
	}
	close(f.block)
	wg.Wait()
}

// TestGoAwayUnderLoad retires connections (GOAWAY every ~50ms) while 16
// goroutines call: an RPC picked onto a connection being retired must not
// land on a closed ClientConn.
func TestGoAwayUnderLoad(t *testing.T) {
	srv := startServer(t, &grpcx.ServerOptions{MaxConnectionAge: 50 * time.Millisecond, MaxConnectionAgeGrace: time.Minute})
	c := newClient(t, srv.addr, &grpcx.ClientOptions{NoHealthCheck: true})
	cat := catalogpb.NewCatalogClient(c)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 16 {
		wg.Go(func() {
			for c.Stats().Retired < 6 {
				if _, err := cat.Get(ctxT(t), &catalogpb.GetRequest{Id: "item-00001"}); err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("RPC failed while connections were retired: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d RPCs failed", n)
	}
}
