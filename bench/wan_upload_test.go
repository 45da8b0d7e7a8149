package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/bench/wanem"
	"github.com/wirespeed/wirespeed/upload"
)

// wanUploadSize is the file the WAN upload benchmark sends: 64 MiB, 5.4 s
// at 100 Mbit/s.
const wanUploadSize = 64 << 20

// BenchmarkWanUpload uploads 64 MiB through upload.Client to an
// upload.Handler on the disk store (served by httpx.Server on side B) at
// RTT 50 ms with a 100 Mbit/s cap each way (its queue holds 100 ms), with
// no loss and with 0.1% loss each way: in 5 MiB and 50 MiB chunks on one
// stream, and in 4 parallel parts of 5 MiB chunks (concatenated at the
// end), over HTTP/1.1 (a TCP connection per part in flight) and over the
// httpx client's HTTP/2 (every part on one connection). This host's TCP
// runs BBR, which does not slow down for random loss; with loss the
// HTTP/1.1 client also runs with CUBIC (most systems' default), where one
// flow's rate falls with loss and parallel connections add up. A small upload
// opens the connection before the clock starts; it reports goodput in
// Mbit/s and the time per upload.
func BenchmarkWanUpload(b *testing.B) {
	l := wanLink(b)
	const rtt = 50 * time.Millisecond
	dir := b.TempDir()
	url := wanServe(b, l, wirespeedUploadHandler(b, dir), false) + "files/"
	for _, loss := range []float64{0, 0.001} {
		protos := []string{"h1", "h2"}
		if loss > 0 {
			protos = []string{"h1", "h1-cubic", "h2"}
		}
		for _, proto := range protos {
			for _, tc := range []struct {
				chunk int64
				parts int
			}{{5 << 20, 1}, {50 << 20, 1}, {5 << 20, 4}} {
				name := fmt.Sprintf("rtt=50ms/100Mbit/%s/%s/chunk=%dMiB/parts=%d", lossName(loss), proto, tc.chunk>>20, tc.parts)
				b.Run(name, func(b *testing.B) {
					s := wanem.Symmetric(rtt, loss)
					s.Rate = 100e6
					wanShape(b, l, s)
					hc := wanUploadHTTP(b, proto)
					c, err := upload.NewClient(url, &upload.ClientOptions{HTTPClient: hc, ChunkSize: tc.chunk, Parallel: tc.parts, Checksum: "none"})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.Upload(context.Background(), pattern(1024), 1024, nil); err != nil { // connects
						b.Fatal(err)
					}
					b.SetBytes(wanUploadSize)
					b.ReportAllocs()
					var total time.Duration
					for b.Loop() {
						t0 := time.Now()
						if _, err := c.Upload(context.Background(), pattern(wanUploadSize), wanUploadSize, nil); err != nil {
							b.Fatal(err)
						}
						total += time.Since(t0)
						b.StopTimer()
						emptyDir(b, dir)
						b.StartTimer()
					}
					per := total / time.Duration(b.N)
					b.ReportMetric(float64(wanUploadSize)*8/per.Seconds()/1e6, "Mbit/s")
					b.ReportMetric(per.Seconds(), "s/upload")
				})
			}
		}
	}
}

// wanUploadHTTP returns an HTTP/1.1 client (a connection per request in
// flight; "h1-cubic": with CUBIC congestion control) or httpx's client
// (HTTP/2, one connection) for the link.
func wanUploadHTTP(b *testing.B, proto string) *http.Client {
	if proto == "h2" {
		return wanHTTPX(b, nil).Client
	}
	conf := wanClientTLS()
	conf.NextProtos = []string{"http/1.1"}
	d := &net.Dialer{}
	if proto == "h1-cubic" {
		d.Control = tcpCC("cubic")
	}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: conf, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// tcpCC returns a socket control function that sets the TCP congestion
// control algorithm (TCP_CONGESTION, Linux) of a socket.
func tcpCC(name string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name)
		}); err != nil {
			return err
		}
		return serr
	}
}

// ccListener sets the congestion control *cc names (if any) on each
// accepted TCP connection.
type ccListener struct {
	net.Listener
	cc *atomic.Pointer[string]
}

func (l ccListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if name := l.cc.Load(); name != nil && *name != "" {
		if tc, ok := c.(*net.TCPConn); ok {
			rc, err := tc.SyscallConn()
			if err == nil {
				err = tcpCC(*name)("", "", rc)
			}
			if err != nil {
				c.Close()
				return nil, err
			}
		}
	}
	return c, nil
}
