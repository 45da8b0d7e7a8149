package grpcx_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
)

func TestServerOptionsNegative(t *testing.T) {
	for _, tc := range []struct {
		field string
		opts  grpcx.ServerOptions
	}{
		{"MaxConcurrentStreams", grpcx.ServerOptions{MaxConcurrentStreams: -1}},
		{"MaxRecvMsgSize", grpcx.ServerOptions{MaxRecvMsgSize: -1}},
		{"MaxSendMsgSize", grpcx.ServerOptions{MaxSendMsgSize: -1}},
		{"KeepaliveTimeout", grpcx.ServerOptions{KeepaliveTimeout: -time.Second}},
		{"KeepaliveMinTime", grpcx.ServerOptions{KeepaliveMinTime: -time.Second}},
		{"MaxConnectionAgeGrace", grpcx.ServerOptions{MaxConnectionAgeGrace: -time.Second}},
		{"DrainDelay", grpcx.ServerOptions{DrainDelay: -time.Second}},
		{"DrainTimeout", grpcx.ServerOptions{DrainTimeout: -time.Second}},
		{"MaxPeers", grpcx.ServerOptions{MaxPeers: -1}},
	} {
		_, err := grpcx.NewServer(&tc.opts)
		want := "grpcx: ServerOptions." + tc.field + " is negative ("
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q…", tc.field, err, want)
		}
	}
	// Negative meanings: no server pings, no connection age limit.
	s, err := grpcx.NewServer(&grpcx.ServerOptions{KeepaliveTime: -1, MaxConnectionAge: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := grpcx.NewServer(&grpcx.ServerOptions{LatencyBuckets: []time.Duration{2, 1}}); err == nil {
		t.Error("descending LatencyBuckets accepted")
	}
}

func TestClientOptionsNegative(t *testing.T) {
	for _, tc := range []struct {
		field string
		opts  grpcx.ClientOptions
	}{
		{"KeepaliveTimeout", grpcx.ClientOptions{KeepaliveTimeout: -time.Second}},
		{"MaxRecvMsgSize", grpcx.ClientOptions{MaxRecvMsgSize: -1}},
		{"MaxSendMsgSize", grpcx.ClientOptions{MaxSendMsgSize: -1}},
		{"Conns", grpcx.ClientOptions{Conns: -1}},
		{"MaxConns", grpcx.ClientOptions{MaxConns: -1}},
		{"StreamLimit", grpcx.ClientOptions{StreamLimit: -1}},
	} {
		_, err := grpcx.NewClient("127.0.0.1:1", &tc.opts)
		want := "grpcx: ClientOptions." + tc.field + " is negative ("
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q…", tc.field, err, want)
		}
	}
	// Negative meanings: no pings (so no lint), no default deadline, no
	// retries, Close without waiting.
	c, err := grpcx.NewClient("127.0.0.1:1", &grpcx.ClientOptions{
		KeepaliveTime: -1, ServerPolicy: &grpcx.KeepalivePolicy{MinTime: time.Hour},
		Timeout: -1, RetryAttempts: -1, CloseTimeout: -1,
		IdempotentMethods: []string{"a.B"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, bad := range []grpcx.ClientOptions{
		{RetryAttempts: 6},
		{IdempotentMethods: []string{"/a.B/C/D"}},
		{LatencyBuckets: []time.Duration{0}},
	} {
		if _, err := grpcx.NewClient("127.0.0.1:1", &bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestKeepaliveLint(t *testing.T) {
	strict := &grpcx.KeepalivePolicy{MinTime: 5 * time.Minute}
	for _, tc := range []struct {
		name string
		opts grpcx.ClientOptions
		ok   bool
	}{
		{"defaults against a grpcx server", grpcx.ClientOptions{}, true},
		{"defaults against grpc-go's policy", grpcx.ClientOptions{ServerPolicy: &grpcx.GRPCGoDefaultPolicy}, false},
		{"slow enough for grpc-go's policy", grpcx.ClientOptions{ServerPolicy: strict, KeepaliveTime: 5 * time.Minute}, true},
		{"below MinTime", grpcx.ClientOptions{ServerPolicy: &grpcx.KeepalivePolicy{MinTime: 40 * time.Second, PermitWithoutStream: true}}, false},
		{"grpc-go's 10s floor counts", grpcx.ClientOptions{KeepaliveTime: time.Second}, true},
		{"no pings at all", grpcx.ClientOptions{ServerPolicy: strict, KeepaliveTime: -1}, true},
		{"without streams where forbidden", grpcx.ClientOptions{ServerPolicy: &grpcx.KeepalivePolicy{MinTime: time.Second}, KeepaliveWithoutStream: true}, false},
		{"without streams where allowed", grpcx.ClientOptions{KeepaliveWithoutStream: true}, true},
	} {
		c, err := grpcx.NewClient("127.0.0.1:1", &tc.opts)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, grpcx.ErrKeepalive) {
			t.Errorf("%s: %v is not ErrKeepalive", tc.name, err)
		}
		if c != nil {
			c.Close()
		}
	}
	// A server's declared policy is what its options give.
	p := (&grpcx.ServerOptions{KeepaliveMinTime: time.Minute, ForbidPingsWithoutStream: true}).Policy()
	if _, err := grpcx.NewClient("127.0.0.1:1", &grpcx.ClientOptions{ServerPolicy: &p}); !errors.Is(err, grpcx.ErrKeepalive) {
		t.Errorf("client default against a 1m MinTime: %v", err)
	}
}

func TestStaticTargetWithoutAddresses(t *testing.T) {
	c := newClient(t, "static:///", nil)
	err := c.Invoke(ctxT(t), "/wirespeed.catalog.v1.Catalog/Get", &catalogpb.GetRequest{}, &catalogpb.Item{})
	if err == nil || !strings.Contains(err.Error(), "lists no address") {
		t.Errorf("RPC on an empty static target: %v", err)
	}
}
