package upload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DiskStore keeps uploads as files in one directory: <id>.part while bytes
// arrive, renamed to <id>.data when the last byte is committed (so a file
// under its final name is always whole), <id>.info for the description and
// <id>.lock for the cross-process lock.
//
// Every chunk is streamed to disk through a fixed-size buffer and fsynced
// before its offset is recorded; the offset is recorded by writing a new
// info file and renaming it over the old one. Bytes written past the
// recorded offset by a request that died (a killed process) are cut off
// before the next write, so the recorded offset is always the truth.
//
// IDs are 128 random bits in hex; any other ID is refused with [ErrBadID]
// before it touches a path, so nothing is read or written outside the
// directory.
type DiskStore struct {
	dir string
}

// NewDiskStore returns a store in dir, creating it (mode 0700) if needed.
func NewDiskStore(dir string) (*DiskStore, error) {
	if dir == "" {
		return nil, errors.New("upload: NewDiskStore needs a directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("upload: store directory: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("upload: create store directory: %w", err)
	}
	return &DiskStore{dir: abs}, nil
}

// Dir returns the store's absolute directory.
func (s *DiskStore) Dir() string { return s.dir }

const idLen = 32

func newID() string {
	var b [idLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *DiskStore) path(id, ext string) string { return filepath.Join(s.dir, id+ext) }

// NewUpload implements [Store].
func (s *DiskStore) NewUpload(ctx context.Context, info Info) (Upload, error) {
	info.ID = newID()
	info.Offset = 0
	u := &diskUpload{s: s, id: info.ID}
	for _, ext := range []string{".lock", ".part"} {
		f, err := os.OpenFile(s.path(info.ID, ext), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("upload: create %s file: %w", ext, err)
		}
		f.Close()
	}
	if err := u.writeInfo(info, true); err != nil {
		_ = u.Terminate(ctx)
		return nil, err
	}
	if info.Size == 0 && !info.Final {
		if err := u.finalize(info); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// GetUpload implements [Store].
func (s *DiskStore) GetUpload(_ context.Context, id string) (Upload, error) {
	if !validID(id) {
		return nil, ErrBadID
	}
	if _, err := os.Stat(s.path(id, ".info")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("upload: %w", err)
	}
	return &diskUpload{s: s, id: id}, nil
}

// ListUploads implements [Lister].
func (s *DiskStore) ListUploads(context.Context) ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("upload: list store: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".info"); ok && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// DataPath returns the path of a complete upload's file, for applications
// that move it elsewhere in their post-finish hook.
func (s *DiskStore) DataPath(id string) (string, error) {
	if !validID(id) {
		return "", ErrBadID
	}
	return s.path(id, ".data"), nil
}

type diskUpload struct {
	s  *DiskStore
	id string
}

const maxInfoSize = 1 << 20

func (u *diskUpload) Info(context.Context) (Info, error) {
	var info Info
	f, err := os.Open(u.s.path(u.id, ".info"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return info, ErrNotFound
		}
		return info, fmt.Errorf("upload: read info: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInfoSize))
	if err != nil {
		return info, fmt.Errorf("upload: read info: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("upload: corrupt info file %s: %w", u.id, err)
	}
	info.ID = u.id
	if info.Size >= 0 && info.Offset < info.Size {
		// The data file is renamed before the info is rewritten; a crash
		// between the two leaves a whole file and a stale offset.
		if _, err := os.Stat(u.s.path(u.id, ".data")); err == nil {
			info.Offset = info.Size
		}
	}
	return info, nil
}

// writeInfo replaces the info file atomically (a synced temporary file
// renamed over it). With durable set it also syncs the directory, so the
// rename survives a power loss; a chunk's offset does not need that: if
// the rename is lost the offset goes back to the previous one, which the
// data file still holds, and the client resends from there.
func (u *diskUpload) writeInfo(info Info, durable bool) error {
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("upload: encode info: %w", err)
	}
	tmp := u.s.path(u.id, ".info.tmp-"+newID()[:8])
	if err := writeSync(tmp, b); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, u.s.path(u.id, ".info")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("upload: record info: %w", err)
	}
	if !durable {
		return nil
	}
	return syncDir(u.s.dir)
}

func writeSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("upload: write info: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("upload: write info: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("upload: sync store directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("upload: sync store directory: %w", err)
	}
	return nil
}

// copyBufs holds the buffers chunks are streamed through: the only memory a
// write uses, whatever the chunk's size.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyChunk copies src to dst, which is at offset base, and tells a read
// error from a write error. It starts the writeback of what it wrote every
// writebackEvery bytes.
func copyChunk(dst *os.File, base int64, src io.Reader) (n int64, readErr, writeErr error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var flushed int64
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			w, werr := dst.Write(buf[:m])
			n += int64(w)
			if werr != nil {
				return n, nil, werr
			}
			if writebackEvery > 0 && n-flushed >= writebackEvery {
				startWriteback(dst, base+flushed, n-flushed)
				flushed = n
			}
		}
		if rerr == io.EOF {
			return n, nil, nil
		}
		if rerr != nil {
			return n, rerr, nil
		}
	}
}

func (u *diskUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader, verify func(int64, error) error) (int64, error) {
	info, err := u.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.Complete() {
		return 0, ErrFinished
	}
	if offset != info.Offset {
		return 0, ErrOffsetMismatch
	}
	f, err := os.OpenFile(u.s.path(u.id, ".part"), os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("upload: open upload file: %w", err)
	}
	defer f.Close()
	// Bytes past the recorded offset were never acknowledged (a request
	// that died before its fsync and record): cut them off.
	if err := f.Truncate(offset); err != nil {
		return 0, fmt.Errorf("upload: trim upload file: %w", err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("upload: seek upload file: %w", err)
	}
	limited := src
	if info.Size >= 0 {
		limited = io.LimitReader(src, info.Size-offset+1)
	}
	n, readErr, writeErr := copyChunk(f, offset, limited)
	discard := func(err error) (int64, error) {
		_ = f.Truncate(offset)
		return 0, err
	}
	if writeErr != nil {
		return discard(fmt.Errorf("upload: write upload file: %w", writeErr))
	}
	if info.Size >= 0 && offset+n > info.Size {
		return discard(ErrTooLarge)
	}
	if err := datasync(f); err != nil {
		return discard(fmt.Errorf("upload: sync upload file: %w", err))
	}
	if verify != nil {
		if err := verify(n, readErr); err != nil {
			return discard(err)
		}
	}
	if n == 0 {
		return 0, readErr
	}
	info.Offset = offset + n
	info.Updated = time.Now().UTC()
	if info.Complete() {
		if err := u.finalize(info); err != nil {
			return discard(err)
		}
		return n, readErr
	}
	if err := u.writeInfo(info, false); err != nil {
		return discard(err)
	}
	return n, readErr
}

// finalize renames the complete file into place, then records the offset.
func (u *diskUpload) finalize(info Info) error {
	if err := os.Rename(u.s.path(u.id, ".part"), u.s.path(u.id, ".data")); err != nil {
		return fmt.Errorf("upload: finalize upload file: %w", err)
	}
	if err := syncDir(u.s.dir); err != nil {
		return err
	}
	info.Offset = info.Size
	info.Expires = time.Time{}
	return u.writeInfo(info, true)
}

func (u *diskUpload) DeclareLength(ctx context.Context, size int64) error {
	info, err := u.Info(ctx)
	if err != nil {
		return err
	}
	if info.Size >= 0 {
		if info.Size == size {
			return nil
		}
		return fmt.Errorf("upload: length already declared as %d", info.Size)
	}
	if size < info.Offset {
		return ErrTooLarge
	}
	info.Size = size
	if info.Complete() {
		return u.finalize(info)
	}
	return u.writeInfo(info, true)
}

func (u *diskUpload) Terminate(context.Context) error {
	var first error
	// The info goes first: without it the upload no longer exists.
	for _, ext := range []string{".info", ".part", ".data", ".lock"} {
		if err := os.Remove(u.s.path(u.id, ext)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("upload: remove upload: %w", err)
		}
	}
	return first
}

// Concat implements [Concater]: it copies the parts' files into this one
// (copy_file_range where the kernel offers it) and renames it into place.
func (u *diskUpload) Concat(ctx context.Context, parts []Upload) error {
	info, err := u.Info(ctx)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(u.s.path(u.id, ".part"), os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("upload: open upload file: %w", err)
	}
	defer f.Close()
	var total int64
	for _, p := range parts {
		dp, ok := p.(*diskUpload)
		if !ok || dp.s != u.s {
			return fmt.Errorf("upload: concatenate: part from another store: %w", ErrUnsupported)
		}
		src, err := os.Open(u.s.path(dp.id, ".data"))
		if err != nil {
			return fmt.Errorf("upload: concatenate: open part: %w", err)
		}
		n, err := io.Copy(f, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("upload: concatenate: %w", err)
		}
		total += n
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("upload: sync upload file: %w", err)
	}
	info.Size = total
	info.Updated = time.Now().UTC()
	return u.finalize(info)
}

// Open implements [Opener].
func (u *diskUpload) Open(ctx context.Context) (io.ReadSeekCloser, error) {
	info, err := u.Info(ctx)
	if err != nil {
		return nil, err
	}
	if !info.Complete() {
		return nil, fmt.Errorf("upload: upload %s is not complete", u.id)
	}
	f, err := os.Open(u.s.path(u.id, ".data"))
	if err != nil {
		return nil, fmt.Errorf("upload: open upload: %w", err)
	}
	return f, nil
}
