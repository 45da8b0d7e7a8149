// Command pool shows a pool of TCP connections in front of a backend: 200
// requests from 16 goroutines share at most 4 connections, and the pool's
// statistics say how often callers waited and how many dials were saved.
//
//	go run ./examples/pool
//
// The backend is a line-echo server started in the same process on a
// loopback port, so the program needs nothing else and exits when done.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

const (
	requests = 200
	workers  = 16
)

func run(ctx context.Context, out io.Writer) error {
	backend, err := startEcho()
	if err != nil {
		return err
	}
	defer backend.close()

	// pool.TCP gives Dial, Close and a liveness Check that needs no round
	// trip; the rest is sizing.
	cfg := pool.TCP(backend.addr(), nil)
	cfg.MaxSize = 4
	cfg.AcquireTimeout = 5 * time.Second
	p, err := pool.New(cfg)
	if err != nil {
		return err
	}
	defer p.Close()

	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < requests; i += workers {
				if err := request(ctx, p, fmt.Sprintf("request %d", i)); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}

	st := p.Stats()
	fmt.Fprintf(out, "requests: %d from %d goroutines\n", st.AcquireCount, workers)
	fmt.Fprintf(out, "connections dialed: %d (MaxSize %d); handshakes saved: %d\n",
		st.DialCount, st.MaxSize, st.AcquireCount-st.DialCount)
	fmt.Fprintf(out, "acquires that waited: %d, for %v in all\n", st.WaitCount, st.WaitDuration.Round(time.Millisecond))
	return p.Drain(ctx)
}

// request sends one line on a pooled connection and reads the echo. A
// connection that failed mid-request is discarded, not returned.
func request(ctx context.Context, p *pool.Pool[net.Conn], msg string) error {
	lease, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	c := lease.Value()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = fmt.Fprintln(c, msg)
	buf := make([]byte, len(msg)+1)
	if err == nil {
		_, err = io.ReadFull(c, buf)
	}
	if err == nil && string(buf[:len(msg)]) != msg {
		err = errors.New("echo mismatch")
	}
	if err != nil {
		lease.Discard()
		return err
	}
	c.SetDeadline(time.Time{})
	lease.Release()
	return nil
}

// echo is a line-echo server on a loopback port.
type echo struct {
	l  net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex // protects conns
	conns map[net.Conn]struct{}
}

func startEcho() (*echo, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &echo{l: l, conns: map[net.Conn]struct{}{}}
	e.wg.Go(e.serve)
	return e, nil
}

func (e *echo) addr() string { return e.l.Addr().String() }

func (e *echo) serve() {
	for {
		c, err := e.l.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		e.conns[c] = struct{}{}
		e.mu.Unlock()
		e.wg.Go(func() {
			defer func() {
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
				c.Close()
			}()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		})
	}
}

// close stops the listener, closes every connection and waits for the
// goroutines.
func (e *echo) close() {
	e.l.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}
