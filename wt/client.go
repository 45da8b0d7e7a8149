package wt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

// DialOptions configures [Dial]. A nil *DialOptions is valid and means all
// defaults; it is copied, never changed.
type DialOptions struct {
	// Session configures the session (limits, windows, datagrams). Nil
	// means the defaults of [Options].
	Session *Options
	// TLSConfig is the client TLS config for both transports (cloned).
	// Nil means the system roots.
	TLSConfig *tls.Config
	// Transport forces one transport: TransportWebTransport never falls
	// back, TransportWebSocket never tries WebTransport. Defaults to 0:
	// WebTransport first, then the fallback.
	Transport Transport
	// WebTransportTimeout bounds the WebTransport attempt before falling
	// back (UDP blocked shows up as a timeout, not an error). Defaults to
	// 3s; negative is an error.
	WebTransportTimeout time.Duration
	// Header is sent with both upgrades (cloned).
	Header http.Header
	// Broken, if set, remembers origins whose WebTransport failed or
	// timed out, and dials sharing it go straight to the fallback for a
	// backoff (FallbackReason FallbackBroken); see [BrokenCache]. Forced
	// transports ignore it. Nil means Dial remembers nothing: every dial
	// tries WebTransport first. A [Client] uses its own when nil.
	Broken *BrokenCache
}

// DialInfo says which transport Dial got and why it did not get
// WebTransport.
type DialInfo struct {
	Transport Transport
	// FallbackReason is "" on WebTransport, else "forced", "timeout",
	// "failed" or FallbackBroken (not tried: DialOptions.Broken remembers
	// it failing for this origin).
	FallbackReason string
	// WebTransportErr is why the WebTransport attempt failed, if it did.
	WebTransportErr error
}

// Dial opens a session to url (https://host/path, the path the Server is
// mounted at): over WebTransport when it can, else over the WebSocket
// fallback on the same URL. An upgrade the server refused with an HTTP
// status is a [*RefusedError] (with the server's Retry-After), wrapped
// in ErrNoTransport; a 503 from the WebTransport upgrade ends the attempt
// without trying the fallback. ctx bounds the whole attempt. The session
// owns its goroutines and connection; Close releases them.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (Session, DialInfo, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	var info DialInfo
	so, err := o.Session.resolve()
	if err != nil {
		return nil, info, err
	}
	switch {
	case o.WebTransportTimeout < 0:
		return nil, info, fmt.Errorf("wt: DialOptions.WebTransportTimeout is negative (%v); use 0 for the default", o.WebTransportTimeout)
	case o.Transport > TransportWebSocket:
		return nil, info, fmt.Errorf("wt: DialOptions.Transport %d is not a Transport", o.Transport)
	case o.WebTransportTimeout == 0:
		o.WebTransportTimeout = 3 * time.Second
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, info, fmt.Errorf("wt: dial %q: want an https:// URL", rawURL)
	}
	c := new(counters)
	origin := hostPort(u)
	if o.Transport == 0 && o.Broken != nil && o.Broken.skip(origin) {
		o.Transport, info.FallbackReason = TransportWebSocket, FallbackBroken
	}
	if o.Transport != TransportWebSocket {
		wctx, cancel := context.WithTimeout(ctx, o.WebTransportTimeout)
		s, err := dialWT(wctx, u, &o, &so, c)
		cancel()
		if err == nil {
			if o.Transport == 0 && o.Broken != nil {
				o.Broken.worked(origin)
			}
			info.Transport = TransportWebTransport
			return s, info, nil
		}
		info.WebTransportErr = err
		if o.Transport == 0 && o.Broken != nil && ctx.Err() == nil {
			o.Broken.failed(origin, err)
		}
		var re *RefusedError
		if o.Transport == TransportWebTransport || ctx.Err() != nil ||
			(errors.As(err, &re) && re.StatusCode == http.StatusServiceUnavailable) {
			return nil, info, fmt.Errorf("%w: WebTransport: %w", ErrNoTransport, err)
		}
		info.FallbackReason = "failed"
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			info.FallbackReason = "timeout"
		}
	} else if info.FallbackReason == "" {
		info.FallbackReason = "forced"
	}
	s, err := dialWS(ctx, u, &o, &so, c, info.FallbackReason)
	if err != nil {
		if info.WebTransportErr != nil {
			return nil, info, fmt.Errorf("%w: WebTransport: %v; WebSocket: %w", ErrNoTransport, info.WebTransportErr, err)
		}
		return nil, info, fmt.Errorf("%w: WebSocket: %w", ErrNoTransport, err)
	}
	info.Transport = TransportWebSocket
	return s, info, nil
}

func dialWT(ctx context.Context, u *url.URL, o *DialOptions, so *Options, c *counters) (Session, error) {
	tlsConf := &tls.Config{}
	if o.TLSConfig != nil {
		tlsConf = o.TLSConfig.Clone()
	}
	tlsConf.NextProtos = []string{http3.NextProtoH3}
	qconn, err := quic.DialAddrEarly(ctx, hostPort(u), tlsConf, &quic.Config{
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		MaxIncomingStreams:               int64(so.MaxIncomingStreams),
		MaxIncomingUniStreams:            int64(so.MaxIncomingUniStreams) + 3,
		KeepAlivePeriod:                  max(so.KeepAlive, 0),
	})
	if err != nil {
		return nil, err
	}
	// The session owns the connection (see closeLinger); a Transport's
	// Dial would close it the moment the session ends.
	tr := &webtransport.Transport{}
	defer tr.Close() // only cancels session establishment
	cc, err := tr.NewClientConn(qconn)
	if err != nil {
		qconn.CloseWithError(0, "")
		return nil, err
	}
	rsp, s, err := cc.Dial(ctx, u.String(), o.Header.Clone())
	if err != nil {
		qconn.CloseWithError(0, "")
		if rsp != nil && rsp.StatusCode >= 300 {
			return nil, refused(TransportWebTransport, rsp, err)
		}
		return nil, err
	}
	return newWTSession(s, qconn, true, so, c), nil
}

func dialWS(ctx context.Context, u *url.URL, o *DialOptions, so *Options, c *counters, reason string) (Session, error) {
	wu := *u
	wu.Scheme = "wss"
	q := wu.Query()
	q.Set(FallbackParam, reason)
	wu.RawQuery = q.Encode()
	tr := &http.Transport{TLSClientConfig: o.TLSConfig.Clone(), ForceAttemptHTTP2: false}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	conn, rsp, err := websocket.Dial(ctx, wu.String(), &websocket.DialOptions{
		HTTPClient:   hc,
		HTTPHeader:   o.Header.Clone(),
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		if rsp != nil && rsp.StatusCode >= 300 {
			return nil, refused(TransportWebSocket, rsp, err)
		}
		return nil, err
	}
	if conn.Subprotocol() != Subprotocol {
		conn.Close(websocket.StatusProtocolError, "no common fallback version")
		return nil, fmt.Errorf("wt: server did not accept subprotocol %s", Subprotocol)
	}
	var remote net.Addr
	if addr, err := net.ResolveTCPAddr("tcp", hostPort(u)); err == nil {
		remote = addr
	}
	s := newMuxSession(conn, false, so, c, remote)
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(strings.Trim(u.Hostname(), "[]"), "443")
}
