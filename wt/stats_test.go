package wt_test

import (
	"context"
	"io"
	"testing"

	"github.com/wirespeed/wirespeed/wt"
)

// TestStats: sessions by transport, streams and datagrams are counted,
// and the open counts return to zero when the sessions end.
func TestStats(t *testing.T) {
	e := startEnv(t, echo, nil)
	ctx := testCtx(t)
	var sess []wt.Session
	for _, tr := range transports {
		s := e.dial(t, ctx, tr, nil)
		sess = append(sess, s)
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte("x"))
		st.Close()
		io.ReadAll(st)
		for {
			s.SendDatagram([]byte("d"))
			short, cancel := context.WithTimeout(ctx, 50e6)
			_, err := s.ReceiveDatagram(short)
			cancel()
			if err == nil {
				break
			}
		}
	}
	// A datagram is counted as sent after the write returns, which may be
	// after the echo arrived.
	eventually(t, "datagrams counted", func() bool {
		st := e.srv.Stats()
		return st.DatagramsSent >= 2 && st.DatagramsReceived >= 2
	})
	st := e.srv.Stats()
	if st.WebTransport != 1 || st.WebSocket != 1 || st.SessionsTotal != 2 || st.StreamsOpened != 2 {
		t.Fatalf("stats %+v", st)
	}
	for _, s := range sess {
		s.Close(0, "")
	}
	eventually(t, "nothing open", func() bool {
		st := e.srv.Stats()
		return st.WebTransport == 0 && st.WebSocket == 0 && st.StreamsOpen == 0
	})
}
