package ws_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wirespeed/wirespeed/ws"
)

// TestCorkInlineWritesKeepFramesWhole writes data frames the way the
// fan-out does (inline, queued when the socket is full) while another
// goroutine writes pings and then a close frame, to a client that reads
// slowly enough for the socket to fill: every frame arrives whole and in
// order, the pings between frames, and nothing after the close frame.
func TestCorkInlineWritesKeepFramesWhole(t *testing.T) {
	for try := range 20 {
		srv, cli := tcpPair(t)
		cc := ws.NewCorkConn(srv, true)
		read := make(chan error, 1)
		var frames int
		go func() { read <- checkStream(cli, &frames) }()
		closeAt := 50 + try*37
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() { // pings, then the close frame
			for i := 0; ; i++ {
				select {
				case <-stop:
					if _, err := cc.Write(closeFrame); err != nil {
						t.Errorf("close frame: %v", err)
					}
					return
				default:
				}
				if _, err := cc.Write(pingFrame); err != nil {
					t.Errorf("ping: %v", err)
					return
				}
			}
		})
		inline := 0
		for i := 0; ; i++ {
			if i == closeAt {
				close(stop)
			}
			p := make([]byte, 4+(i*997)%(20<<10)) // sizes across all three length forms
			binary.BigEndian.PutUint32(p, uint32(i))
			sent, err := cc.WriteInline(2, p)
			if err != nil {
				t.Fatal(err)
			}
			if sent {
				inline++
				continue
			}
			cc.Cork() // the writer's path
			err = cc.AppendFrame(2, p)
			if uerr := cc.Uncork(); uerr != nil {
				t.Fatal(uerr)
			}
			if err != nil { // the close frame went out: no data after it
				break
			}
		}
		wg.Wait()
		cc.Close()
		if err := <-read; err != nil {
			t.Fatalf("try %d: %v", try, err)
		}
		if inline == 0 || frames < closeAt {
			t.Fatalf("try %d: %d inline writes, %d frames", try, inline, frames)
		}
	}
}

// checkStream reads a server's frames from r: binary frames numbered from
// 0 in order, pings, then a close frame and the end of the stream.
func checkStream(r io.Reader, frames *int) error {
	br := bufio.NewReaderSize(r, 512) // small reads: the writer meets a full socket
	closed := false
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if err == io.EOF && closed {
				return nil
			}
			return fmt.Errorf("after %d frames: %v", *frames, err)
		}
		if closed {
			return fmt.Errorf("a frame (% x) after the close frame", h)
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 1<<20 {
			return fmt.Errorf("frame % x of %d bytes: not a frame boundary", h, n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return err
		}
		switch h[0] {
		case 0x82:
			if want := 4 + (*frames*997)%(20<<10); len(p) != want || binary.BigEndian.Uint32(p) != uint32(*frames) {
				return fmt.Errorf("data frame %d: %d bytes, number %d", *frames, len(p), binary.BigEndian.Uint32(p))
			}
			*frames++
		case pingFrame[0]:
			if string(p) != "p" {
				return fmt.Errorf("ping payload %q", p)
			}
		case closeFrame[0]:
			closed = true
		default:
			return fmt.Errorf("frame % x: not a frame boundary", h)
		}
	}
}

// TestFanOutWritesInlineWhenKeepingUp: a fan-out that keeps up writes
// each message straight to the socket, so a paced feed starts no writer
// goroutine.
func TestFanOutWritesInlineWhenKeepingUp(t *testing.T) {
	for _, sep := range []string{"", "\n"} {
		t.Run(fmt.Sprintf("sep=%q", sep), func(t *testing.T) {
			ctx := testCtx(t)
			opt := &ws.HubOptions{}
			if sep != "" {
				opt.JoinSeparator = []byte(sep)
			}
			s := newServer(t, opt)
			c := dial(t, ctx, s.url, nil)
			s.waitJoined(t, ctx)
			for i := range 20 {
				if _, err := s.hub.Publish(ctx, "news", []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
				if got := read(t, ctx, c); got != strconv.Itoa(i) {
					t.Fatalf("got %q, want %d", got, i)
				}
			}
			if n := ws.WriterStarts(s.hub); n != 0 {
				t.Fatalf("%d writer goroutines started for a paced feed, want 0", n)
			}
			for s.hub.Stats().MessagesOut != 20 { // counted after the write the client read
				select {
				case <-ctx.Done():
					t.Fatalf("MessagesOut %d, want 20", s.hub.Stats().MessagesOut)
				case <-time.After(time.Millisecond):
				}
			}
		})
	}
}

// TestFanOutInlineRacesCloseAndPings publishes, paced and unpaced, while
// the hub pings the client and closes the connection: the client gets
// every message published before the close in order, whole frames, the
// close frame, and nothing after it.
func TestFanOutInlineRacesCloseAndPings(t *testing.T) {
	total := 0
	for try := range 16 {
		paced := try%2 == 0
		ctx := testCtx(t)
		s := newServer(t, &ws.HubOptions{QueueMessages: 1 << 14, PingInterval: time.Millisecond})
		c := rawUpgrade(t, s.url)
		sc := s.waitJoined(t, ctx)
		got := make(chan int, 1<<14)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(got)
			for {
				f, err := c.next()
				if err != nil {
					t.Errorf("try %d: read: %v", try, err)
					return
				}
				switch f.op {
				case 0x1:
					n, err := strconv.Atoi(string(f.payload))
					if err != nil {
						t.Errorf("try %d: message %q", try, f.payload)
						return
					}
					got <- n
				case 0x9: // answer, masked with a zero key
					c.Write(append([]byte{0x8a, 0x80 | byte(len(f.payload)), 0, 0, 0, 0}, f.payload...))
				case 0x8:
					if code := closeCode(f); code != int(websocket.StatusGoingAway) {
						t.Errorf("try %d: close code %d", try, code)
					}
					c.Write([]byte{0x88, 0x80, 0, 0, 0, 0})
					if rest := c.readAll(t); len(rest) != 0 {
						t.Errorf("try %d: %d frames after the close frame, first %d %q", try, len(rest), rest[0].op, rest[0].payload)
					}
					return
				default:
					t.Errorf("try %d: frame with opcode %d", try, f.op)
					return
				}
			}
		})
		wg.Go(func() {
			closeAt := 20 + try*13
			for i := 0; ; i++ {
				if i == closeAt {
					go sc.Close(websocket.StatusGoingAway, "bye")
				}
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.hub.Publish(ctx, "news", []byte(strconv.Itoa(i))); err != nil {
					t.Error(err)
					return
				}
				if paced {
					time.Sleep(50 * time.Microsecond)
				}
			}
		})
		var seq []int
		for n := range got {
			seq = append(seq, n)
		}
		close(stop)
		wg.Wait()
		// An unpaced publisher can outrun the broker, which then skips
		// messages: they are counted, and the rest stay in order.
		st := s.hub.Stats()
		for i, n := range seq {
			if i > 0 && n <= seq[i-1] || st.BrokerSkipped+st.DroppedOldest == 0 && n != i {
				t.Fatalf("try %d: message %d is %d (%d skipped by the broker)", try, i, n, st.BrokerSkipped)
			}
		}
		total += len(seq) // messages still in the fan-out may follow the close
		s.waitClosed(t, ctx)
	}
	if total == 0 {
		t.Fatal("no message arrived before a close")
	}
}
