package grpcx_test

import (
	"testing"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
	"github.com/wirespeed/wirespeed/internal/devcert"
	"google.golang.org/grpc/credentials"
)

// TestTLS checks that the frame watcher sits above TLS: the client learns
// the server's stream limit from SETTINGS inside the TLS session.
func TestTLS(t *testing.T) {
	cert, err := devcert.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, &grpcx.ServerOptions{Creds: credentials.NewTLS(cert.ServerTLS()), MaxConcurrentStreams: 42})
	c := newClient(t, srv.addr, &grpcx.ClientOptions{Creds: credentials.NewTLS(cert.ClientTLS())})
	if _, err := catalogpb.NewCatalogClient(c).Get(ctxT(t), &catalogpb.GetRequest{Id: "item-00001"}); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); len(st.Conns) != 1 || st.Conns[0].MaxStreams != 42 {
		t.Errorf("conns over TLS: %+v", st.Conns)
	}
	if st := srv.Stats(); st.Conns != 1 {
		t.Errorf("server counts %d connections", st.Conns)
	}
}
