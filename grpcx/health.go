package grpcx

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// drainingHealth is grpc-go's health service with one change: a Watch
// stream ends once it has told its client NOT_SERVING during a drain.
// Otherwise every watcher (load balancers, grpcx clients) would hold
// GracefulStop up until DrainTimeout.
type drainingHealth struct {
	*health.Server
	drain context.Context // cancelled when the drain starts
}

func (h *drainingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w := &watchStream{Health_WatchServer: stream, ctx: ctx, cancel: cancel, drain: h.drain}
	w.last.Store(int32(healthpb.HealthCheckResponse_SERVING))
	stop := context.AfterFunc(h.drain, func() {
		// Nothing more will be sent if the client already saw the service
		// as anything but SERVING: end now. Otherwise Send ends it after
		// NOT_SERVING.
		if w.last.Load() != int32(healthpb.HealthCheckResponse_SERVING) {
			cancel()
		}
	})
	defer stop()
	return h.Server.Watch(req, w)
}

type watchStream struct {
	healthpb.Health_WatchServer
	ctx    context.Context
	cancel context.CancelFunc
	drain  context.Context
	last   atomic.Int32
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(r *healthpb.HealthCheckResponse) error {
	w.last.Store(int32(r.GetStatus()))
	err := w.Health_WatchServer.Send(r)
	if r.GetStatus() != healthpb.HealthCheckResponse_SERVING && w.drain.Err() != nil {
		w.cancel()
	}
	return err
}
