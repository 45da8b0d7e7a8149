package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"

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
	srv, err := wt.NewServer(sink, nil)
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
	raw := startRawWT(b)
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

func startRawWT(b *testing.B) *rawWT {
	cert := httpxCert()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	h3 := &http3.Server{Handler: mux, TLSConfig: http3.ConfigureTLSConfig(cert.ServerTLS())}
	webtransport.ConfigureHTTP3Server(h3)
	srv := &webtransport.Server{H3: h3}
	var wg sync.WaitGroup
	mux.HandleFunc("/raw", func(w http.ResponseWriter, r *http.Request) {
		s, err := srv.Upgrade(w, r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
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
	})
	done := make(chan struct{})
	go func() { srv.Serve(pc); close(done) }()
	b.Cleanup(func() {
		srv.Close()
		<-done
		wg.Wait()
	})
	return &rawWT{url: "https://" + pc.LocalAddr().String() + "/raw", cert: cert}
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
