package connserver

import (
	"context"
	"math/rand/v2"
	"time"
)

// Shutdown stops accepting connections and closes the open ones
// gracefully (Hooks.GoAway), Config.ShutdownBatch at a time with a random
// pause of up to Config.ShutdownJitter between batches, so clients do not
// reconnect in one storm. It waits for them to end, then runs Close. If
// ctx ends first, the connections not yet told are not, Close drops what
// is left, and Shutdown returns ctx.Err() after joining everything.
func (s *Server[C, M]) Shutdown(ctx context.Context) error {
	conns := s.beginClose()
	batch := s.cfg.ShutdownBatch
	if batch <= 0 {
		batch = max(len(conns), 1)
	}
	var err error
	for i := 0; i < len(conns); i += batch {
		if i > 0 && s.cfg.ShutdownJitter > 0 {
			t := time.NewTimer(rand.N(s.cfg.ShutdownJitter))
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		for _, c := range conns[i:min(i+batch, len(conns))] {
			s.hooks.GoAway(c)
		}
	}
	waited := make(chan struct{})
	go func() {
		for _, c := range conns {
			<-s.hooks.Ended(c)
		}
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	s.Close()
	<-waited
	return err
}

// DefaultShutdownTimeout bounds RegisterOnShutdown's Shutdown when the
// caller gives no timeout.
const DefaultShutdownTimeout = 10 * time.Second

// Registrar is a server that runs hooks when it starts shutting down:
// *http.Server runs them in Shutdown, httpx.Server when draining starts.
type Registrar interface{ RegisterOnShutdown(func()) }

// RegisterOnShutdown makes srv call shutdown, bounded by timeout (zero or
// negative: DefaultShutdownTimeout), when it starts shutting down.
func RegisterOnShutdown(srv Registrar, timeout time.Duration, shutdown func(context.Context) error) {
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		shutdown(ctx)
	})
}
