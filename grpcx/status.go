package grpcx

import (
	"context"
	"errors"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ToStatus returns err as a gRPC status error with a sensible code. A status
// error (or an error wrapping one) keeps its code; an error matching
// context.DeadlineExceeded or os.ErrDeadlineExceeded becomes
// DEADLINE_EXCEEDED; context.Canceled becomes CANCELED; anything else
// becomes UNKNOWN with err's text, which is what grpc-go sends for it. A
// nil err stays nil. The server interceptors apply it to every handler's
// error, so the metrics count by the code the client sees.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}
