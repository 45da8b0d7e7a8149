package upload

import (
	"context"
	"io"
	"time"
)

// Info describes an upload. Stores persist it; the [Handler] reads it for
// HEAD and checks requests against it.
type Info struct {
	// ID names the upload in its URL. A store chooses it in NewUpload.
	ID string `json:"id"`
	// Size is the declared Upload-Length, or -1 while it is deferred.
	Size int64 `json:"size"`
	// Offset is the number of bytes committed (durable and verified).
	Offset int64 `json:"offset"`
	// Metadata is the decoded Upload-Metadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Partial marks an upload created with "Upload-Concat: partial".
	Partial bool `json:"partial,omitempty"`
	// Final marks an upload made by concatenating Parts.
	Final bool `json:"final,omitempty"`
	// Parts are the IDs of a final upload's partial uploads, in order.
	Parts []string `json:"parts,omitempty"`
	// Created is when the upload was created.
	Created time.Time `json:"created"`
	// Expires is when an unfinished upload may be swept; zero means never.
	Expires time.Time `json:"expires,omitzero"`
	// Updated is when the last chunk was committed (the file's modification
	// time once complete).
	Updated time.Time `json:"updated"`
}

// Complete reports whether every byte of the upload has arrived.
func (i Info) Complete() bool { return i.Size >= 0 && i.Offset == i.Size }

// Store is where uploads live: the seam between the tus protocol
// ([Handler]) and the bytes (a directory with [NewDiskStore], S3 with
// upload/s3). Implementations must be safe for concurrent use.
//
// Optional capabilities are separate interfaces, checked with a type
// assertion: [Lister] on the store (for the expiration sweeper), and
// [Locker], [Concater] and [Opener] on its uploads.
type Store interface {
	// NewUpload creates an empty upload described by info (ID and Offset
	// are ignored) and returns it with its new, unguessable ID.
	NewUpload(ctx context.Context, info Info) (Upload, error)
	// GetUpload returns the upload with the ID, or an error wrapping
	// [ErrNotFound] (or [ErrBadID] for an ID the store never issues).
	GetUpload(ctx context.Context, id string) (Upload, error)
}

// Upload is one upload in a [Store].
type Upload interface {
	// Info returns the upload's current description.
	Info(ctx context.Context) (Info, error)
	// WriteChunk appends src at offset, which must be the upload's offset
	// ([ErrOffsetMismatch] otherwise). It reads src until EOF or an error,
	// without holding the chunk in memory, makes what it read durable,
	// then calls verify (when not nil) with the number of bytes read and
	// the read error (nil at EOF). If verify returns an error the bytes are
	// discarded, the offset is unchanged and that error is returned;
	// otherwise the offset advances by n and only then does WriteChunk
	// return n (with the read error, if any). An upload whose offset
	// reaches its size is finalized atomically: readers see it whole or
	// not at all.
	WriteChunk(ctx context.Context, offset int64, src io.Reader, verify func(n int64, readErr error) error) (int64, error)
	// DeclareLength sets the size of an upload created with a deferred
	// length.
	DeclareLength(ctx context.Context, size int64) error
	// Terminate removes the upload and its bytes.
	Terminate(ctx context.Context) error
}

// Lister is a [Store] that can enumerate its uploads, which the
// [Handler]'s expiration sweeper needs.
type Lister interface {
	// ListUploads returns the IDs of every upload in the store.
	ListUploads(ctx context.Context) ([]string, error)
}

// Locker is an [Upload] that can be locked across processes (a file lock,
// a lease). The [Handler] always holds its own in-process lock as well.
type Locker interface {
	// Lock takes the upload's lock without waiting; it returns an error
	// wrapping [ErrLocked] if another holder has it. A lock held by a
	// process that died is released.
	Lock(ctx context.Context) (unlock func(), err error)
}

// Concater is an [Upload] that can be filled by concatenating complete
// partial uploads (the tus concatenation extension).
type Concater interface {
	// Concat fills this upload (created with Final set and no bytes) with
	// the bytes of parts, in order, and finalizes it atomically.
	Concat(ctx context.Context, parts []Upload) error
}

// Opener is an [Upload] whose bytes can be read back once complete, which
// downloads need.
type Opener interface {
	// Open returns the complete upload's bytes.
	Open(ctx context.Context) (io.ReadSeekCloser, error)
}
