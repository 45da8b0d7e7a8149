package pool_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

// session stands for any connection-like resource: a client of a database,
// a cache, a message broker.
type session struct{ id int64 }

func ExampleNew() {
	var dials atomic.Int64
	p, err := pool.New(pool.Config[*session]{
		Dial: func(ctx context.Context) (*session, error) {
			return &session{id: dials.Add(1)}, nil
		},
		Close: func(s *session) error {
			fmt.Println("closing session", s.id)
			return nil
		},
		MaxSize: 4,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	for range 3 {
		lease, err := p.Acquire(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("using session", lease.Value().id)
		lease.Release()
	}
	s := p.Stats()
	fmt.Printf("%d dial, %d acquires\n", s.DialCount, s.AcquireCount)
	p.Close()
	// Output:
	// using session 1
	// using session 1
	// using session 1
	// 1 dial, 3 acquires
	// closing session 1
}

func ExampleTCP() {
	// A loopback server that answers "ping" with "pong".
	srv, err := startLineServer("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.stop()

	cfg := pool.TCP(srv.addr(), nil) // &pool.TCPOptions{TLS: tlsConfig} for TLS
	cfg.MaxSize = 8
	cfg.AcquireTimeout = time.Second
	p, err := pool.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	for range 2 {
		lease, err := p.Acquire(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		conn := lease.Value()
		if _, err := conn.Write([]byte("ping\n")); err != nil {
			lease.Discard() // a broken connection is closed, not reused
			log.Fatal(err)
		}
		// A real client keeps its bufio.Reader with the connection.
		reply, err := bufio.NewReaderSize(conn, 16).ReadString('\n')
		if err != nil {
			lease.Discard()
			log.Fatal(err)
		}
		fmt.Print(reply)
		lease.Release()
	}
	fmt.Println("dials:", p.Stats().DialCount)
	// Output:
	// pong
	// pong
	// dials: 1
}

func ExampleExhaustedError() {
	p, err := pool.New(pool.Config[*session]{
		Dial:           func(context.Context) (*session, error) { return &session{}, nil },
		MaxSize:        1,
		AcquireTimeout: 10 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	held, err := p.Acquire(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer held.Release()

	_, err = p.Acquire(context.Background())
	var ee *pool.ExhaustedError
	if errors.As(err, &ee) {
		fmt.Printf("%d/%d in use, %d others waiting\n", ee.InUse, ee.Max, ee.Waiting)
	}
	fmt.Println(errors.Is(err, pool.ErrExhausted), errors.Is(err, context.DeadlineExceeded))
	fmt.Println("utilization:", p.Stats().Utilization())
	// Output:
	// 1/1 in use, 0 others waiting
	// true true
	// utilization: 1
}
