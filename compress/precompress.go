package compress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
)

// PrecompressStats is what [Precompress] did.
type PrecompressStats struct {
	Files    int   // files worth compressing: a listed type and at least MinSize bytes
	Written  int   // sidecars written
	Current  int   // sidecars already up to date, left alone
	Dropped  int   // sidecars not written (and stale ones removed) because they were not smaller
	BytesIn  int64 // bytes of the originals of the sidecars written
	BytesOut int64 // bytes of the sidecars written
}

// Precompress writes a sidecar next to every file under dir that is worth
// compressing, for [FileServer] to serve: name.zst (zstd level 19, within
// RFC 9659's 8 MiB window), name.br (brotli 11) and name.gz (gzip 9), one
// per coding in [Options].Encodings. A file is worth it when the type of
// its extension (per [mime.TypeByExtension]) is in the
// [Options].ContentTypes list and it has at least [Options].MinSize bytes;
// the other options do not apply, sidecars are always made at maximum
// effort. opts may be nil.
//
// Precompress is incremental: a sidecar carries its original's modification
// time, and one that still matches is left alone. A sidecar that would not
// be smaller than its original is not written, and an old one is removed.
// Sidecars are written to a temporary file and renamed into place, so a
// server never sees half of one. Directories whose name starts with "." are
// skipped.
//
// Cancelling ctx stops the walk between files and within a file, leaving
// the sidecars written so far; the error then wraps ctx.Err(). The command
// compress/cmd/precompress runs it from a generate directive. Two runs on
// the same directory at once are safe but wasteful: each sidecar is
// replaced whole, the last rename winning.
func Precompress(ctx context.Context, dir string, opts *Options) (PrecompressStats, error) {
	var st PrecompressStats
	cfg, err := newConfig(opts)
	if err != nil {
		return st, err
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || isSidecarName(p) {
			return nil
		}
		ctype := mime.TypeByExtension(filepath.Ext(p))
		if ctype == "" || !cfg.types.match(ctype) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() < int64(cfg.minSize) {
			return nil
		}
		st.Files++
		for _, name := range cfg.encodings {
			if err := precompressFile(ctx, p, info, codingIndex(name), &st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("compress: precompress %s: %w", dir, err)
	}
	return st, nil
}

// precompressFile writes the sidecar of one coding for the file p.
func precompressFile(ctx context.Context, p string, info fs.FileInfo, coding int, st *PrecompressStats) error {
	side := p + sidecarExt[coding]
	if si, err := os.Stat(side); err == nil && si.Mode().IsRegular() && si.ModTime().Equal(info.ModTime()) {
		st.Current++
		return nil
	}
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(side)+".*.tmp")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	enc, err := newStaticEncoder(coding, bw)
	if err != nil {
		return err
	}
	if _, err := io.Copy(enc, ctxReader{ctx, src}); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	out, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if out >= info.Size() {
		st.Dropped++
		if err := os.Remove(side); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), info.ModTime(), info.ModTime()); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), info.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), side); err != nil {
		return err
	}
	committed = true
	st.Written++
	st.BytesIn += info.Size()
	st.BytesOut += out
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
