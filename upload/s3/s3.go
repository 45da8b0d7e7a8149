package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/wirespeed/wirespeed/upload"
)

// MinPartSize is S3's smallest part of a multipart upload (all but the
// last part).
const MinPartSize = 5 << 20

// Options configure a [Store]. A nil *Options is an error: the bucket is
// required.
type Options struct {
	// Bucket holds the uploads. Required.
	Bucket string
	// Prefix is put before every object key, e.g. "uploads/". Default "".
	Prefix string
	// PartSize is the size of the multipart upload's parts (the last one
	// may be smaller). Bytes that do not fill a part yet wait in a tail
	// object. Default 8 MiB; below [MinPartSize] or negative is an error.
	PartSize int64
	// TempDir is where a chunk is spooled (on disk, never in memory)
	// before it goes to S3, so that its checksum is verified first. Default
	// os.TempDir(); it must exist.
	TempDir string
}

// Store keeps tus uploads in an S3-compatible bucket: each upload is an S3
// multipart upload, completed into the object <prefix><id> when its last
// byte arrives (so the object exists whole or not at all). It implements
// [upload.Store], [upload.Lister] and [upload.Opener]; it has no
// cross-process lock (the handler's in-process lock applies) and no
// concatenation.
//
// Offsets are derived from S3 itself: the sum of the uploaded parts plus
// the tail object that follows exactly that many parts, so a crash between
// two steps never counts a byte twice.
type Store struct {
	core *minio.Core
	o    Options
}

// New returns a store over client.
func New(client *minio.Client, opts *Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("s3: New needs a minio client")
	}
	if opts == nil || opts.Bucket == "" {
		return nil, errors.New("s3: Options.Bucket is required")
	}
	o := *opts
	switch {
	case o.PartSize < 0:
		return nil, fmt.Errorf("s3: Options.PartSize is negative (%d)", o.PartSize)
	case o.PartSize == 0:
		o.PartSize = 8 << 20
	case o.PartSize < MinPartSize:
		return nil, fmt.Errorf("s3: Options.PartSize %d is below S3's minimum part size of 5 MiB", o.PartSize)
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	return &Store{core: &minio.Core{Client: client}, o: o}, nil
}

// record is what the info object holds.
type record struct {
	Info     upload.Info `json:"info"`
	UploadID string      `json:"upload_id"`
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

func (s *Store) key(id, suffix string) string { return s.o.Prefix + id + suffix }

func notFound(err error) bool {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode == http.StatusNotFound || er.Code == "NoSuchKey" || er.Code == "NoSuchUpload"
	}
	return false
}

// NewUpload implements [upload.Store].
func (s *Store) NewUpload(ctx context.Context, info upload.Info) (upload.Upload, error) {
	if info.Final {
		return nil, fmt.Errorf("s3: concatenation: %w", upload.ErrUnsupported)
	}
	info.ID, info.Offset = newID(), 0
	uid, err := s.core.NewMultipartUpload(ctx, s.o.Bucket, s.key(info.ID, ""), minio.PutObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3: start multipart upload: %w", err)
	}
	u := &s3Upload{s: s, id: info.ID, rec: record{Info: info, UploadID: uid}}
	if err := u.save(ctx); err != nil {
		_ = s.core.AbortMultipartUpload(ctx, s.o.Bucket, s.key(info.ID, ""), uid)
		return nil, err
	}
	if info.Size == 0 {
		if err := u.complete(ctx, nil); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// GetUpload implements [upload.Store].
func (s *Store) GetUpload(ctx context.Context, id string) (upload.Upload, error) {
	if !validID(id) {
		return nil, upload.ErrBadID
	}
	u := &s3Upload{s: s, id: id}
	if err := u.load(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

// ListUploads implements [upload.Lister].
func (s *Store) ListUploads(ctx context.Context) ([]string, error) {
	var ids []string
	for obj := range s.core.Client.ListObjects(ctx, s.o.Bucket, minio.ListObjectsOptions{Prefix: s.o.Prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("s3: list uploads: %w", obj.Err)
		}
		if id, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, s.o.Prefix), ".info"); ok && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// PresignPut returns a SigV4 URL that lets its holder PUT the object key
// (under Prefix) until expiry, without other credentials. The server
// refuses (403) the URL once expired, with another method, or with its key
// or query changed.
//
// size is the exact length of the body in bytes (a browser has it as
// File.size); it is signed as the Content-Length header, so the server
// also refuses a body of any other length, or one sent without a length,
// and a holder of the URL cannot store more than the application allowed.
// Check the size a client asks for against your own limit before signing.
// A negative size signs no length: the URL then accepts a body of any size
// up to S3's limit for one PUT (5 GiB).
func (s *Store) PresignPut(ctx context.Context, key string, expiry time.Duration, size int64) (*url.URL, error) {
	var signed http.Header
	if size >= 0 {
		signed = http.Header{"Content-Length": {strconv.FormatInt(size, 10)}}
	}
	u, err := s.core.Client.PresignHeader(ctx, http.MethodPut, s.o.Bucket, s.o.Prefix+key, expiry, nil, signed)
	if err != nil {
		return nil, fmt.Errorf("s3: presign PUT: %w", err)
	}
	return u, nil
}

// PresignGet returns a SigV4 URL that lets its holder GET the object key
// (under Prefix) until expiry; filename, when set, becomes the response's
// Content-Disposition (see [upload.ContentDisposition]).
func (s *Store) PresignGet(ctx context.Context, key string, expiry time.Duration, filename string) (*url.URL, error) {
	params := url.Values{}
	if filename != "" {
		params.Set("response-content-disposition", upload.ContentDisposition("attachment", filename))
	}
	u, err := s.core.Client.PresignedGetObject(ctx, s.o.Bucket, s.o.Prefix+key, expiry, params)
	if err != nil {
		return nil, fmt.Errorf("s3: presign GET: %w", err)
	}
	return u, nil
}

// ObjectKey returns the key of a complete upload's object.
func (s *Store) ObjectKey(id string) string { return s.key(id, "") }

type s3Upload struct {
	s   *Store
	id  string
	rec record
}

func (u *s3Upload) load(ctx context.Context) error {
	obj, _, _, err := u.s.core.GetObject(ctx, u.s.o.Bucket, u.s.key(u.id, ".info"), minio.GetObjectOptions{})
	if err != nil {
		if notFound(err) {
			return upload.ErrNotFound
		}
		return fmt.Errorf("s3: read info: %w", err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, 1<<20))
	if err != nil {
		if notFound(err) {
			return upload.ErrNotFound
		}
		return fmt.Errorf("s3: read info: %w", err)
	}
	if err := json.Unmarshal(b, &u.rec); err != nil {
		return fmt.Errorf("s3: corrupt info of %s: %w", u.id, err)
	}
	u.rec.Info.ID = u.id
	return nil
}

func (u *s3Upload) save(ctx context.Context) error {
	b, err := json.Marshal(u.rec)
	if err != nil {
		return fmt.Errorf("s3: encode info: %w", err)
	}
	_, err = u.s.core.PutObject(ctx, u.s.o.Bucket, u.s.key(u.id, ".info"), bytes.NewReader(b), int64(len(b)), "", "", minio.PutObjectOptions{ContentType: "application/json"})
	if err != nil {
		return fmt.Errorf("s3: write info: %w", err)
	}
	return nil
}

// state is what S3 holds of an unfinished upload.
type state struct {
	parts    []minio.CompletePart
	partsLen int64
	tail     int64 // bytes in the tail object for len(parts)
	done     bool  // the object exists
}

func (u *s3Upload) tailKey(parts int) string { return u.s.key(u.id, ".tail."+strconv.Itoa(parts)) }

func (u *s3Upload) state(ctx context.Context) (state, error) {
	var st state
	if u.rec.Info.Complete() && u.rec.Info.Offset == u.rec.Info.Size {
		if _, err := u.s.core.StatObject(ctx, u.s.o.Bucket, u.s.key(u.id, ""), minio.StatObjectOptions{}); err == nil {
			st.done = true
			return st, nil
		}
	}
	marker := 0
	for {
		res, err := u.s.core.ListObjectParts(ctx, u.s.o.Bucket, u.s.key(u.id, ""), u.rec.UploadID, marker, 1000)
		if err != nil {
			if notFound(err) {
				// The multipart upload is gone: completed by a request that
				// crashed before recording it, or aborted.
				if _, serr := u.s.core.StatObject(ctx, u.s.o.Bucket, u.s.key(u.id, ""), minio.StatObjectOptions{}); serr == nil {
					st.done = true
					return st, nil
				}
				return st, upload.ErrNotFound
			}
			return st, fmt.Errorf("s3: list parts: %w", err)
		}
		for _, p := range res.ObjectParts {
			st.parts = append(st.parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
			st.partsLen += p.Size
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	oi, err := u.s.core.StatObject(ctx, u.s.o.Bucket, u.tailKey(len(st.parts)), minio.StatObjectOptions{})
	switch {
	case err == nil:
		st.tail = oi.Size
	case !notFound(err):
		return st, fmt.Errorf("s3: stat tail: %w", err)
	}
	return st, nil
}

func (u *s3Upload) Info(ctx context.Context) (upload.Info, error) {
	info := u.rec.Info
	st, err := u.state(ctx)
	if err != nil {
		return info, err
	}
	if st.done {
		info.Offset = info.Size
	} else {
		info.Offset = st.partsLen + st.tail
	}
	return info, nil
}

func (u *s3Upload) WriteChunk(ctx context.Context, offset int64, src io.Reader, verify func(int64, error) error) (int64, error) {
	info := u.rec.Info
	st, err := u.state(ctx)
	if err != nil {
		return 0, err
	}
	if st.done {
		return 0, upload.ErrFinished
	}
	if cur := st.partsLen + st.tail; offset != cur {
		return 0, upload.ErrOffsetMismatch
	}
	// Spool the tail and the new bytes to a temporary file: the chunk is
	// verified before anything reaches S3, and parts are cut from the file.
	f, err := os.CreateTemp(u.s.o.TempDir, "tus-s3-*")
	if err != nil {
		return 0, fmt.Errorf("s3: spool chunk: %w", err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	if st.tail > 0 {
		obj, _, _, err := u.s.core.GetObject(ctx, u.s.o.Bucket, u.tailKey(len(st.parts)), minio.GetObjectOptions{})
		if err != nil {
			return 0, fmt.Errorf("s3: read tail: %w", err)
		}
		n, err := io.Copy(f, obj)
		obj.Close()
		if err != nil || n != st.tail {
			return 0, fmt.Errorf("s3: read tail: %d of %d bytes: %v", n, st.tail, err)
		}
	}
	limited := src
	if info.Size >= 0 {
		limited = io.LimitReader(src, info.Size-offset+1)
	}
	n, readErr := io.Copy(f, limited)
	if info.Size >= 0 && offset+n > info.Size {
		return 0, upload.ErrTooLarge
	}
	if verify != nil {
		if err := verify(n, readErr); err != nil {
			return 0, err
		}
	}
	if n == 0 {
		return 0, readErr
	}
	total := st.tail + n
	final := info.Size >= 0 && offset+n == info.Size
	if err := u.flush(ctx, f, st, total, final); err != nil {
		return 0, err
	}
	return n, readErr
}

// flush uploads the spooled bytes (total of them, starting with the old
// tail) as full parts, then the rest as the new tail, or completes the
// upload when final.
func (u *s3Upload) flush(ctx context.Context, f *os.File, st state, total int64, final bool) error {
	parts := st.parts
	var pos int64
	for total-pos >= u.s.o.PartSize || (final && pos < total) {
		size := min(u.s.o.PartSize, total-pos) // only the last part may be smaller
		num := len(parts) + 1
		p, err := u.s.core.PutObjectPart(ctx, u.s.o.Bucket, u.s.key(u.id, ""), u.rec.UploadID, num, io.NewSectionReader(f, pos, size), size, minio.PutObjectPartOptions{})
		if err != nil {
			return fmt.Errorf("s3: upload part %d: %w", num, err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
		pos += size
	}
	if final {
		return u.complete(ctx, parts)
	}
	if rest := total - pos; rest > 0 {
		_, err := u.s.core.PutObject(ctx, u.s.o.Bucket, u.tailKey(len(parts)), io.NewSectionReader(f, pos, rest), rest, "", "", minio.PutObjectOptions{})
		if err != nil {
			return fmt.Errorf("s3: write tail: %w", err)
		}
	}
	if len(parts) != len(st.parts) && st.tail > 0 {
		_ = u.s.core.RemoveObject(ctx, u.s.o.Bucket, u.tailKey(len(st.parts)), minio.RemoveObjectOptions{})
	}
	return nil
}

func (u *s3Upload) complete(ctx context.Context, parts []minio.CompletePart) error {
	obj := u.s.key(u.id, "")
	if len(parts) == 0 {
		// S3 refuses a multipart upload without parts: an empty object.
		_ = u.s.core.AbortMultipartUpload(ctx, u.s.o.Bucket, obj, u.rec.UploadID)
		if _, err := u.s.core.PutObject(ctx, u.s.o.Bucket, obj, bytes.NewReader(nil), 0, "", "", minio.PutObjectOptions{}); err != nil {
			return fmt.Errorf("s3: write empty object: %w", err)
		}
	} else if _, err := u.s.core.CompleteMultipartUpload(ctx, u.s.o.Bucket, obj, u.rec.UploadID, parts, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("s3: complete multipart upload: %w", err)
	}
	u.removeTails(ctx)
	u.rec.Info.Offset = u.rec.Info.Size
	u.rec.Info.Expires = time.Time{}
	u.rec.Info.Updated = time.Now().UTC()
	return u.save(ctx)
}

func (u *s3Upload) DeclareLength(ctx context.Context, size int64) error {
	info, err := u.Info(ctx)
	if err != nil {
		return err
	}
	if info.Size >= 0 {
		if info.Size == size {
			return nil
		}
		return fmt.Errorf("s3: length already declared as %d", info.Size)
	}
	if size < info.Offset {
		return upload.ErrTooLarge
	}
	u.rec.Info.Size = size
	if err := u.save(ctx); err != nil {
		return err
	}
	if size == info.Offset {
		// Everything has arrived: the tail becomes the last part.
		st, err := u.state(ctx)
		if err != nil {
			return err
		}
		f, err := os.CreateTemp(u.s.o.TempDir, "tus-s3-*")
		if err != nil {
			return fmt.Errorf("s3: spool tail: %w", err)
		}
		defer func() { f.Close(); os.Remove(f.Name()) }()
		if st.tail > 0 {
			obj, _, _, err := u.s.core.GetObject(ctx, u.s.o.Bucket, u.tailKey(len(st.parts)), minio.GetObjectOptions{})
			if err != nil {
				return fmt.Errorf("s3: read tail: %w", err)
			}
			_, err = io.Copy(f, obj)
			obj.Close()
			if err != nil {
				return fmt.Errorf("s3: read tail: %w", err)
			}
		}
		return u.flush(ctx, f, st, st.tail, true)
	}
	return nil
}

func (u *s3Upload) Terminate(ctx context.Context) error {
	b := u.s.o.Bucket
	err := u.s.core.RemoveObject(ctx, b, u.s.key(u.id, ".info"), minio.RemoveObjectOptions{})
	if err != nil && !notFound(err) {
		return fmt.Errorf("s3: remove upload: %w", err)
	}
	_ = u.s.core.AbortMultipartUpload(ctx, b, u.s.key(u.id, ""), u.rec.UploadID)
	_ = u.s.core.RemoveObject(ctx, b, u.s.key(u.id, ""), minio.RemoveObjectOptions{})
	u.removeTails(ctx)
	return nil
}

// removeTails removes every tail object of the upload, including those of
// earlier part counts that a request which crashed after uploading a part
// left behind (they never count: the tail read is the one for the current
// part count). Failures are left for Terminate or the next completion.
func (u *s3Upload) removeTails(ctx context.Context) {
	b := u.s.o.Bucket
	for obj := range u.s.core.Client.ListObjects(ctx, b, minio.ListObjectsOptions{Prefix: u.s.key(u.id, ".tail.")}) {
		if obj.Err == nil {
			_ = u.s.core.RemoveObject(ctx, b, obj.Key, minio.RemoveObjectOptions{})
		}
	}
}

// Open implements [upload.Opener]: the object, read with ranged GETs as it
// is read and seeked.
func (u *s3Upload) Open(ctx context.Context) (io.ReadSeekCloser, error) {
	obj, err := u.s.core.Client.GetObject(ctx, u.s.o.Bucket, u.s.key(u.id, ""), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3: open object: %w", err)
	}
	return obj, nil
}
