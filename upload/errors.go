package upload

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrNotFound is returned by a [Store] for an upload it does not hold (never
// created, terminated or swept). The [Handler] answers it with 404.
var ErrNotFound = errors.New("upload: no such upload; create a new one")

// ErrLocked is returned by a [Store] (or the [Handler]'s own lock) when
// another request is writing to the same upload. The [Handler] answers it
// with 423 Locked; the client should retry after a HEAD.
var ErrLocked = errors.New("upload: another request is writing to this upload; retry after a HEAD")

// ErrOffsetMismatch is returned by [Upload.WriteChunk] when the offset it is
// given is not the upload's offset. The [Handler] answers it with 409.
var ErrOffsetMismatch = errors.New("upload: offset does not match the upload's; ask with HEAD and resend from there")

// ErrChecksumMismatch is reported when a chunk's Upload-Checksum does not
// match its bytes. The chunk is discarded; the [Handler] answers with 460.
var ErrChecksumMismatch = errors.New("upload: checksum mismatch; the chunk was discarded, resend it")

// ErrTooLarge is reported when an upload would grow past its declared
// Upload-Length or past Options.MaxSize. Nothing of the offending chunk is
// kept; the [Handler] answers with 413.
var ErrTooLarge = errors.New("upload: upload would exceed its length or the server's maximum size")

// ErrBadID is returned by a [Store] for an upload ID it could never have
// issued (wrong length or characters). The [Handler] answers it with 404.
var ErrBadID = errors.New("upload: malformed upload ID")

// ErrFinished is returned by [Upload.WriteChunk] on an upload whose bytes
// have all arrived.
var ErrFinished = errors.New("upload: upload is complete; nothing more can be written")

// ErrNoPreCreate is returned by [NewHandler] when Options.PreCreate is nil
// and Options.Public is false: an upload endpoint writes client bytes to
// disk, so accepting anyone's must be a decision.
var ErrNoPreCreate = errors.New("upload: Options.PreCreate is nil; set it to authorize uploads, or set Options.Public to accept anyone's")

// ErrUnsupported is returned when a request needs a capability the [Store]
// lacks (concatenation, downloads, listing for the sweeper).
var ErrUnsupported = errors.New("upload: the store does not support this operation")

// HookError lets a hook (Options.PreCreate, Options.Download) choose the
// HTTP status and the short message the client gets. An error of another
// type rejects the request with 403 and the message "rejected".
type HookError struct {
	Status  int    // an HTTP status, 400-599; other values mean 403
	Message string // sent to the client as the body; keep it short
}

func (e *HookError) Error() string {
	return fmt.Sprintf("upload: rejected with %d: %s", e.Status, e.Message)
}

// StatusError is the error a [Client] returns for an unexpected response.
type StatusError struct {
	Method string
	URL    string
	Status int
	Body   string // the first bytes of the response body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upload: %s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), e.Body)
}

// PanicError is the error recorded when a hook panicked or called
// runtime.Goexit; the request that ran it is answered with 500 and the
// panic is counted in Stats.HookPanics.
type PanicError struct {
	Value any // what was passed to panic; nil for runtime.Goexit
}

func (e *PanicError) Error() string {
	if e.Value == nil {
		return "upload: hook called runtime.Goexit"
	}
	return fmt.Sprintf("upload: hook panicked: %v", e.Value)
}
