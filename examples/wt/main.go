// Command wt runs an echo server for wt sessions on a loopback port (HTTPS
// and the WebSocket fallback on TCP, WebTransport on UDP, one port
// number, a development certificate), talks to it with a Go client over
// each transport, then shuts the server down and exits:
//
//   - a bidirectional stream is echoed, and a datagram is echoed (sent
//     again until one comes back: on WebTransport datagrams may be lost);
//   - the second client forces the WebSocket fallback, which the server
//     counts in Stats.Fallbacks;
//   - Server.Shutdown closes the remaining session with code 1001 and a
//     reconnect hint.
//
// Run it with
//
//	go run ./examples/wt
//
// Browsers load the same sessions with the module the server serves at
// /wt.js (see the package doc of wt).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/wirespeed/wirespeed/internal/devcert"
	"github.com/wirespeed/wirespeed/wt"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.SetFlags(0)
		log.Fatalf("wt: %v", err)
	}
}

// echo answers streams and datagrams with what they carried. Its
// goroutines end with the session, and it waits for them.
func echo(ctx context.Context, s wt.Session) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			b, err := s.ReceiveDatagram(ctx)
			if err != nil {
				return
			}
			s.SendDatagram(b)
		}
	})
	for {
		st, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			io.Copy(st, st)
			st.Close()
		})
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cert, err := devcert.New()
	if err != nil {
		return err
	}
	srv, err := wt.NewServer(echo, nil)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/wt", srv)
	mux.Handle("GET /wt.js", wt.Script)
	l, pc, err := listen()
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, TLSConfig: cert.ServerTLS(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{}, 2)
	go func() { hs.ServeTLS(l, "", ""); served <- struct{}{} }()
	go func() { srv.ServeQUIC(pc, cert.ServerTLS(), mux); served <- struct{}{} }()
	url := "https://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/wt"

	var last wt.Session
	for _, tr := range []wt.Transport{0, wt.TransportWebSocket} {
		s, info, err := wt.Dial(ctx, url, &wt.DialOptions{TLSConfig: cert.ClientTLS(), Transport: tr})
		if err != nil {
			return err
		}
		how := "preferred"
		if info.FallbackReason != "" {
			how = "fallback " + info.FallbackReason
		}
		reply, err := exchange(ctx, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%v (%s): %s\n", s.Transport(), how, reply)
		if last != nil {
			last.Close(wt.CodeNormal, "")
		}
		last = s
	}
	st := srv.Stats()
	fmt.Fprintf(out, "server: %d sessions opened, %d forced fallback\n", st.SessionsTotal, st.Fallbacks.Forced)
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	<-last.Context().Done()
	var se *wt.SessionError
	if errors.As(context.Cause(last.Context()), &se) {
		fmt.Fprintf(out, "after shutdown: closed with %d %q\n", se.Code, se.Reason)
	}
	hs.Close()
	<-served
	<-served
	return nil
}

// exchange echoes one stream and one datagram.
func exchange(ctx context.Context, s wt.Session) (string, error) {
	st, err := s.OpenStream(ctx)
	if err != nil {
		return "", err
	}
	st.Write([]byte("hello"))
	st.Close()
	b, err := io.ReadAll(st)
	if err != nil {
		return "", err
	}
	got := make(chan []byte, 1)
	go func() {
		d, _ := s.ReceiveDatagram(ctx)
		got <- d
	}()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if err := s.SendDatagram([]byte("ping")); err != nil {
			return "", err
		}
		select {
		case d := <-got:
			return fmt.Sprintf("stream echo %q, datagram echo %q", b, d), nil
		case <-t.C:
		}
	}
}

// listen binds TCP and UDP on one free loopback port number.
func listen() (net.Listener, net.PacketConn, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err == nil {
			return l, pc, nil
		}
		l.Close()
	}
	return nil, nil, errors.New("no port free on both TCP and UDP")
}
