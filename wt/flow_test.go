package wt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/wt"
)

// TestStalledStream: the peer stops reading one stream; writes on it block
// (and time out at the deadline) while another stream carries data.
func TestStalledStream(t *testing.T) {
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		stalled, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		defer stalled.CancelRead(0) // never read before the end
		busy, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		io.Copy(io.Discard, busy)
		busy.Write([]byte("done"))
		busy.Close()
		<-ctx.Done()
	}, &wt.ServerOptions{Session: &wt.Options{StreamWindow: 64 << 10}})
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			stalled, err := s.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stalled.Write([]byte("x")) // makes the stream known to the peer
			// Fill the stalled stream until its writes block.
			stalled.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			chunk := make([]byte, 64<<10)
			var werr error
			for i := 0; i < 4096 && werr == nil; i++ {
				_, werr = stalled.Write(chunk)
			}
			if !errors.Is(werr, os.ErrDeadlineExceeded) {
				t.Fatalf("write on a stalled stream: %v, want a deadline error", werr)
			}
			busy, err := s.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			msg := bytes.Repeat([]byte("b"), 1<<20)
			if _, err := busy.Write(msg); err != nil {
				t.Fatal(err)
			}
			busy.Close()
			got, err := io.ReadAll(busy)
			if err != nil || string(got) != "done" {
				t.Fatalf("busy stream: %q, %v", got, err)
			}
		})
	}
}

// TestStreamLimit: OpenStream waits while the peer's limit is reached and
// goes on when a stream ends.
func TestStreamLimit(t *testing.T) {
	e := startEnv(t, echo, &wt.ServerOptions{Session: &wt.Options{MaxIncomingStreams: 2}})
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			var open []wt.Stream
			for range 2 {
				st, err := s.OpenStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				st.Write([]byte("a"))
				open = append(open, st)
			}
			if tr == wt.TransportWebTransport {
				// quic-go learns the limit from the peer's transport
				// parameters; the CONNECT stream counts as one.
				t.Log("WebTransport: QUIC limit includes the CONNECT stream")
			}
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := s.OpenStream(short)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("third stream: %v, want to wait", err)
			}
			open[0].Close()
			io.ReadAll(open[0])
			st, err := s.OpenStream(ctx)
			if err != nil {
				t.Fatalf("after one ended: %v", err)
			}
			st.Close()
			io.ReadAll(st)
		})
	}
}

func TestDatagramLimits(t *testing.T) {
	e := startEnv(t, echo, nil)
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			if max := s.Capabilities().MaxDatagramSize; max != 1100 {
				t.Fatalf("MaxDatagramSize %d", max)
			}
			if err := s.SendDatagram(make([]byte, 1101)); !errors.Is(err, wt.ErrDatagramTooLarge) {
				t.Fatalf("oversize datagram: %v", err)
			}
			// With OversizeStream the payload goes on a stream.
			s2 := e.dial(t, ctx, tr, &wt.Options{OversizeDatagrams: wt.OversizeStream})
			big := bytes.Repeat([]byte("z"), 5000)
			if err := s2.SendDatagram(big); err != nil {
				t.Fatal(err)
			}
			r, err := s2.AcceptUniStream(ctx) // echo answers a uni stream with one
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("oversize on a stream: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestDatagramMaxAge: datagrams that waited longer than the max age are
// dropped, not sent.
func TestDatagramMaxAge(t *testing.T) {
	srvSess := make(chan wt.Session, 1)
	e := startEnv(t, func(ctx context.Context, s wt.Session) {
		srvSess <- s
		<-ctx.Done()
	}, &wt.ServerOptions{Session: &wt.Options{DatagramMaxAge: time.Nanosecond}})
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			ss := <-srvSess
			before := e.srv.Stats().DatagramsDropped.Expired
			for range 10 {
				ss.SendDatagram([]byte("old"))
			}
			eventually(t, "ten datagrams expired", func() bool { return e.srv.Stats().DatagramsDropped.Expired == before+10 })
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if b, err := s.ReceiveDatagram(short); err == nil {
				t.Fatalf("an expired datagram arrived: %q", b)
			}
		})
	}
}

func TestHandlerPanics(t *testing.T) {
	e := startEnv(t, func(ctx context.Context, s wt.Session) { panic("boom") }, nil)
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := testCtx(t)
			s := e.dial(t, ctx, tr, nil)
			<-s.Context().Done()
			var se *wt.SessionError
			if err := context.Cause(s.Context()); !errors.As(err, &se) || se.Code != wt.CodeInternalError {
				t.Fatalf("client saw %v", err)
			}
		})
	}
	if n := e.srv.Stats().HandlerPanics; n != 2 {
		t.Fatalf("HandlerPanics %d", n)
	}
}

func TestOriginRefused(t *testing.T) {
	e := startEnv(t, echo, &wt.ServerOptions{OriginPatterns: []string{"*.example.com", "https://*.secure.test"}})
	ctx := testCtx(t)
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"https://evil.test", http.StatusForbidden},
		{"http://app.secure.test", http.StatusForbidden}, // a pattern with "://" matches the scheme too
		{"https://app.secure.test", http.StatusSwitchingProtocols},
		{"https://app.example.com", http.StatusSwitchingProtocols},
		{"https://127.0.0.1:" + itoa(e.port), http.StatusSwitchingProtocols},
	} {
		for _, tr := range transports {
			h := http.Header{"Origin": {tc.origin}}
			s, _, err := wt.Dial(ctx, e.url, &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: tr, Header: h})
			if tc.want == http.StatusForbidden {
				if err == nil || !strings.Contains(err.Error(), "403") {
					if s != nil {
						s.Close(0, "")
					}
					t.Fatalf("%v, origin %s: %v, want 403", tr, tc.origin, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%v, origin %s: %v", tr, tc.origin, err)
			}
			s.Close(0, "")
		}
	}
	if n := e.srv.Stats().RejectedOrigin; n != 4 {
		t.Errorf("RejectedOrigin %d, want 4", n)
	}
}

// TestFallbackReasons: a client whose WebTransport attempt fails (no
// QUIC on the port) falls back and says why; the server counts it.
func TestFallbackReasons(t *testing.T) {
	e := startEnv(t, echo, nil)
	ctx := testCtx(t)
	tcpOnly := httptest.NewUnstartedServer(e.mux)
	tcpOnly.TLS = e.cert.ServerTLS()
	tcpOnly.StartTLS()
	defer tcpOnly.Close()
	s, info, err := wt.Dial(ctx, tcpOnly.URL+"/wt", &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), WebTransportTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(0, "")
	if info.Transport != wt.TransportWebSocket || s.Transport() != wt.TransportWebSocket || info.WebTransportErr == nil ||
		(info.FallbackReason != "failed" && info.FallbackReason != "timeout") {
		t.Fatalf("info %+v", info)
	}
	e.dial(t, ctx, wt.TransportWebSocket, nil)
	eventually(t, "fallbacks counted", func() bool {
		f := e.srv.Stats().Fallbacks
		return f.Forced == 1 && f.Failed+f.Timeout == 1
	})
	if _, _, err := wt.Dial(ctx, tcpOnly.URL+"/wt", &wt.DialOptions{TLSConfig: e.cert.ClientTLS(), Transport: wt.TransportWebTransport, WebTransportTimeout: 500 * time.Millisecond}); !errors.Is(err, wt.ErrNoTransport) {
		t.Fatalf("forced WebTransport without QUIC: %v", err)
	}
}

// TestWindowGrowth: a stream the application keeps reading gets more
// credit than StreamWindow (so one stream is not held back by the
// credit's round trip), and what the peer may send unread on all streams
// together stays within StreamWindow per stream plus the session's growth
// budget of 3×StreamWindow.
func TestWindowGrowth(t *testing.T) {
	const window = 256 << 10 // the default StreamWindow
	sink := func(ctx context.Context, s wt.Session) {
		for {
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return
			}
			go io.Copy(io.Discard, st)
		}
	}
	e := startEnv(t, sink, nil)
	ctx := testCtx(t)
	c := rawDial(t, ctx, e)
	const streams = 3
	avail := map[uint32]int64{}
	for i := range uint32(streams) {
		id := i << 2 // client-initiated bidirectional
		if err := c.Write(ctx, websocket.MessageBinary, idFrame(0x01, id)); err != nil {
			t.Fatal(err)
		}
		avail[id] = window
	}
	payload := make([]byte, 16<<10)
	var sent, maxOne, maxAll int64
	for sent < 24<<20 {
		for id, n := range avail {
			for n > 0 {
				k := min(n, int64(len(payload)))
				if err := c.Write(ctx, websocket.MessageBinary, idFrame(0x02, id, payload[:k]...)); err != nil {
					t.Fatal(err)
				}
				n -= k
				sent += k
			}
			avail[id] = 0
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 9 || b[0] != 0x06 {
			continue // not a CREDIT frame
		}
		id := binary.BigEndian.Uint32(b[1:])
		avail[id] += int64(binary.BigEndian.Uint32(b[5:]))
		var all int64
		for _, n := range avail {
			all += n
		}
		maxOne, maxAll = max(maxOne, avail[id]), max(maxAll, all)
	}
	if maxOne <= window {
		t.Errorf("the most credit one stream had is %d bytes, want more than the StreamWindow %d", maxOne, window)
	}
	if limit := int64(streams+3) * window; maxAll > limit {
		t.Errorf("the peer had credit for %d bytes on %d streams, want at most %d", maxAll, streams, limit)
	}
}
