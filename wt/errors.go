package wt

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SessionErrorCode is the application's code for closing a session, as in
// WebTransport's CLOSE_WEBTRANSPORT_SESSION (32 bits).
type SessionErrorCode uint32

// StreamErrorCode is the code of a stream reset or stop-sending (32 bits).
type StreamErrorCode uint32

// Session codes the package itself uses. They borrow the WebSocket close
// codes' numbers so that they map one to one (see [WebSocketCloseCode]);
// applications are advised to use 4000–4999, which read the same on both
// transports, even to a plain WebSocket peer.
const (
	// CodeNormal is a normal closure.
	CodeNormal SessionErrorCode = 0
	// CodeGoingAway: the server is shutting down or restarting; reconnect
	// (after a short random delay).
	CodeGoingAway SessionErrorCode = 1001
	// CodeProtocolError: the peer broke the fallback protocol (a
	// malformed frame, an unknown stream, a credit overrun).
	CodeProtocolError SessionErrorCode = 1002
	// CodeMessageTooBig: a fallback frame above the negotiated maximum.
	CodeMessageTooBig SessionErrorCode = 1009
	// CodeInternalError: the handler panicked or the server failed.
	CodeInternalError SessionErrorCode = 1011
	// CodeTryAgainLater: the server is over a limit; reconnect later.
	CodeTryAgainLater SessionErrorCode = 1013
)

// MaxReasonLen is the longest close reason carried; longer ones are cut
// (WebTransport's limit).
const MaxReasonLen = 1024

// SessionError is how a session ended when one side closed it: the code
// and reason given to Close (or by the package, such as
// [CodeProtocolError]), and whether the peer closed it.
type SessionError struct {
	Code   SessionErrorCode
	Reason string
	Remote bool
}

// Error says who closed the session, with the code and reason.
func (e *SessionError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by the peer"
	}
	return fmt.Sprintf("wt: session closed %s with code %d: %s", who, e.Code, e.Reason)
}

// StreamError is a stream reset (CancelWrite) or stop-sending (CancelRead)
// with the code given, by the peer when Remote.
type StreamError struct {
	Code   StreamErrorCode
	Remote bool
}

// Error says who cancelled the stream, with the code.
func (e *StreamError) Error() string {
	if e.Remote {
		return fmt.Sprintf("wt: stream cancelled by the peer with code %d", e.Code)
	}
	return fmt.Sprintf("wt: stream cancelled locally with code %d", e.Code)
}

// ErrSessionLost is wrapped by the errors of a session whose connection
// broke without a close (network failure, peer gone); reconnect.
var ErrSessionLost = errors.New("wt: session lost without a close; reconnect")

// ErrDatagramTooLarge is wrapped by SendDatagram's error for a payload
// above Capabilities().MaxDatagramSize; send it on a stream, or set
// Options.OversizeDatagrams to have the session do so.
var ErrDatagramTooLarge = errors.New("wt: datagram larger than the path allows; send it on a stream (Options.OversizeDatagrams)")

// ErrStreamClosed is returned by Write after Close or CancelWrite, and by
// Read after CancelRead, on the same side.
var ErrStreamClosed = errors.New("wt: stream already closed on this side")

// ErrServerClosed is returned by Server.ServeQUIC when it stops because
// the Server was shut down or closed.
var ErrServerClosed = errors.New("wt: server closed")

// ErrNoTransport is wrapped by Dial's error when no transport could
// connect; it says why each failed.
var ErrNoTransport = errors.New("wt: no transport could connect")

// WebSocket close codes that may be sent in a close frame: 1000–1003,
// 1007–1014 (registered) and 3000–4999 (registered and private).
func sendableCloseCode(c uint32) bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014, c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// WebSocketCloseCode is the WebSocket close code the fallback puts in its
// close frame for a session code: 0 is 1000, a code that is a valid
// WebSocket close code (1001–1003, 1007–1014, 3000–4999) is itself, and
// any other is 4000. The fallback also sends the full code and reason in
// its own CLOSE frame first, so wt peers always see the exact code; the
// WebSocket code is for peers and proxies that see only the close frame.
func WebSocketCloseCode(c SessionErrorCode) int {
	switch {
	case c == CodeNormal:
		return 1000
	case sendableCloseCode(uint32(c)):
		return int(c)
	}
	return 4000
}

// SessionCodeFromWebSocket is the inverse of [WebSocketCloseCode] for a
// close frame that arrived without the fallback's CLOSE frame: 1000 is 0,
// 1005 (no code) is 0, other codes are themselves. ok is false for 1006
// (the connection broke without a close frame) and codes outside 0–4999.
func SessionCodeFromWebSocket(code int) (c SessionErrorCode, ok bool) {
	switch {
	case code == 1000 || code == 1005:
		return CodeNormal, true
	case code == 1006 || code < 1000 || code > 4999:
		return 0, false
	}
	return SessionErrorCode(code), true
}

func cutReason(s string) string {
	if len(s) <= MaxReasonLen {
		return s
	}
	// Cut on a rune boundary so the reason stays valid UTF-8.
	n := MaxReasonLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// RefusedError is wrapped by Dial's error when the server answered an
// upgrade with an HTTP error status instead of a session: 503 at a session
// limit or while shutting down, 403 for a refused origin, 400 for a bad
// request. A 503 from the WebTransport upgrade is not a transport
// failure, so Dial returns it without trying the fallback (the limits
// count both transports).
type RefusedError struct {
	// Transport is the upgrade the server refused.
	Transport Transport
	// StatusCode is the HTTP status.
	StatusCode int
	// RetryAfter is the server's Retry-After (seconds or an HTTP date,
	// at most a day), or 0 without one; a Client waits at least this long,
	// bounded by its MaxBackoff, before the next attempt.
	RetryAfter time.Duration
	// Err is the underlying error of the upgrade.
	Err error
}

// Error says which upgrade got which status, and when to retry.
func (e *RefusedError) Error() string {
	s := fmt.Sprintf("wt: %v upgrade refused with HTTP %d", e.Transport, e.StatusCode)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %v", e.RetryAfter)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *RefusedError) Unwrap() error { return e.Err }

// maxRetryAfter bounds a server's Retry-After, which is input from the
// network.
const maxRetryAfter = 24 * time.Hour

func refused(tr Transport, rsp *http.Response, err error) *RefusedError {
	e := &RefusedError{Transport: tr, StatusCode: rsp.StatusCode, Err: err}
	if v := strings.TrimSpace(rsp.Header.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			e.RetryAfter = min(time.Duration(n)*time.Second, maxRetryAfter)
		} else if t, err := http.ParseTime(v); err == nil {
			e.RetryAfter = min(max(time.Until(t), 0), maxRetryAfter)
		}
	}
	return e
}
