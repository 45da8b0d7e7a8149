package pool_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

// The quick start of the package documentation: a pool of TCP connections,
// a lease per request, Discard for a connection in doubt.
func Example_quickStart() {
	// A loopback server that answers "ping" with "pong" stands in for
	// db.internal:5432.
	srv, err := startLineServer("127.0.0.1:0", nil)
	if err != nil {
		panic(err)
	}
	defer srv.stop()
	addr := srv.addr()
	var tlsConfig *tls.Config // nil: plain TCP here; set it to speak TLS
	talk := func(c net.Conn) error {
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		_, err := bufio.NewReaderSize(c, 16).ReadString('\n')
		return err
	}

	run := func(ctx context.Context) error {
		cfg := pool.TCP(addr, &pool.TCPOptions{TLS: tlsConfig}) // addr "db.internal:5432"
		cfg.MaxSize = 32
		cfg.AcquireTimeout = 50 * time.Millisecond
		p, err := pool.New(cfg)
		if err != nil {
			return err
		}
		defer p.Close()

		for range 3 {
			lease, err := p.Acquire(ctx)
			if err != nil {
				return err // *pool.ExhaustedError says by how much the pool is short
			}
			if err := talk(lease.Value()); err != nil {
				lease.Discard() // broken or in an unknown state: close, don't reuse
				return err
			}
			lease.Release()
		}
		fmt.Println("requests: 3, connections dialed:", p.Stats().DialCount)
		return nil
	}
	if err := run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output: requests: 3, connections dialed: 1
}
