package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// StartDrain begins draining without stopping anything: the readiness
// handler answers 503, the Draining channel closes and the OnDrain hooks
// run, each in its own goroutine. Requests are still served, so a load
// balancer has time to notice. Shutdown calls it; call it yourself to drain
// earlier (when a SIGTERM arrives, before other cleanup). It is idempotent.
func (s *Server) StartDrain() {
	s.drainOnce.Do(func() {
		s.mu.Lock()
		s.drainStart = time.Now()
		hooks := s.hooks
		s.hooks = nil
		close(s.draining)
		s.mu.Unlock()
		for _, f := range hooks {
			if f != nil {
				s.hooksWG.Go(f)
			}
		}
	})
}

// Draining returns a channel that is closed when draining starts. A
// long-lived handler (SSE, WebSocket, long poll), which http.Server's
// Shutdown neither tracks nor interrupts, selects on it to tell its client
// to reconnect (to another instance) and return.
func (s *Server) Draining() <-chan struct{} { return s.draining }

// OnDrain registers f to run, in its own goroutine, when draining starts;
// if it has started, f runs at once. Shutdown and Close wait for the hooks
// to return, so a hook should signal (close WebSocket hubs with 1001,
// end SSE streams) rather than wait for long.
func (s *Server) OnDrain(f func()) {
	s.mu.Lock()
	select {
	case <-s.draining:
		s.mu.Unlock()
		if f != nil {
			f() // draining already: run it now, on the caller's goroutine
		}
		return
	default:
	}
	s.hooks = append(s.hooks, f)
	s.mu.Unlock()
}

// RegisterOnShutdown is OnDrain under the name *http.Server uses, so a
// component that takes "anything with RegisterOnShutdown(func())" (the ws
// Hub's and the sse Server's RegisterOnShutdown) accepts a Server too and
// learns of the drain when it starts, not when the listeners close.
func (s *Server) RegisterOnShutdown(f func()) { s.OnDrain(f) }

// ReadyHandler returns a readiness endpoint for load balancers and
// orchestrators: 200 "ready" while the Server takes traffic, 503
// "draining" once draining has started. Mount it on the handler's mux
// (for example at /readyz).
func (s *Server) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		select {
		case <-s.draining:
			w.Header().Set("Connection", "close")
			http.Error(w, "draining", http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				w.Write([]byte("ready\n"))
			}
		}
	})
}

// Shutdown runs the deploy sequence:
//
//  1. StartDrain: readiness turns 503, hooks run, serving goes on;
//  2. wait until DrainDelay has passed since draining started, for the
//     load balancer to stop sending requests;
//  3. stop accepting: the listeners close, idle connections close, HTTP/2
//     and HTTP/3 connections get GOAWAY;
//  4. wait up to DrainTimeout for requests in flight to finish;
//  5. close what is left, and wait for Serve and the hooks to return.
//
// If ctx ends first (during the delay or the wait), Shutdown closes
// everything at once and returns ctx's error. If DrainTimeout cuts
// requests off, the error wraps context.DeadlineExceeded. Calling Shutdown
// again, or after Close, waits for the first call's work and returns nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.StartDrain()
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	wait := s.opts.DrainDelay - time.Since(s.drainStart)
	s.mu.Unlock()
	if !first {
		s.wait()
		return nil
	}

	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.closeCh:
			t.Stop()
			s.wait()
			return nil
		case <-ctx.Done():
			t.Stop()
			s.closeServers()
			s.wait()
			return fmt.Errorf("httpx: shutdown during the drain delay: %w", ctx.Err())
		}
	}

	dctx, cancel := context.WithTimeout(ctx, s.opts.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = s.h12.Shutdown(dctx) })
	if s.h3 != nil {
		wg.Go(func() {
			if s.qconns != nil {
				errs[1] = s.qconns.drain(dctx, &s.h3InFlight)
			} else {
				errs[1] = s.h3.Shutdown(dctx)
			}
			if errs[1] == nil {
				s.h3Done()
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		inFlight := s.inFlight.Load()
		s.closeServers()
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("httpx: shutdown: %d requests still in flight when the context ended; closed: %w", inFlight, ctx.Err())
		case errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("httpx: shutdown: %d requests still in flight after DrainTimeout %v; closed: %w", inFlight, s.opts.DrainTimeout, context.DeadlineExceeded)
		default:
			err = fmt.Errorf("httpx: shutdown: %w", err)
		}
	}
	s.wait()
	return err
}

// Close closes the listeners and every connection at once, without
// draining (the hooks still run). It waits for Serve and the hooks to
// return. It is idempotent and safe to call concurrently with Shutdown,
// which it cuts short.
func (s *Server) Close() error {
	s.StartDrain()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeOnce.Do(func() { close(s.closeCh) })
	s.closeServers()
	s.wait()
	return nil
}

func (s *Server) closeServers() {
	s.h12.Close()
	if s.h3 != nil {
		s.h3.Close()
	}
	if s.qconns != nil {
		s.qconns.close()
	}
	s.h3Done()
}

// h3Done lets Serve close the UDP socket: HTTP/3 serving has ended.
func (s *Server) h3Done() { s.h3Once.Do(func() { close(s.h3Stopped) }) }

// wait waits for Serve and the drain hooks to return.
func (s *Server) wait() {
	s.mu.Lock()
	done := s.serveDone
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.hooksWG.Wait()
}
