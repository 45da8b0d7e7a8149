// Command grpcx serves the demo catalog from three backends, calls it
// through a grpcx.Client (a pool of connections balancing round robin over
// a static target), drains one backend while calls run, and prints what
// the client and servers counted.
//
//	go run ./examples/grpcx
//
// Everything runs in one process on loopback ports, so the program needs
// nothing else and exits when done.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

const (
	backends = 3
	workers  = 8
	calls    = 300 // per worker
)

type backend struct {
	srv    *grpcx.Server
	addr   string
	served chan error
}

func startBackend() (*backend, error) {
	srv, err := grpcx.NewServer(&grpcx.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	catalogpb.RegisterCatalogServer(srv, catalogpb.NewDemo(1000))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &backend{srv: srv, addr: lis.Addr().String(), served: make(chan error, 1)}
	go func() { b.served <- srv.Serve(lis) }()
	return b, nil
}

func (b *backend) stop(ctx context.Context) error {
	err := b.srv.Shutdown(ctx)
	return errors.Join(err, <-b.served)
}

func run(ctx context.Context, out io.Writer) error {
	var bs []*backend
	var addrs []string
	defer func() {
		for _, b := range bs {
			b.stop(ctx)
		}
	}()
	for range backends {
		b, err := startBackend()
		if err != nil {
			return err
		}
		bs = append(bs, b)
		addrs = append(addrs, b.addr)
	}

	client, err := grpcx.NewClient("static:///"+strings.Join(addrs, ","), &grpcx.ClientOptions{
		IdempotentMethods: []string{"wirespeed.catalog.v1.Catalog/Get", "wirespeed.catalog.v1.Catalog/List"},
	})
	if err != nil {
		return err
	}
	defer client.Close()
	cat := catalogpb.NewCatalogClient(client)

	// One call of each streaming kind.
	list, err := cat.List(ctx, &catalogpb.ListRequest{Prefix: "item-001", Limit: 5})
	if err != nil {
		return err
	}
	var ids []string
	for {
		it, err := list.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		ids = append(ids, it.GetId())
	}
	fmt.Fprintf(out, "List: %s\n", strings.Join(ids, " "))
	up, err := cat.Upload(ctx)
	if err != nil {
		return err
	}
	for i := range 3 {
		if err := up.Send(&catalogpb.Item{Id: fmt.Sprintf("new-%d", i), Name: "New"}); err != nil {
			return err
		}
	}
	sum, err := up.CloseAndRecv()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Upload: %d items stored\n", sum.GetItems())
	chat, err := cat.Chat(ctx)
	if err != nil {
		return err
	}
	if err := chat.Send(&catalogpb.ChatMessage{Seq: 1, Text: "hello"}); err != nil {
		return err
	}
	m, err := chat.Recv()
	if err != nil {
		return err
	}
	chat.CloseSend()
	if _, err := chat.Recv(); err != io.EOF {
		return fmt.Errorf("chat: %v", err)
	}
	fmt.Fprintf(out, "Chat: %q\n", m.GetText())

	// Unary calls from several goroutines; backend 0 drains halfway.
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	var drainErr error
	drained := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				if w == 0 && i == calls/2 {
					drainErr = bs[0].stop(ctx)
					bs = bs[1:]
					close(drained)
				}
				id := fmt.Sprintf("item-%05d", 1+(w*calls+i)%1000)
				if _, err := cat.Get(ctx, &catalogpb.GetRequest{Id: id}); err != nil {
					failed.Add(1)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	<-drained
	if drainErr != nil {
		return drainErr
	}
	fmt.Fprintf(out, "Get: %d calls from %d goroutines, %d failed, one backend drained midway\n", done.Load(), workers, failed.Load())

	st := client.Stats()
	fmt.Fprintf(out, "client: %d connections dialed, %d retired after GOAWAY or failure\n", st.Dialed, st.Retired)
	for _, c := range st.Conns {
		fmt.Fprintf(out, "  conn %d: %s, %d RPCs, server allows %d streams\n", c.ID, c.State, c.RPCs, c.MaxStreams)
	}
	for _, m := range st.Methods {
		fmt.Fprintf(out, "  %s: %d RPCs, %d errors, p99 ≤ %v\n", m.Method, m.RPCs, m.Errors, m.Latency.Quantile(0.99))
	}
	for i, b := range bs {
		for _, m := range b.srv.Stats().Methods {
			if strings.HasSuffix(m.Method, "/Get") {
				fmt.Fprintf(out, "backend %d (still serving): %d Get RPCs\n", i+1, m.RPCs)
			}
		}
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d calls failed", failed.Load())
	}
	return nil
}
