package grpcx

import (
	"context"
	"encoding/binary"
	"net"
	"sync"

	"google.golang.org/grpc/credentials"
)

// grpc-go exposes neither the GOAWAY frames a connection receives nor the
// server's SETTINGS, so grpcx reads them off the wire: the transport
// credentials are wrapped so that every connection, after its TLS handshake
// if any, passes through a frameWatcher that follows the HTTP/2 frame
// headers in one direction and decodes only SETTINGS and GOAWAY payloads.

const (
	frameSettings = 0x4
	frameGoAway   = 0x7
	flagAck       = 0x1

	settingMaxConcurrentStreams = 0x3
	errCodeEnhanceYourCalm      = 0xb

	// capture bounds how much of a SETTINGS or GOAWAY payload is kept:
	// 16 settings, or a GOAWAY's fixed part and 64 bytes of debug data.
	captureMax = 96
)

// frameEvents receives what a frameWatcher finds. Either may be nil.
type frameEvents struct {
	goAway   func(code uint32, debug string)
	settings func(maxStreams uint32)
}

type frameWatcher struct {
	mu        sync.Mutex
	ev        *frameEvents
	hdr       [9]byte
	nh        int
	typ       byte
	remaining uint32
	want      int
	buf       [captureMax]byte
	nbuf      int
}

func (w *frameWatcher) feed(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(b) > 0 {
		if w.nh < len(w.hdr) {
			n := copy(w.hdr[w.nh:], b)
			w.nh += n
			b = b[n:]
			if w.nh < len(w.hdr) {
				return
			}
			w.remaining = uint32(w.hdr[0])<<16 | uint32(w.hdr[1])<<8 | uint32(w.hdr[2])
			w.typ = w.hdr[3]
			w.nbuf, w.want = 0, 0
			if (w.typ == frameSettings && w.hdr[4]&flagAck == 0) || w.typ == frameGoAway {
				w.want = int(min(w.remaining, captureMax))
			}
			if w.remaining == 0 {
				w.frameDone()
			}
			continue
		}
		n := int(min(uint32(len(b)), w.remaining))
		if w.nbuf < w.want {
			w.nbuf += copy(w.buf[w.nbuf:w.want], b[:n])
		}
		b = b[n:]
		w.remaining -= uint32(n)
		if w.remaining == 0 {
			w.frameDone()
		}
	}
}

func (w *frameWatcher) frameDone() {
	w.nh = 0
	p := w.buf[:w.nbuf]
	switch w.typ {
	case frameSettings:
		if w.ev.settings == nil {
			return
		}
		for ; len(p) >= 6; p = p[6:] {
			if binary.BigEndian.Uint16(p) == settingMaxConcurrentStreams {
				w.ev.settings(binary.BigEndian.Uint32(p[2:]))
			}
		}
	case frameGoAway:
		if w.ev.goAway != nil && len(p) >= 8 {
			w.ev.goAway(binary.BigEndian.Uint32(p[4:]), string(p[8:]))
		}
	}
}

// readWatchConn watches the frames it reads (a client's view of the server).
type readWatchConn struct {
	net.Conn
	w frameWatcher
}

func (c *readWatchConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.w.feed(b[:n])
	}
	return n, err
}

// writeWatchConn watches the frames it writes (a server's own GOAWAYs) and
// tells when it closes.
type writeWatchConn struct {
	net.Conn
	w       frameWatcher
	onClose func()
	once    sync.Once
}

func (c *writeWatchConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.w.feed(b[:n])
	}
	return n, err
}

func (c *writeWatchConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

// watchCreds wraps transport credentials to put a frame watcher on every
// connection they hand to grpc-go.
type watchCreds struct {
	credentials.TransportCredentials
	client *frameEvents            // set on a client
	server func(net.Conn) net.Conn // set on a server
}

func (c *watchCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil || c.client == nil {
		return conn, ai, err
	}
	wc := &readWatchConn{Conn: conn}
	wc.w.ev = c.client
	return wc, ai, nil
}

func (c *watchCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil || c.server == nil {
		return conn, ai, err
	}
	return c.server(conn), ai, nil
}

func (c *watchCreds) Clone() credentials.TransportCredentials {
	return &watchCreds{TransportCredentials: c.TransportCredentials.Clone(), client: c.client, server: c.server}
}
