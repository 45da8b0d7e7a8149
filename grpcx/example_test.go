package grpcx_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

func Example() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	srv, err := grpcx.NewServer(&grpcx.ServerOptions{Reflection: true})
	if err != nil {
		log.Fatal(err)
	}
	catalogpb.RegisterCatalogServer(srv, catalogpb.NewDemo(10)) // srv is a grpc.ServiceRegistrar
	go srv.Serve(lis)
	defer srv.Shutdown(context.Background()) // NOT_SERVING, GOAWAY, wait for RPCs

	client, err := grpcx.NewClient(lis.Addr().String(), &grpcx.ClientOptions{
		IdempotentMethods: []string{"/wirespeed.catalog.v1.Catalog/Get"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	item, err := catalogpb.NewCatalogClient(client).Get(ctx, &catalogpb.GetRequest{Id: "item-00001"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(item.GetName())
	st := client.Stats() // per connection: state, RPCs in flight, GOAWAYs
	fmt.Println("connections:", len(st.Conns), "state:", st.Conns[0].State)
	// Output:
	// Widget 1
	// connections: 1 state: READY
}

func ExampleNewClient_keepaliveLint() {
	// The client talks to a stock grpc-go server, which accepts a ping
	// every 5 minutes at most: the default 30s would end in GOAWAY
	// too_many_pings.
	_, err := grpcx.NewClient("dns:///backend:9090", &grpcx.ClientOptions{
		ServerPolicy: &grpcx.GRPCGoDefaultPolicy,
	})
	fmt.Println(err)
	// Output:
	// grpcx: ClientOptions.KeepaliveTime 30s is below the server's KeepalivePolicy.MinTime 5m0s; the server would close the connection with GOAWAY too_many_pings: raise KeepaliveTime to at least 5m0s
}

func ExampleToStatus() {
	err := grpcx.ToStatus(fmt.Errorf("loading item: %w", context.DeadlineExceeded))
	fmt.Println(err)
	// Output:
	// rpc error: code = DeadlineExceeded desc = loading item: context deadline exceeded
}
