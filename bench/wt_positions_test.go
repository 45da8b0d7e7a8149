package bench

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/wt"
)

// positionUpdates is the Sh3b0 experiment's count: small position
// updates sent at a steady pace.
const positionUpdates = 2500

// BenchmarkWTPositions sends 2,500 position updates (16 bytes: a sequence
// number and the send time) from the server to a client, as WebTransport
// datagrams, on one WebTransport stream, and as fallback datagrams (over
// the WebSocket), and reports how many arrived and the p50/p99 delivery
// time. On loopback nothing is lost; the rows with loss come with the WAN
// emulator.
func BenchmarkWTPositions(b *testing.B) {
	for _, mode := range []struct {
		name   string
		tr     wt.Transport
		stream bool
	}{
		{"webtransport-datagrams", wt.TransportWebTransport, false},
		{"webtransport-stream", wt.TransportWebTransport, true},
		{"websocket-datagrams", wt.TransportWebSocket, false},
	} {
		b.Run(mode.name, func(b *testing.B) {
			e := startPositions(b, mode.stream)
			b.ReportAllocs()
			var delivered, p50, p99 float64
			for b.Loop() {
				s := e.dial(b, mode.tr)
				lat := receivePositions(b, s, mode.stream)
				s.Close(wt.CodeNormal, "")
				slices.Sort(lat)
				delivered += float64(len(lat))
				if len(lat) > 0 {
					p50 += float64(lat[len(lat)/2].Microseconds())
					p99 += float64(lat[len(lat)*99/100].Microseconds())
				}
			}
			n := float64(b.N)
			b.ReportMetric(delivered/n, "delivered/op")
			b.ReportMetric(p50/n, "p50-µs")
			b.ReportMetric(p99/n, "p99-µs")
		})
	}
}

// startPositions serves sessions that send the updates, one every 100µs.
func startPositions(b *testing.B, stream bool) *wtEnv {
	// The client asks for the updates by opening a stream (stream mode) or
	// sending a datagram (datagram mode).
	srv, err := wt.NewServer(func(ctx context.Context, s wt.Session) {
		var w io.Writer
		if stream {
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return
			}
			defer st.Close()
			w = st
		} else if _, err := s.ReceiveDatagram(ctx); err != nil {
			return
		}
		var buf [16]byte
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for i := range positionUpdates {
			<-tick.C
			binary.BigEndian.PutUint64(buf[:], uint64(i))
			binary.BigEndian.PutUint64(buf[8:], uint64(time.Now().UnixNano()))
			if w != nil {
				if _, err := w.Write(buf[:]); err != nil {
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
	return startWTServer(b, srv)
}

func receivePositions(b *testing.B, s wt.Session, stream bool) []time.Duration {
	ctx := context.Background()
	lat := make([]time.Duration, 0, positionUpdates)
	if stream {
		st, err := s.OpenStream(ctx)
		if err != nil {
			b.Fatal(err)
		}
		st.Write([]byte{0})
		var buf [16]byte
		for range positionUpdates {
			if _, err := io.ReadFull(st, buf[:]); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(buf[8:])))))
		}
		return lat
	}
	s.SendDatagram([]byte{0})
	for len(lat) < positionUpdates {
		// A gap of a second means the rest was lost.
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		d, err := s.ReceiveDatagram(rctx)
		cancel()
		if err != nil {
			break
		}
		if len(d) == 16 {
			lat = append(lat, time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(d[8:])))))
		}
	}
	return lat
}
