package grpcx

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrClosed is returned (as a CANCELED status that also matches ErrClosed
// with errors.Is) by a Client's RPCs once Close has been called.
var ErrClosed = errors.New("grpcx: client closed; create a new Client")

// ErrKeepalive matches, with errors.Is, every *KeepaliveError.
var ErrKeepalive = errors.New("grpcx: keepalive rejected by the server's policy")

// KeepaliveError is returned by NewClient when its keepalive settings would
// break the server's enforcement policy ([ClientOptions].ServerPolicy):
// the server would answer with GOAWAY too_many_pings and close the
// connection, in production, with every RPC on it.
type KeepaliveError struct {
	// Time is the client's ClientOptions.KeepaliveTime.
	Time time.Duration
	// MinTime is the server's declared KeepalivePolicy.MinTime.
	MinTime time.Duration
	// WithoutStream is true when the client pings without active RPCs and
	// the policy forbids it.
	WithoutStream bool
}

func (e *KeepaliveError) Error() string {
	if e.WithoutStream {
		return "grpcx: ClientOptions.KeepaliveWithoutStream is set but the server's policy forbids pings without active RPCs (KeepalivePolicy.PermitWithoutStream is false); unset it or allow it on the server"
	}
	return fmt.Sprintf("grpcx: ClientOptions.KeepaliveTime %v is below the server's KeepalivePolicy.MinTime %v; the server would close the connection with GOAWAY too_many_pings: raise KeepaliveTime to at least %v", e.Time, e.MinTime, e.MinTime)
}

// Is reports whether target is ErrKeepalive.
func (e *KeepaliveError) Is(target error) bool { return target == ErrKeepalive }

// closedError is ErrClosed as a gRPC status.
type closedError struct{}

func (closedError) Error() string              { return ErrClosed.Error() }
func (closedError) Is(target error) bool       { return target == ErrClosed }
func (closedError) GRPCStatus() *status.Status { return status.New(codes.Canceled, ErrClosed.Error()) }

func negative(typ, field string, v any) error {
	return fmt.Errorf("grpcx: %s.%s is negative (%v)", typ, field, v)
}
