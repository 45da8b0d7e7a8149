package pool_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/pool"
)

// fakeConn is an in-process connection handed out by a fakeBackend.
type fakeConn struct {
	id     int
	bad    atomic.Bool  // Check fails when set
	closed atomic.Bool  // closed by the pool
	holder atomic.Int32 // 1 while a test goroutine holds it
}

// fakeBackend dials fakeConns and records what the pool does with them.
type fakeBackend struct {
	mu      sync.Mutex
	conns   []*fakeConn
	events  []string
	dialErr error
	gate    chan struct{} // when not nil, Dial waits for it to close

	open, maxOpen atomic.Int64
	dials, checks atomic.Int64

	trap atomic.Pointer[trap] // a callback set to misbehave once
}

// trap makes one call of a callback misbehave: panic or runtime.Goexit.
type trap struct {
	callback string // "Dial", "Check" or "Close"
	goexit   bool
}

// errCallbackBug is what a trapped callback panics with.
var errCallbackBug = errors.New("callback bug")

// setTrap arms a trap for the next call of callback.
func (b *fakeBackend) setTrap(callback string, goexit bool) {
	b.trap.Store(&trap{callback: callback, goexit: goexit})
}

// spring fires the armed trap if it is for callback, once.
func (b *fakeBackend) spring(callback string) {
	t := b.trap.Load()
	if t == nil || t.callback != callback || !b.trap.CompareAndSwap(t, nil) {
		return
	}
	misbehave(t.goexit)
}

// misbehave panics with errCallbackBug or calls runtime.Goexit.
func misbehave(goexit bool) {
	if goexit {
		runtime.Goexit()
	}
	panic(errCallbackBug)
}

// outcome is how a function run by isolated ended.
type outcome struct {
	returned bool
	goexit   bool
	panicked any
}

// isolated runs f on a goroutine of its own and reports how it ended: it
// returned, panicked (recovered here) or called runtime.Goexit.
func isolated(f func()) outcome {
	var o outcome
	done := make(chan struct{})
	go func() {
		defer close(done)
		panicking := true
		defer func() {
			if panicking {
				o.panicked = recover()
				o.goexit = o.panicked == nil
			}
		}()
		f()
		o.returned, panicking = true, false
	}()
	<-done
	return o
}

func (b *fakeBackend) dial(ctx context.Context) (*fakeConn, error) {
	b.dials.Add(1)
	b.spring("Dial")
	b.mu.Lock()
	gate, err := b.gate, b.dialErr
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &fakeConn{id: len(b.conns) + 1}
	b.conns = append(b.conns, c)
	b.events = append(b.events, fmt.Sprintf("dial %d", c.id))
	if n := b.open.Add(1); n > b.maxOpen.Load() {
		b.maxOpen.Store(n)
	}
	return c, nil
}

func (b *fakeBackend) close(c *fakeConn) error {
	b.spring("Close")
	if c.closed.Swap(true) {
		panic(fmt.Sprintf("fake conn %d closed twice", c.id))
	}
	b.open.Add(-1)
	b.mu.Lock()
	b.events = append(b.events, fmt.Sprintf("close %d", c.id))
	b.mu.Unlock()
	return nil
}

func (b *fakeBackend) check(_ context.Context, c *fakeConn) error {
	b.checks.Add(1)
	b.spring("Check")
	if c.bad.Load() {
		return errors.New("fake conn is broken")
	}
	return nil
}

func (b *fakeBackend) setGate(gate chan struct{}) {
	b.mu.Lock()
	b.gate = gate
	b.mu.Unlock()
}

func (b *fakeBackend) setDialErr(err error) {
	b.mu.Lock()
	b.dialErr = err
	b.mu.Unlock()
}

func (b *fakeBackend) conn(id int) *fakeConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[id-1]
}

func (b *fakeBackend) eventLog() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.events...)
}

// config returns a Config for b with the background loop off, so that tests
// decide when sweeps happen.
func (b *fakeBackend) config() pool.Config[*fakeConn] {
	return pool.Config[*fakeConn]{
		Dial:              b.dial,
		Close:             b.close,
		Check:             b.check,
		HealthCheckPeriod: -1,
	}
}

// fakeClock is a monotonic clock that moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newPool[T any](t testing.TB, cfg pool.Config[T]) *pool.Pool[T] {
	t.Helper()
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func newPoolWithClock[T any](t testing.TB, cfg pool.Config[T], clock *fakeClock) *pool.Pool[T] {
	t.Helper()
	p, err := pool.NewWithClock(cfg, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func mustAcquire[T any](t testing.TB, p *pool.Pool[T]) pool.Lease[T] {
	t.Helper()
	l, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitFor polls cond until it holds. The deadline is a safety net against
// a hung test, not a measurement.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// waitForWaiting waits until n callers wait in p.
func waitForWaiting[T any](t testing.TB, p *pool.Pool[T], n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d waiters", n), func() bool { return p.Stats().Waiting == n })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("%s did not panic", what)
		}
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, "pool: ") {
			t.Fatalf("%s panicked with %v, want a message starting with \"pool: \"", what, r)
		}
	}()
	f()
}

// lineServer is a loopback TCP (or TLS) server: it answers "ping\n" with
// "pong\n" and echoes every other line.
type lineServer struct {
	ln      net.Listener
	mu      sync.Mutex
	stopped bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// startLineServer listens on addr ("127.0.0.1:0" for any port).
func startLineServer(addr string, tlsConfig *tls.Config) (*lineServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	s := &lineServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func newLineServer(t testing.TB, tlsConfig *tls.Config) *lineServer {
	t.Helper()
	s, err := startLineServer("127.0.0.1:0", tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *lineServer) addr() string { return s.ln.Addr().String() }

func (s *lineServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *lineServer) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if line == "ping\n" {
			line = "pong\n"
		}
		if _, err := c.Write([]byte(line)); err != nil {
			return
		}
	}
}

// each calls f on every open server-side connection.
func (s *lineServer) each(f func(net.Conn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		f(c)
	}
}

// stop closes the listener and every connection, and waits for the
// server's goroutines. It is idempotent.
func (s *lineServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	s.stopped = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// roundTrip sends "ping" on c and expects "pong".
func roundTrip(c net.Conn) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	var buf [5]byte
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		return err
	}
	if string(buf[:]) != "pong\n" {
		return fmt.Errorf("got %q, want pong", buf[:])
	}
	return nil
}

// testTLS returns a server and a client TLS config for 127.0.0.1, with a
// self-signed ECDSA certificate made once per process.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	pair, err := tlsConfigs()
	if err != nil {
		t.Fatal(err)
	}
	return pair[0], pair[1]
}

var tlsConfigs = sync.OnceValues(func() ([2]*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return [2]*tls.Config{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wirespeed pool test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return [2]*tls.Config{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return [2]*tls.Config{}, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS13,
	}
	client := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	return [2]*tls.Config{server, client}, nil
})
