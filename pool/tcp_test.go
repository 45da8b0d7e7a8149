package pool_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("ConnAlive probes sockets on Linux only")
	}
}

// recordDials wraps cfg.Dial to keep every connection it makes.
func recordDials(cfg *pool.Config[net.Conn]) func() []net.Conn {
	var mu sync.Mutex
	var conns []net.Conn
	dial := cfg.Dial
	cfg.Dial = func(ctx context.Context) (net.Conn, error) {
		c, err := dial(ctx)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	return func() []net.Conn {
		mu.Lock()
		defer mu.Unlock()
		return append([]net.Conn(nil), conns...)
	}
}

func TestTCPReplacesConnectionsTheServerDropped(t *testing.T) {
	skipUnlessLinux(t)
	serverTLS, clientTLS := testTLS(t)
	tests := []struct {
		name string
		tls  bool
		// drop makes the server-side connection unusable for the client.
		drop func(net.Conn)
	}{
		{"tcp close", false, func(c net.Conn) { c.Close() }},
		{"tcp reset", false, func(c net.Conn) {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}},
		{"tcp unsolicited data", false, func(c net.Conn) { c.Write([]byte("bye\n")) }},
		{"tls close_notify", true, func(c net.Conn) { c.Close() }},
		{"tls unsolicited data", true, func(c net.Conn) { c.Write([]byte("bye\n")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *lineServer
			var opts *pool.TCPOptions
			if tt.tls {
				srv = newLineServer(t, serverTLS)
				opts = &pool.TCPOptions{TLS: clientTLS}
			} else {
				srv = newLineServer(t, nil)
			}
			cfg := pool.TCP(srv.addr(), opts)
			cfg.CheckAfterIdle = 1 // every Acquire of an idle connection checks it
			cfg.HealthCheckPeriod = -1
			conns := recordDials(&cfg)
			p := newPool(t, cfg)

			l := mustAcquire(t, p)
			if err := roundTrip(l.Value()); err != nil {
				t.Fatal(err)
			}
			l.Release()
			// Still fine: the check passes and the connection is reused.
			l = mustAcquire(t, p)
			if err := roundTrip(l.Value()); err != nil {
				t.Fatal(err)
			}
			l.Release()

			srv.each(tt.drop)
			waitFor(t, "the client to see the server's move", func() bool {
				// Peek, not ConnAlive: on TLS, ConnAlive reads what is pending.
				pending, err := pool.Peek(conns()[0])
				return pending || err != nil
			})

			l = mustAcquire(t, p)
			if err := roundTrip(l.Value()); err != nil {
				t.Fatalf("the connection after the drop: %v", err)
			}
			l.Release()
			if s := p.Stats(); s.ClosedHealth != 1 || s.DialCount != 2 || s.AcquireCount != 3 {
				t.Fatalf("stats %+v, want the dropped connection replaced once", s)
			}
		})
	}
}

func TestConnAliveKeepsFreshTLSConnections(t *testing.T) {
	skipUnlessLinux(t)
	serverTLS, clientTLS := testTLS(t)
	srv := newLineServer(t, serverTLS)
	cfg := pool.TCP(srv.addr(), &pool.TCPOptions{TLS: clientTLS})
	c, err := cfg.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*tls.Conn); !ok {
		t.Fatalf("dialed a %T, want *tls.Conn", c)
	}
	// The server's session tickets may be pending: they are not data.
	for range 3 {
		if err := pool.ConnAlive(c); err != nil {
			t.Fatalf("fresh TLS connection reported dead: %v", err)
		}
	}
	if err := roundTrip(c); err != nil {
		t.Fatalf("connection unusable after ConnAlive: %v", err)
	}
	if err := pool.ConnAlive(c); err != nil {
		t.Fatalf("used TLS connection reported dead: %v", err)
	}
}

func TestConnAliveOnClosedConnection(t *testing.T) {
	skipUnlessLinux(t)
	srv := newLineServer(t, nil)
	c, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.ConnAlive(c); err != nil {
		t.Fatalf("live connection: %v", err)
	}
	c.Close()
	if err := pool.ConnAlive(c); err == nil {
		t.Fatal("ConnAlive of a closed connection returned nil")
	}
}

func TestConnAliveWithoutSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := pool.ConnAlive(a); err != nil {
		t.Fatalf("a connection without a socket cannot be probed and counts as alive: %v", err)
	}
}

// TestTCPServerRestartRespectsMaxConcurrentDials restarts the server on the
// same port under load: every pooled connection is dead at once, and the
// pool must redial no more than MaxConcurrentDials at a time.
func TestTCPServerRestartRespectsMaxConcurrentDials(t *testing.T) {
	skipUnlessLinux(t)
	const size, maxDials = 8, 2
	srv := newLineServer(t, nil)
	addr := srv.addr()

	cfg := pool.TCP(addr, nil)
	cfg.MaxSize = size
	cfg.MaxConcurrentDials = maxDials
	cfg.CheckAfterIdle = 1
	cfg.HealthCheckPeriod = -1
	conns := recordDials(&cfg)
	var (
		mu                sync.Mutex
		inFlight, maxSeen int
		gate              chan struct{}
	)
	dial := cfg.Dial
	cfg.Dial = func(ctx context.Context) (net.Conn, error) {
		mu.Lock()
		inFlight++
		maxSeen = max(maxSeen, inFlight)
		g := gate
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		if g != nil {
			select {
			case <-g:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return dial(ctx)
	}
	p := newPool(t, cfg)

	var held []pool.Lease[net.Conn]
	for range size {
		held = append(held, mustAcquire(t, p))
	}
	for _, l := range held {
		l.Release()
	}

	srv.stop()
	waitFor(t, "every client connection to see the restart", func() bool {
		for _, c := range conns() {
			if pool.ConnAlive(c) == nil {
				return false
			}
		}
		return true
	})
	srv2, err := startLineServer(addr, nil)
	if err != nil {
		t.Fatalf("restarting on %s: %v", addr, err)
	}
	t.Cleanup(srv2.stop)

	open := make(chan struct{})
	mu.Lock()
	gate, maxSeen = open, 0
	mu.Unlock()

	errc := make(chan error, size)
	release := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release)
	for range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := p.Acquire(context.Background())
			if err != nil {
				errc <- err
				return
			}
			err = roundTrip(l.Value())
			errc <- err
			<-release
			l.Release()
		}()
	}
	waitFor(t, "every caller waiting on capped dials", func() bool {
		s := p.Stats()
		return s.Waiting == size && s.Dialing == maxDials
	})
	close(open)
	for range size {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if maxSeen != maxDials {
		t.Fatalf("%d dials in flight at once, want MaxConcurrentDials = %d", maxSeen, maxDials)
	}
	if s := p.Stats(); s.ClosedHealth != size || s.DialCount != 2*size {
		t.Fatalf("stats %+v, want every connection replaced once", s)
	}
}

// TestConnAliveWithOpenSSLServer checks ConnAlive against a TLS stack that
// sends its TLS 1.3 session tickets after the handshake, as OpenSSL does
// (Go's server sends them with its Finished message), so that they are
// waiting on the socket of an idle connection.
func TestConnAliveWithOpenSSLServer(t *testing.T) {
	skipUnlessLinux(t)
	opensslPath, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("WIRESPEED_INTEGRATION") == "require" {
			t.Fatal("openssl is not installed")
		}
		t.Skip("openssl is not installed")
	}
	serverTLS, clientTLS := testTLS(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := serverTLS.Certificates[0]
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	// -rev answers each line reversed.
	cmd := exec.Command(opensslPath, "s_server", "-rev", "-tls1_3", "-accept", addr, "-cert", certFile, "-key", keyFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	waitFor(t, "openssl s_server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	c, err := pool.TCP(addr, &pool.TCPOptions{TLS: clientTLS}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "session tickets on the socket", func() bool {
		pending, err := pool.Peek(c)
		return pending || err != nil
	})
	// The tickets may come in more than one segment: each probe consumes
	// what has arrived.
	waitFor(t, "ConnAlive to consume the session tickets", func() bool {
		if err := pool.ConnAlive(c); err != nil {
			t.Fatalf("live connection with session tickets pending: %v", err)
		}
		pending, err := pool.Peek(c)
		return !pending && err == nil
	})
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 5)
	if _, err := io.ReadFull(c, reply); err != nil || string(reply) != "gnip\n" {
		t.Fatalf("reply %q, %v; want \"gnip\\n\"", reply, err)
	}
	c.SetDeadline(time.Time{})

	cmd.Process.Kill()
	waitFor(t, "the client to see the server go", func() bool {
		pending, err := pool.Peek(c)
		return pending || err != nil
	})
	if err := pool.ConnAlive(c); err == nil {
		t.Fatal("ConnAlive = nil after the server died")
	}
}
