package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/wt"
)

// wanPositionInterval paces the updates: 2,500 in 2.5 s, a fast game or
// map client's rate.
const wanPositionInterval = time.Millisecond

// BenchmarkWanPositions is BenchmarkWTPositions across the emulated link
// (the Sh3b0 experiment): the server sends 2,500 position updates of 16
// bytes (a sequence number and the send time), one per millisecond, as
// WebTransport datagrams, on one WebTransport stream, and over wt's
// WebSocket fallback (one TCP connection) on a stream (reliable and
// ordered: what an application writing WebSocket messages gets) and as
// fallback datagrams (reliable once sent, but queued in a bounded queue
// where an update older than a second is dropped), at RTT 50 ms and
// 0 / 5 / 15% loss in each direction. The kernel's TCP here uses BBR,
// which does not read random loss as congestion, where quic-go runs
// CUBIC-like congestion control; the WebSocket stream also runs with
// the server's connection switched to CUBIC (most systems' default), the
// like-for-like comparison. The session opens on a clean
// link; the loss starts when the client asks for the updates (on a
// stream, so the request itself is not lost). It reports the updates
// delivered and the p50/p99 delivery time (send to receipt, one way: 25
// ms without loss); an update that never arrives has no delivery time;
// server-dropped counts updates the server's datagram queue dropped
// (expired or pushed out) before they reached the network.
func BenchmarkWanPositions(b *testing.B) {
	l := wanLink(b)
	const rtt = 50 * time.Millisecond
	var cc atomic.Pointer[string]
	url, srv := wanPositionsServe(b, l, &cc)
	for _, loss := range []float64{0, 0.05, 0.15} {
		for _, mode := range []struct {
			name   string
			tr     wt.Transport
			stream bool
			cc     string // the server's TCP congestion control; "" the system's
		}{
			{"webtransport-datagrams", wt.TransportWebTransport, false, ""},
			{"webtransport-stream", wt.TransportWebTransport, true, ""},
			{"websocket-stream", wt.TransportWebSocket, true, ""},
			{"websocket-stream-cubic", wt.TransportWebSocket, true, "cubic"},
			{"websocket-datagrams", wt.TransportWebSocket, false, ""},
		} {
			b.Run(fmt.Sprintf("rtt=50ms/%s/%s", lossName(loss), mode.name), func(b *testing.B) {
				cc.Store(&mode.cc)
				var delivered, p50, p99, last float64
				st0 := srv.Stats()
				for b.Loop() {
					wanShape(b, l, wanem.Symmetric(rtt, 0))
					s, _, err := wt.Dial(context.Background(), url, &wt.DialOptions{TLSConfig: wanClientTLS(), Transport: mode.tr})
					if err != nil {
						b.Fatal(err)
					}
					wanShape(b, l, wanem.Symmetric(rtt, loss))
					lat, end := wanReceivePositions(b, s, mode.stream, mode.tr == wt.TransportWebSocket)
					wanShape(b, l, wanem.Symmetric(rtt, 0)) // so that the close arrives
					s.Close(wt.CodeNormal, "")
					delivered += float64(len(lat))
					p50 += ms(pct(lat, 50))
					p99 += ms(pct(lat, 99))
					last += ms(end)
				}
				n := float64(b.N)
				st := srv.Stats()
				dropped := st.DatagramsDropped.Expired + st.DatagramsDropped.QueueFull - st0.DatagramsDropped.Expired - st0.DatagramsDropped.QueueFull
				b.ReportMetric(float64(dropped)/n, "server-dropped/op") // by the sender's queue, before the network
				b.ReportMetric(delivered/n, "delivered/op")
				b.ReportMetric(delivered/n/positionUpdates, "delivered-frac")
				b.ReportMetric(p50/n, "p50-ms")
				b.ReportMetric(p99/n, "p99-ms")
				b.ReportMetric(last/n, "last-ms")
			})
		}
	}
}

// wanPositionsServe serves sessions on side B that wait for the client to
// open a stream and write one byte (1: send on this stream, 0: send
// datagrams), then send the updates, and returns the URL. Accepted TCP
// connections get the congestion control *cc names, if any.
func wanPositionsServe(b *testing.B, l *wanem.Link, cc *atomic.Pointer[string]) (string, *wt.Server) {
	b.Helper()
	srv, err := wt.NewServer(func(ctx context.Context, s wt.Session) {
		st, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		defer st.Close()
		var req [1]byte
		if _, err := io.ReadFull(st, req[:]); err != nil {
			return
		}
		var buf [16]byte
		tick := time.NewTicker(wanPositionInterval)
		defer tick.Stop()
		for i := range positionUpdates {
			<-tick.C
			binary.BigEndian.PutUint64(buf[:], uint64(i))
			binary.BigEndian.PutUint64(buf[8:], uint64(time.Now().UnixNano()))
			if req[0] == 1 {
				if _, err := st.Write(buf[:]); err != nil {
					return
				}
			} else if err := s.SendDatagram(buf[:]); err != nil {
				return
			}
		}
		<-ctx.Done()
	}, &wt.ServerOptions{Session: &wt.Options{DatagramQueue: 256}})
	if err != nil {
		b.Fatal(err)
	}
	cert := httpxCert()
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	ln, err := l.B.Listen("tcp", wanAddr(l))
	if err != nil {
		b.Fatal(err)
	}
	pc, err := l.B.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: mux, TLSConfig: cert.ServerTLS()}
	var wg sync.WaitGroup
	wg.Go(func() { hs.ServeTLS(ccListener{ln, cc}, "", "") })
	wg.Go(func() { srv.ServeQUIC(pc, cert.ServerTLS(), mux) })
	b.Cleanup(func() {
		srv.Close()
		hs.Close()
		pc.Close()
		wg.Wait()
	})
	return "https://" + ln.Addr().String() + "/wt", srv
}

// wanReceivePositions asks for the updates and returns the delivery time
// of each one that arrived and when the last arrived (from the request).
// It stops at the last update or after a gap without one: a second on
// WebTransport, where a datagram lost stays lost, ten on the fallback,
// where TCP retransmits with backoff.
func wanReceivePositions(b *testing.B, s wt.Session, stream, fallback bool) ([]time.Duration, time.Duration) {
	ctx := context.Background()
	lat := make([]time.Duration, 0, positionUpdates)
	st, err := s.OpenStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	req := []byte{0}
	if stream {
		req[0] = 1
	}
	t0 := time.Now()
	if _, err := st.Write(req); err != nil {
		b.Fatal(err)
	}
	var lastAt time.Time
	got := func(p []byte) {
		lastAt = time.Now()
		lat = append(lat, lastAt.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(p[8:])))))
	}
	if stream {
		var buf [16]byte
		for range positionUpdates {
			st.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(st, buf[:]); err != nil {
				b.Fatalf("stream: %d updates, then %v", len(lat), err)
			}
			got(buf[:])
		}
		return lat, lastAt.Sub(t0)
	}
	gap := time.Second
	if fallback {
		gap = 10 * time.Second
	}
	for len(lat) < positionUpdates {
		rctx, cancel := context.WithTimeout(ctx, gap)
		d, err := s.ReceiveDatagram(rctx)
		cancel()
		if err != nil {
			break
		}
		if len(d) == 16 {
			got(d)
		}
	}
	return lat, lastAt.Sub(t0)
}

// BenchmarkWanWTSetup opens a wt session at RTT 50 ms from a new client
// (no TLS session to resume): over WebTransport (QUIC handshake, then the
// extended CONNECT), over the WebSocket fallback (TCP, TLS 1.3, the
// upgrade, then both HELLOs), and with Dial's default (WebTransport
// first) on a path that drops UDP, where the fallback starts after
// DialOptions.WebTransportTimeout (3s). It reports the time to an open
// session in ms and RTTs.
func BenchmarkWanWTSetup(b *testing.B) {
	l := wanLink(b)
	const rtt = 50 * time.Millisecond
	var cc atomic.Pointer[string]
	url, _ := wanPositionsServe(b, l, &cc)
	for _, tc := range []struct {
		name     string
		tr       wt.Transport
		blockUDP bool
	}{
		{"webtransport", wt.TransportWebTransport, false},
		{"websocket", wt.TransportWebSocket, false},
		{"auto-udp-blocked", 0, true},
	} {
		b.Run("rtt=50ms/"+tc.name, func(b *testing.B) {
			s := wanem.Symmetric(rtt, 0)
			s.BlockUDP = tc.blockUDP
			wanShape(b, l, s)
			var total time.Duration
			for b.Loop() {
				t0 := time.Now()
				sess, info, err := wt.Dial(context.Background(), url, &wt.DialOptions{TLSConfig: wanClientTLS(), Transport: tc.tr})
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				if tc.blockUDP && info.Transport != wt.TransportWebSocket {
					b.Fatalf("transport %v with UDP blocked", info.Transport)
				}
				b.StopTimer()
				sess.Close(wt.CodeNormal, "")
				b.StartTimer()
			}
			per := total / time.Duration(b.N)
			b.ReportMetric(ms(per), "setup-ms")
			b.ReportMetric(rtts(per, rtt), "RTTs")
		})
	}
}
