package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// HTTP3ConnServer takes over a Server's HTTP/3 connections (see
// ServerOptions.HTTP3Conns); wt.Server implements it to serve WebTransport
// on the same UDP port, TLS config and Alt-Svc as everything else.
//
// The connections it serves get no HTTP/3 GOAWAY (quic-go's raw server
// connection has none), so [Server.Shutdown] drains them its own way: it
// stops accepting, waits (up to DrainTimeout) until no HTTP/3 request is in
// flight, WebTransport sessions included, then closes each connection with
// H3_NO_ERROR. The drain hooks should end the long-lived requests (wt's
// RegisterOnShutdown does) for that wait to end early.
type HTTP3ConnServer interface {
	// ConfigureHTTP3 adjusts the http3.Server and the QUIC listener's
	// config; NewServer calls it once. The Server then restores what it
	// owns: h3.Handler (its wrapper of the handler), MaxIdleTimeout, and
	// Allow0RTT off.
	ConfigureHTTP3(h3 *http3.Server, qcfg *quic.Config)
	// ServeQUICConn serves one accepted QUIC connection, handing its
	// requests to h3's Handler, and returns when the connection ends.
	// The Server closes the connection after it returns.
	ServeQUICConn(conn *quic.Conn) error
}

// quicConns runs an HTTP3ConnServer: the accept loop and the set of
// connections handed to it, which Shutdown and Close end.
type quicConns struct {
	srv    HTTP3ConnServer
	logger *slog.Logger

	accept     context.Context
	stopAccept context.CancelFunc

	mu     sync.Mutex // protects conns and closed
	conns  map[*quic.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // one per ServeQUICConn
}

func newQUICConns(srv HTTP3ConnServer, logger *slog.Logger) *quicConns {
	q := &quicConns{srv: srv, logger: logger, conns: map[*quic.Conn]struct{}{}}
	q.accept, q.stopAccept = context.WithCancel(context.Background())
	return q
}

// serve accepts connections until stopAccept (or a listener failure) and
// hands each to ServeQUICConn on its own goroutine.
func (q *quicConns) serve(ln *quic.EarlyListener) error {
	for {
		conn, err := ln.Accept(q.accept)
		if err != nil {
			if q.accept.Err() != nil || errors.Is(err, quic.ErrServerClosed) {
				return http.ErrServerClosed
			}
			return err
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "server shutting down")
			continue
		}
		q.conns[conn] = struct{}{}
		q.wg.Add(1)
		q.mu.Unlock()
		go q.run(conn)
	}
}

func (q *quicConns) run(conn *quic.Conn) {
	defer q.wg.Done()
	err := q.srv.ServeQUICConn(conn)
	code := http3.ErrCodeNoError
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		code = http3.ErrCodeInternalError
		if q.logger != nil {
			q.logger.Warn("httpx: serving a QUIC connection failed", "remote", conn.RemoteAddr(), "error", err)
		}
	}
	conn.CloseWithError(quic.ApplicationErrorCode(code), "")
	q.mu.Lock()
	delete(q.conns, conn)
	q.mu.Unlock()
}

// drain stops accepting, waits until no HTTP/3 request is in flight,
// then closes the connections. If ctx ends first it returns its error and
// leaves the closing to close, after Shutdown has counted what was cut.
func (q *quicConns) drain(ctx context.Context, inFlight *atomic.Int64) error {
	q.stopAccept()
	// Polled, as http.Server.Shutdown polls its idle connections: a
	// counter decremented on every request's path should not signal.
	d := time.Millisecond
	for inFlight.Load() > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		d = min(2*d, 100*time.Millisecond)
	}
	// The last handlers have returned, but their responses may still sit
	// in the connections' send buffers, and closing a QUIC connection
	// discards what it has not sent. Give them a few round trips first.
	t := time.NewTimer(q.flushLinger())
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	q.close()
	return nil
}

// flushLinger is how long drain waits between the last request's end and
// closing the connections: four smoothed RTTs of the slowest connection,
// at least 100ms (a loaded host schedules the send loop late) and at most
// 2s.
func (q *quicConns) flushLinger() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rtt time.Duration
	for c := range q.conns {
		rtt = max(rtt, c.ConnectionStats().SmoothedRTT)
	}
	return min(max(4*rtt, 100*time.Millisecond), 2*time.Second)
}

// close stops accepting and closes every connection; their goroutines
// end once ServeQUICConn returns (see wait).
func (q *quicConns) close() {
	q.stopAccept()
	q.mu.Lock()
	q.closed = true
	conns := make([]*quic.Conn, 0, len(q.conns))
	for c := range q.conns {
		conns = append(conns, c)
	}
	q.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "server shutting down")
	}
}

// wait joins the ServeQUICConn goroutines.
func (q *quicConns) wait() { q.wg.Wait() }
