package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/httpx"
)

// BenchmarkWanHandshake measures what a new connection costs in round
// trips, at RTT 20, 80 and 200 ms: the median time from dialing to the
// first byte of an echoed 1-byte request, divided by the RTT ("RTTs"); the
// handshake is that less the request's own round trip ("handshake-RTTs").
// The raw cases use echo servers on side B (TCP, TLS 1.2, TLS 1.3, quic-go
// QUIC with 1-RTT and with 0-RTT resumption, which needs a server that
// allows 0-RTT). The httpx cases send a GET on a new connection through
// httpx's client to an httpx.Server: over HTTP/2 (TCP+TLS 1.3) and over
// HTTP/3 (a client that has learnt Alt-Svc, after CloseIdleConnections).
func BenchmarkWanHandshake(b *testing.B) {
	l := wanLink(b)
	srv := startEchoServers(b, l)
	url := wanServe(b, l, okHandler, false)
	var untimed time.Time
	for _, rtt := range []time.Duration{20 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond} {
		wanShape(b, l, wanem.Symmetric(rtt, 0))
		for _, tc := range []struct {
			name string
			dial func(b *testing.B) func() error
		}{
			{"tcp", func(*testing.B) func() error {
				return func() error {
					c, err := net.Dial("tcp", srv.tcp)
					if err != nil {
						return err
					}
					defer c.Close()
					return echoByte(c)
				}
			}},
			{"tls12", func(*testing.B) func() error { return tlsEcho(srv.tls, tls.VersionTLS12, nil) }},
			{"tls13", func(*testing.B) func() error { return tlsEcho(srv.tls, tls.VersionTLS13, nil) }},
			{"tls13-resumed", func(b *testing.B) func() error {
				op := tlsEcho(srv.tls, tls.VersionTLS13, tls.NewLRUClientSessionCache(8))
				if err := op(); err != nil { // fetches a session ticket
					b.Fatal(err)
				}
				return op
			}},
			{"quic", func(*testing.B) func() error { return quicEcho(srv.quic, nil, &untimed) }},
			{"quic-0rtt", func(b *testing.B) func() error {
				cache := tls.NewLRUClientSessionCache(8)
				op := quicEcho(srv.quic, cache, &untimed)
				if err := op(); err != nil { // fetches a session ticket
					b.Fatal(err)
				}
				return op
			}},
			{"httpx-h2", func(b *testing.B) func() error {
				return func() error {
					c, err := httpx.NewClient(&httpx.Options{TLSConfig: wanClientTLS()})
					if err != nil {
						return err
					}
					defer c.Close()
					return wanGet(c.Client, url)
				}
			}},
			{"httpx-h3", func(b *testing.B) func() error {
				c := wanHTTPX(b, &httpx.HTTP3Options{})
				if err := wanGet(c.Client, url); err != nil { // learns Alt-Svc
					b.Fatal(err)
				}
				return func() error {
					c.CloseIdleConnections()
					return wanGet(c.Client, url)
				}
			}},
		} {
			b.Run(fmt.Sprintf("rtt=%dms/%s", rtt.Milliseconds(), tc.name), func(b *testing.B) {
				op := tc.dial(b)
				var samples []time.Duration
				for b.Loop() {
					untimed = time.Time{}
					start := time.Now()
					if err := op(); err != nil {
						b.Fatal(err)
					}
					end := time.Now()
					if !untimed.IsZero() {
						end = untimed
					}
					samples = append(samples, end.Sub(start))
				}
				r := rtts(pct(samples, 50), rtt)
				b.ReportMetric(r, "RTTs")
				b.ReportMetric(r-1, "handshake-RTTs")
			})
		}
	}
}

type echoServers struct{ tcp, tls, quic string }

// startEchoServers starts TCP, TLS and QUIC (0-RTT allowed) servers on
// side B that answer each connection's first byte with one byte.
func startEchoServers(tb testing.TB, l *wanem.Link) echoServers {
	tb.Helper()
	var (
		tcpLn, tlsLn net.Listener
		pc           net.PacketConn
	)
	if err := l.B.Do(func() (err error) {
		if tcpLn, err = net.Listen("tcp", wanAddr(l)); err != nil {
			return err
		}
		if tlsLn, err = net.Listen("tcp", wanAddr(l)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", wanAddr(l))
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	serverTLS := httpxCert().ServerTLS()
	serverTLS.NextProtos = []string{"echo"}
	tlsLn = tls.NewListener(tlsLn, serverTLS)
	qtr := &quic.Transport{Conn: pc}
	qln, err := qtr.ListenEarly(serverTLS, &quic.Config{Allow0RTT: true})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{}, 3)
	for _, ln := range []net.Listener{tcpLn, tlsLn} {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					echoServe(c)
				}()
			}
		}()
	}
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			c, err := qln.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				s, err := c.AcceptStream(context.Background())
				if err != nil {
					return
				}
				echoServe(s)
				s.Close()
				<-c.Context().Done() // the client closes
			}()
		}
	}()
	tb.Cleanup(func() {
		tcpLn.Close()
		tlsLn.Close()
		qln.Close()
		qtr.Close()
		pc.Close()
		for range 3 {
			<-done
		}
	})
	return echoServers{tcp: tcpLn.Addr().String(), tls: tlsLn.Addr().String(), quic: pc.LocalAddr().String()}
}

func echoServe(rw io.ReadWriter) {
	var b [1]byte
	if _, err := io.ReadFull(rw, b[:]); err == nil {
		rw.Write(b[:])
	}
}

func echoByte(rw io.ReadWriter) error {
	if _, err := rw.Write([]byte{1}); err != nil {
		return err
	}
	var b [1]byte
	_, err := io.ReadFull(rw, b[:])
	return err
}

func tlsEcho(addr string, version uint16, cache tls.ClientSessionCache) func() error {
	conf := wanClientTLS()
	conf.MinVersion, conf.MaxVersion = version, version
	conf.NextProtos = []string{"echo"}
	conf.ClientSessionCache = cache
	return func() error {
		c, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			return err
		}
		defer c.Close()
		return echoByte(c)
	}
}

// quicEcho dials with DialAddrEarly, so a session in cache sends the
// request as 0-RTT data.
// untimed, when set by an operation, is when its timed part ended.
func quicEcho(addr string, cache tls.ClientSessionCache, untimed *time.Time) func() error {
	conf := wanClientTLS()
	conf.NextProtos = []string{"echo"}
	conf.ClientSessionCache = cache
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := quic.DialAddrEarly(ctx, addr, conf, nil)
		if err != nil {
			return err
		}
		defer c.CloseWithError(0, "")
		s, err := c.OpenStream()
		if err != nil {
			return err
		}
		if err := echoByte(s); err != nil {
			return err
		}
		if cache != nil {
			// Wait for the server's session ticket, so the next dial
			// resumes; not timed.
			*untimed = time.Now()
			<-c.HandshakeComplete()
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}
}

// wanGet sends a GET and reads the whole response.
func wanGet(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
