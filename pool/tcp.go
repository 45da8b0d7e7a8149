package pool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// TCPOptions configures the Config that TCP returns. The zero value, like a
// nil *TCPOptions, dials plain TCP with a zero net.Dialer.
type TCPOptions struct {
	// Network is "tcp", "tcp4" or "tcp6". Defaults to "tcp".
	Network string

	// Dialer dials the TCP connection; TCP copies it. Nil means a zero
	// net.Dialer, whose keep-alive probes default to 15 seconds. Dial
	// timeouts come from Config.DialTimeout through the dial's context.
	Dialer *net.Dialer

	// TLS, when not nil, makes every connection a TLS client whose
	// handshake is part of the dial. TCP clones it; an empty ServerName is
	// taken from addr. Nil means plain TCP.
	TLS *tls.Config
}

// TCP returns a Config for a pool of TCP or TLS connections to addr, to be
// adjusted (MaxSize, MinIdle, ...) and passed to New. Its Dial dials addr
// (and completes the TLS handshake), its Close closes the connection, and
// its Check is ConnAlive, which needs no round trip. opts may be nil.
//
// The values in the pool are the net.Conn that Dial returns: a
// *net.TCPConn, or a *tls.Conn when opts.TLS is set. The returned functions
// are safe for concurrent use.
func TCP(addr string, opts *TCPOptions) Config[net.Conn] {
	var o TCPOptions
	if opts != nil {
		o = *opts
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	var d net.Dialer
	if o.Dialer != nil {
		d = *o.Dialer
	}
	var dial func(ctx context.Context) (net.Conn, error)
	if o.TLS == nil {
		dial = func(ctx context.Context) (net.Conn, error) {
			return d.DialContext(ctx, o.Network, addr)
		}
	} else {
		td := &tls.Dialer{NetDialer: &d, Config: o.TLS.Clone()}
		dial = func(ctx context.Context) (net.Conn, error) {
			return td.DialContext(ctx, o.Network, addr)
		}
	}
	return Config[net.Conn]{
		Dial:  dial,
		Close: net.Conn.Close,
		Check: func(_ context.Context, c net.Conn) error { return ConnAlive(c) },
	}
}

// tlsProbeWindow bounds how long ConnAlive lets a *tls.Conn process records
// already received. It is spent in full only by a live connection whose
// pending records were all post-handshake messages, such as the TLS 1.3
// session tickets a server sends after the handshake, and only once.
const tlsProbeWindow = 2 * time.Millisecond

// ConnAlive reports whether an idle connection is still usable, without a
// round trip: it returns nil if the connection looks alive, and an error if
// the peer has closed or reset it, or if it has unread data (the protocol
// is then in an unknown state). It must not be called while another
// goroutine reads from c. It is safe to use as, or inside, Config.Check.
//
// On Linux it peeks at the socket with a non-blocking MSG_PEEK recv, which
// costs one system call. For a *tls.Conn it peeks at the socket underneath
// and, only when data is pending, lets the TLS layer read it for at most a
// couple of milliseconds (consuming post-handshake messages such as session
// tickets, and seeing a close_notify alert as the peer closing), clearing
// the connection's read deadline afterwards. Connections that do not expose
// a socket (syscall.Conn), and every connection on other systems, are
// reported alive.
func ConnAlive(c net.Conn) error {
	tc, isTLS := c.(*tls.Conn)
	raw := c
	if isTLS {
		raw = tc.NetConn()
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("pool: connection check: %w", err)
	}
	pending, err := peek(rc)
	switch {
	case err != nil:
		return err
	case !pending:
		return nil
	case isTLS:
		return tlsAlive(tc)
	default:
		return errUnexpectedData
	}
}

// tlsAlive lets tc process the records pending on its socket.
func tlsAlive(tc *tls.Conn) error {
	if !tc.ConnectionState().HandshakeComplete {
		return errUnexpectedData
	}
	if err := tc.SetReadDeadline(time.Now().Add(tlsProbeWindow)); err != nil {
		return fmt.Errorf("pool: connection check: %w", err)
	}
	var b [1]byte
	n, err := tc.Read(b[:])
	_ = tc.SetReadDeadline(time.Time{})
	var ne net.Error
	switch {
	case n > 0:
		return errUnexpectedData
	case err == nil || errors.As(err, &ne) && ne.Timeout():
		return nil
	default:
		return fmt.Errorf("pool: connection closed by peer: %w", err)
	}
}
