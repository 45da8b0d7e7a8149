package grpcx

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/resolver"
)

// staticBuilder resolves "static:///host1:port,host2:port" to a fixed list
// of addresses. It is registered per Client (grpc.WithResolvers), not
// globally.
type staticBuilder struct{}

func (staticBuilder) Scheme() string { return "static" }

func (staticBuilder) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	var st resolver.State
	for a := range strings.SplitSeq(t.Endpoint(), ",") {
		if a = strings.TrimSpace(a); a != "" {
			st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
		}
	}
	if len(st.Endpoints) == 0 {
		return nil, fmt.Errorf("grpcx: target %q lists no address; write static:///host1:port,host2:port", t.URL.String())
	}
	if err := cc.UpdateState(st); err != nil {
		return nil, err
	}
	return nopResolver{}, nil
}

type nopResolver struct{}

func (nopResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (nopResolver) Close()                                {}
