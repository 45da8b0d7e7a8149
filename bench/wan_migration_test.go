package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wirespeed/wirespeed/bench/wanem"
)

const migrationSize = 4 << 20

// bigHandler serves /big: migrationSize bytes.
var bigHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", fmt.Sprint(migrationSize))
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < migrationSize; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
})

// BenchmarkWanMigration downloads 4 MiB at RTT 50 ms and 20 Mbit/s from
// an httpx.Server and, after the first MiB, moves the client to a second
// address on its side and removes the first (a phone leaving Wi-Fi). Over
// HTTP/3 the client migrates its QUIC connection (quic-go's Conn.AddPath,
// Path.Probe, Path.Switch); over HTTP/2 the TCP connection has no way to
// move. "survived" is 1 when the download completed within 10 s of the
// move; "after-move-KiB" is what arrived after it.
func BenchmarkWanMigration(b *testing.B) {
	l := wanLink(b)
	wanShape(b, l, wanem.Shape{Delay: 25 * time.Millisecond, Rate: 20e6})
	url := wanServe(b, l, bigHandler, false)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/")
	for _, proto := range []string{"h3", "h2"} {
		b.Run("rtt=50ms/"+proto, func(b *testing.B) {
			var survived, after float64
			for b.Loop() {
				ok, n, err := migrate(l, proto, host, url+"big")
				if err != nil {
					b.Fatal(err)
				}
				if ok {
					survived++
				}
				after += float64(n) / 1024
			}
			b.ReportMetric(survived/float64(b.N), "survived")
			b.ReportMetric(after/float64(b.N), "after-move-KiB")
		})
	}
}

// migrate runs one download over proto from a fresh address of side A,
// moves to another address after 1 MiB, and reports whether the download
// completed and how many bytes arrived after the move.
func migrate(l *wanem.Link, proto, host, url string) (bool, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cleanup []func()
	defer func() {
		for _, f := range cleanup {
			f()
		}
	}()
	addr1, err := l.A.AddAddr()
	if err != nil {
		return false, 0, err
	}
	cleanup = append(cleanup, func() { l.A.RemoveAddr(addr1) })
	var (
		body io.ReadCloser
		move func() error
	)
	switch proto {
	case "h3":
		udp1, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr1, 0)))
		if err != nil {
			return false, 0, err
		}
		tr1 := &quic.Transport{Conn: udp1}
		defer tr1.Close()
		raddr, err := net.ResolveUDPAddr("udp6", host)
		if err != nil {
			return false, 0, err
		}
		conf := wanClientTLS()
		conf.NextProtos = []string{http3.NextProtoH3}
		conn, err := tr1.Dial(ctx, raddr, conf, &quic.Config{})
		if err != nil {
			return false, 0, err
		}
		defer conn.CloseWithError(0, "")
		cc := (&http3.Transport{}).NewClientConn(conn)
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			return false, 0, err
		}
		body = resp.Body
		move = func() error {
			addr2, err := l.A.AddAddr()
			if err != nil {
				return err
			}
			udp2, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr2, 0)))
			if err != nil {
				return err
			}
			tr2 := &quic.Transport{Conn: udp2}
			cleanup = append(cleanup, func() { tr2.Close(); l.A.RemoveAddr(addr2) })
			path, err := conn.AddPath(tr2)
			if err != nil {
				return fmt.Errorf("AddPath: %w", err)
			}
			if err := path.Probe(ctx); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			if err := path.Switch(); err != nil {
				return fmt.Errorf("switch: %w", err)
			}
			return l.A.RemoveAddr(addr1)
		}
	case "h2":
		d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr1, 0))}
		tr := &http.Transport{TLSClientConfig: wanClientTLS(), DialContext: d.DialContext, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return false, 0, err
		}
		if resp.ProtoMajor != 2 {
			return false, 0, fmt.Errorf("got %s, want HTTP/2", resp.Proto)
		}
		body = resp.Body
		move = func() error {
			// A TCP connection cannot change its address: the new one
			// is there, the old one is gone.
			addr2, err := l.A.AddAddr()
			if err != nil {
				return err
			}
			cleanup = append(cleanup, func() { l.A.RemoveAddr(addr2) })
			return l.A.RemoveAddr(addr1)
		}
	}
	defer body.Close()
	if _, err := io.CopyN(io.Discard, body, 1<<20); err != nil {
		return false, 0, err
	}
	if err := move(); err != nil {
		return false, 0, fmt.Errorf("%s: move: %w", proto, err)
	}
	moved := time.AfterFunc(10*time.Second, func() { body.Close() })
	defer moved.Stop()
	n, err := io.Copy(io.Discard, body)
	return err == nil && n == migrationSize-1<<20, n, nil
}
