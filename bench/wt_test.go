package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/devcert"
	"github.com/wirespeed/wirespeed/ws"
	"github.com/wirespeed/wirespeed/wt"
)

// wtEnv serves a wt.Server on one loopback port number (TCP for the
// fallback, UDP for WebTransport).
type wtEnv struct {
	url  string
	cert *devcert.Cert
}

// sink reads every stream to its end and answers with one byte.
func sink(ctx context.Context, s wt.Session) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			io.Copy(io.Discard, st)
			st.Write([]byte{1})
			st.Close()
		})
	}
}

func startWT(b *testing.B) *wtEnv {
	srv, err := wt.NewServer(sink, &wt.ServerOptions{MaxSessionsPerIP: -1}) // every client is 127.0.0.1, and setup outruns release
	if err != nil {
		b.Fatal(err)
	}
	return startWTServer(b, srv)
}

// startWTServer serves srv at /wt.
func startWTServer(b *testing.B, srv *wt.Server) *wtEnv {
	cert := httpxCert()
	var err error
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	var (
		l  net.Listener
		pc net.PacketConn
	)
	for range 20 {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		pc, err = net.ListenPacket("udp", l.Addr().String())
		if err == nil {
			break
		}
		l.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: mux, TLSConfig: cert.ServerTLS()}
	var wg sync.WaitGroup
	wg.Go(func() { hs.ServeTLS(l, "", "") })
	wg.Go(func() { srv.ServeQUIC(pc, cert.ServerTLS(), mux) })
	b.Cleanup(func() {
		srv.Close()
		hs.Close()
		wg.Wait()
	})
	return &wtEnv{url: "https://" + l.Addr().String() + "/wt", cert: cert}
}

func (e *wtEnv) dial(b *testing.B, tr wt.Transport) wt.Session {
	s, _, err := wt.Dial(context.Background(), e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkWTSessionSetup: one session opened (handshake, upgrade, the
// fallback's HELLO) and closed per op, on loopback.
func BenchmarkWTSessionSetup(b *testing.B) {
	e := startWT(b)
	for _, tr := range []wt.Transport{wt.TransportWebTransport, wt.TransportWebSocket} {
		b.Run(tr.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := e.dial(b, tr)
				s.Close(wt.CodeNormal, "")
			}
		})
	}
}

const wtChunk = 32 << 10

// BenchmarkWTThroughput: 32 KiB per op written over one or eight
// parallel streams of one session: wt over WebTransport and over the
// WebSocket fallback, raw webtransport-go, and a plain ws.Hub connection
// over TLS (eight writers share it).
func BenchmarkWTThroughput(b *testing.B) {
	e := startWT(b)
	raw := startRawWT(b, rawSink(b))
	hub := startHubSink(b)
	for _, streams := range []int{1, 8} {
		for _, impl := range []struct {
			name string
			open func(b *testing.B) (write func(i int, p []byte) error, finish func(), closeFn func())
		}{
			{"wt-webtransport", func(b *testing.B) (func(int, []byte) error, func(), func()) {
				return wtWriters(b, e.dial(b, wt.TransportWebTransport), streams)
			}},
			{"wt-fallback", func(b *testing.B) (func(int, []byte) error, func(), func()) {
				return wtWriters(b, e.dial(b, wt.TransportWebSocket), streams)
			}},
			{"webtransport-go", func(b *testing.B) (func(int, []byte) error, func(), func()) { return raw.writers(b, streams) }},
			{"ws-hub", func(b *testing.B) (func(int, []byte) error, func(), func()) { return hub.writers(b) }},
		} {
			b.Run("streams="+strconv.Itoa(streams)+"/"+impl.name, func(b *testing.B) {
				write, finish, closeFn := impl.open(b)
				defer closeFn()
				chunk := make([]byte, wtChunk)
				b.SetBytes(wtChunk)
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				errc := make(chan error, streams)
				for i := range streams {
					n := b.N / streams
					if i < b.N%streams {
						n++
					}
					wg.Go(func() {
						for range n {
							if err := write(i, chunk); err != nil {
								errc <- err
								return
							}
						}
					})
				}
				wg.Wait()
				finish()
				b.StopTimer()
				select {
				case err := <-errc:
					b.Fatal(err)
				default:
				}
			})
		}
	}
}

// wtWriters opens n streams; finish closes them and waits for the
// sink's acknowledgement, so the time counts delivery.
func wtWriters(b *testing.B, s wt.Session, n int) (func(int, []byte) error, func(), func()) {
	var sts []wt.Stream
	for range n {
		st, err := s.OpenStream(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		sts = append(sts, st)
	}
	write := func(i int, p []byte) error { _, err := sts[i].Write(p); return err }
	finish := func() {
		for _, st := range sts {
			st.Close()
			if _, err := io.ReadAll(st); err != nil {
				b.Fatal(err)
			}
		}
	}
	return write, finish, func() { s.Close(wt.CodeNormal, "") }
}

// rawWT is webtransport-go without this package: the same sink.
type rawWT struct {
	url  string
	cert *devcert.Cert
}

// startRawWT serves webtransport-go at /raw; session runs for each
// session on the CONNECT request's goroutine.
func startRawWT(b *testing.B, session func(*webtransport.Session)) *rawWT {
	cert := httpxCert()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	h3 := &http3.Server{Handler: mux, TLSConfig: http3.ConfigureTLSConfig(cert.ServerTLS())}
	webtransport.ConfigureHTTP3Server(h3)
	srv := &webtransport.Server{H3: h3}
	mux.HandleFunc("/raw", func(w http.ResponseWriter, r *http.Request) {
		s, err := srv.Upgrade(w, r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		session(s)
	})
	done := make(chan struct{})
	go func() { srv.Serve(pc); close(done) }()
	b.Cleanup(func() {
		srv.Close()
		<-done
		pc.Close() // webtransport-go leaves the socket, and its reader, to us
	})
	return &rawWT{url: "https://" + pc.LocalAddr().String() + "/raw", cert: cert}
}

// rawSink is sink for webtransport-go: every stream read to its end and
// answered with one byte, on goroutines the benchmark's cleanup joins.
func rawSink(b *testing.B) func(*webtransport.Session) {
	var wg sync.WaitGroup
	b.Cleanup(wg.Wait) // after startRawWT's cleanup closed the server
	return func(s *webtransport.Session) {
		wg.Go(func() {
			for {
				st, err := s.AcceptStream(context.Background())
				if err != nil {
					return
				}
				wg.Go(func() {
					io.Copy(io.Discard, st)
					st.Write([]byte{1})
					st.Close()
				})
			}
		})
	}
}

func (r *rawWT) writers(b *testing.B, n int) (func(int, []byte) error, func(), func()) {
	d := &webtransport.Transport{TLSClientConfig: r.cert.ClientTLS(), QUICConfig: &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true}}
	_, s, err := d.Dial(context.Background(), r.url, nil)
	if err != nil {
		b.Fatal(err)
	}
	var sts []*webtransport.Stream
	for range n {
		st, err := s.OpenStreamSync(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		sts = append(sts, st)
	}
	write := func(i int, p []byte) error { _, err := sts[i].Write(p); return err }
	finish := func() {
		for _, st := range sts {
			st.Close()
			if _, err := io.ReadAll(st); err != nil {
				b.Fatal(err)
			}
		}
	}
	return write, finish, func() {
		s.CloseWithError(0, "")
		d.Close()
	}
}

// hubSink is a plain ws.Hub that counts what it reads and answers "done".
type hubSink struct {
	srv *httptest.Server
}

func startHubSink(b *testing.B) *hubSink {
	hub, err := ws.NewHub(&ws.HubOptions{
		MaxConns: -1, MaxConnsPerIP: -1, ReadLimit: 1 << 20,
		OnMessage: func(ctx context.Context, c *ws.Conn, typ websocket.MessageType, p []byte) {
			if typ == websocket.MessageText && string(p) == "done" {
				c.Send(ctx, websocket.MessageText, []byte("done"))
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	// TLS like the others: the fallback runs over wss.
	srv := httptest.NewUnstartedServer(hub)
	srv.TLS = httpxCert().ServerTLS()
	srv.StartTLS()
	b.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &hubSink{srv: srv}
}

func (h *hubSink) writers(b *testing.B) (func(int, []byte) error, func(), func()) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: httpxCert().ClientTLS()}}
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(h.srv.URL, "http"), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	write := func(_ int, p []byte) error { return c.Write(ctx, websocket.MessageBinary, p) }
	finish := func() {
		if err := c.Write(ctx, websocket.MessageText, []byte("done")); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return write, finish, func() {
		c.Close(websocket.StatusNormalClosure, "")
		hc.CloseIdleConnections()
	}
}

// BenchmarkWTIdleMemory opens idle sessions on each transport to a
// wt.Server behind an httpx.Server (the deployment the package documents)
// and reports the server's memory per session: heap in use plus goroutine
// stacks after a GC, minus the same before. The clients run in a child
// process (this test binary, re-executed), so their memory is not
// counted. Run once:
//
//	go test -run '^$' -bench WTIdleMemory -benchtime 1x .
func BenchmarkWTIdleMemory(b *testing.B) {
	raiseNoFile(b)
	const sessions = 10000
	for _, tr := range []wt.Transport{wt.TransportWebTransport, wt.TransportWebSocket} {
		b.Run(fmt.Sprintf("sessions=%d/transport=%v/impl=wt", sessions, tr), func(b *testing.B) {
			url, open, stop := startIdleWT(b, tr)
			defer stop()
			wtIdleMemory(b, url, tr, sessions, open)
		})
	}
	b.Run(fmt.Sprintf("sessions=%d/transport=webtransport/impl=webtransport-go", sessions), func(b *testing.B) {
		var open atomic.Int64
		raw := startRawWT(b, func(s *webtransport.Session) { // waits in AcceptStream, as sink does
			open.Add(1)
			for {
				if _, err := s.AcceptStream(context.Background()); err != nil {
					return
				}
			}
		})
		wtIdleMemory(b, raw.url, wt.TransportWebTransport, sessions, open.Load)
	})
}

// startIdleWT serves a wt.Server through an httpx.Server; open counts
// its sessions on tr.
func startIdleWT(b *testing.B, tr wt.Transport) (url string, open func() int64, stop func()) {
	srv, err := wt.NewServer(sink, &wt.ServerOptions{MaxSessions: -1, MaxSessionsPerIP: -1})
	if err != nil {
		b.Fatal(err)
	}
	cert := httpxCert()
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	hs, err := httpx.NewServer(mux, &httpx.ServerOptions{TLSConfig: cert.ServerTLS(), HTTP3Conns: srv, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv.RegisterOnShutdown(hs, 0)
	l, pc, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l, pc) }()
	open = func() int64 {
		st := srv.Stats()
		if tr == wt.TransportWebTransport {
			return st.WebTransport
		}
		return st.WebSocket
	}
	return "https://" + l.Addr().String() + "/wt", open, func() {
		hs.Close()
		<-served
		srv.Close()
	}
}

// wtIdleMemory opens n idle sessions on tr to url from a child process and
// reports the server's memory per session.
func wtIdleMemory(b *testing.B, url string, tr wt.Transport, n int, open func() int64) {
	b.ReportAllocs()
	before := serverMemory()
	goroutines := runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWTIdleClients$")
	cmd.Env = append(os.Environ(), "WT_IDLE_URL="+url, "WT_IDLE_N="+strconv.Itoa(n), "WT_IDLE_TRANSPORT="+tr.String())
	stdin, _ := cmd.StdinPipe()
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { <-exited }()
	defer stdin.Close()
	deadline := time.Now().Add(5 * time.Minute)
	for open() < int64(n) {
		select {
		case err := <-exited:
			exited <- err
			b.Fatalf("the client process ended (%v) with %d of %d sessions open", err, open(), n)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d sessions opened", open(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // let the handshakes' garbage and goroutines settle
	after := serverMemory()
	if dir := os.Getenv("WT_IDLE_PROFILE_DIR"); dir != "" {
		// A heap profile of the idle sessions (run with
		// -memprofilerate=512 for small objects to show).
		f, err := os.Create(filepath.Join(dir, "wt-idle-"+strings.ReplaceAll(b.Name(), "/", "_")+".heap"))
		if err != nil {
			b.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/float64(n), "goroutines/session")
	b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(n), "B/session")
	b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/session")
	b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/session")
	b.ReportMetric(0, "ns/op")
}

// TestWTIdleClients is the client side of BenchmarkWTIdleMemory, run in a
// child process; it does nothing in a normal test run.
func TestWTIdleClients(t *testing.T) {
	url := os.Getenv("WT_IDLE_URL")
	if url == "" {
		t.Skip("client process of BenchmarkWTIdleMemory")
	}
	raiseNoFile(t)
	n, _ := strconv.Atoi(os.Getenv("WT_IDLE_N"))
	tr := wt.TransportWebSocket
	if os.Getenv("WT_IDLE_TRANSPORT") == wt.TransportWebTransport.String() {
		tr = wt.TransportWebTransport
	}
	// The parent's development certificate is not this process's: a
	// load generator on loopback skips verification.
	tlsConf := &tls.Config{InsecureSkipVerify: true}
	sessions := make([]wt.Session, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 { // concurrent dials
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				s, _, err := wt.Dial(context.Background(), url, &wt.DialOptions{TLSConfig: tlsConf, Transport: tr, WebTransportTimeout: time.Minute})
				if err != nil {
					fmt.Fprintf(os.Stderr, "session %d: %v\n", i, err)
					os.Exit(1)
				}
				sessions[i] = s
			}
		})
	}
	wg.Wait()
	io.Copy(io.Discard, os.Stdin) // until the benchmark is done
	// A load generator: exit without closing 10,000 sessions one by one
	// (the server closes them) and without the leak check, which is
	// about the code under test, not this process.
	os.Exit(0)
}
