package compress

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// sidecarExt maps a coding to the file name suffix of its sidecar.
var sidecarExt = [numCodings]string{codingGzip: ".gz", codingBrotli: ".br", codingZstd: ".zst"}

// isSidecarName reports whether name ends in a sidecar suffix.
func isSidecarName(name string) bool {
	for _, ext := range sidecarExt {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// FileServer returns a handler that serves the files of fsys, preferring a
// precompressed sidecar when the client accepts its coding: for a request
// of /app.js it looks for app.js.zst, app.js.br and app.js.gz, negotiates
// among the ones present exactly as the middleware does among codings
// (q-values first, then the order of [Options].Encodings), and sends the sidecar's
// bytes with Content-Encoding, the Content-Type of app.js and an ETag of
// the sidecar's own. A sidecar older than its original is stale and
// ignored. Without an acceptable sidecar the file is sent through the
// middleware, so it is compressed on the fly when it qualifies (see [New];
// opts configure that middleware) and sent as is otherwise. Range and
// conditional requests are answered by [net/http.ServeContent], on whichever
// bytes are sent.
//
// ETags are strong and made from the content (a hash of the bytes sent),
// so they survive deploys to several machines and work for [embed.FS],
// which has no modification times. The hash of a file is computed on its
// first request and kept while its size and modification time stay the
// same.
//
// A directory is served as its index.html (redirecting /dir to /dir/);
// there are no directory listings. Only GET and HEAD are allowed. Paths are
// cleaned as [net/http.FileServer] cleans them, so no request reaches
// outside fsys. The handler is safe for concurrent use.
func FileServer(fsys fs.FS, opts *Options) (http.Handler, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	return c.Handler(&fileServer{fsys: fsys, c: c, tags: map[string]etagEntry{}}), nil
}

// fileServer is the handler FileServer wraps with the middleware.
type fileServer struct {
	fsys fs.FS
	c    *Compressor

	mu   sync.Mutex // protects tags
	tags map[string]etagEntry
}

// etagEntry is a cached content hash, valid while size and modTime match.
type etagEntry struct {
	size    int64
	modTime time.Time
	tag     string
}

// maxTags bounds the ETag cache; past it, new tags are computed per request.
const maxTags = 10000

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") {
		upath = "/" + upath
	}
	name := strings.TrimPrefix(path.Clean(upath), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	info, err := fs.Stat(s.fsys, name)
	if err != nil {
		fileError(w, err)
		return
	}
	if info.IsDir() {
		if !strings.HasSuffix(upath, "/") {
			redirect(w, r, path.Base(upath)+"/")
			return
		}
		name = path.Join(name, "index.html")
		if info, err = fs.Stat(s.fsys, name); err != nil {
			fileError(w, err)
			return
		}
	}
	if !info.Mode().IsRegular() {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}

	a := parseAcceptEncoding(r.Header["Accept-Encoding"])
	var sidecar fs.FileInfo
	pos := a.choose(s.c.enabled, func(pos int) bool {
		si, err := fs.Stat(s.fsys, name+sidecarExt[s.c.enabled[pos]])
		if err != nil || !si.Mode().IsRegular() || si.ModTime().Before(info.ModTime()) {
			return false
		}
		sidecar = si
		return true
	})
	h := w.Header()
	if pos >= 0 {
		coding := s.c.enabled[pos]
		sname := name + sidecarExt[coding]
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			if ctype, err = s.sniff(name); err != nil {
				fileError(w, err)
				return
			}
		}
		tag, err := s.etag(sname, sidecar)
		if err != nil {
			fileError(w, err)
			return
		}
		h.Set("Content-Type", ctype)
		h.Set("Content-Encoding", codingNames[coding])
		h.Set("Etag", tag)
		s.serve(w, r, name, sname, info.ModTime(), sidecar.Size())
		return
	}
	tag, err := s.etag(name, info)
	if err != nil {
		fileError(w, err)
		return
	}
	h.Set("Etag", tag)
	s.serve(w, r, name, name, info.ModTime(), info.Size())
}

// serve answers with the content of file, named name for its type and
// Range handling.
func (s *fileServer) serve(w http.ResponseWriter, r *http.Request, name, file string, modTime time.Time, size int64) {
	f, err := s.fsys.Open(file)
	if err != nil {
		fileError(w, err)
		return
	}
	defer f.Close()
	var content io.ReadSeeker
	switch f := f.(type) {
	case io.ReadSeeker:
		content = f
	case io.ReaderAt:
		content = io.NewSectionReader(f, 0, size)
	default:
		b, err := io.ReadAll(io.LimitReader(f, size))
		if err != nil {
			fileError(w, err)
			return
		}
		content = bytes.NewReader(b)
	}
	http.ServeContent(w, r, name, modTime, content)
}

// sniff returns the Content-Type net/http would sniff from the start of
// the file name.
func (s *fileServer) sniff(name string) (string, error) {
	f, err := s.fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var buf [sniffLen]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", err
	}
	return http.DetectContentType(buf[:n]), nil
}

// etag returns the strong ETag of the file name: a hash of its content,
// from the cache when size and modification time still match.
func (s *fileServer) etag(name string, info fs.FileInfo) (string, error) {
	s.mu.Lock()
	e, ok := s.tags[name]
	s.mu.Unlock()
	if ok && e.size == info.Size() && e.modTime.Equal(info.ModTime()) {
		return e.tag, nil
	}
	f, err := s.fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		return "", err
	}
	var sum [sha256.Size]byte
	tag := `"` + base64.RawURLEncoding.EncodeToString(hash.Sum(sum[:0])[:18]) + `"`
	s.mu.Lock()
	if len(s.tags) < maxTags {
		s.tags[name] = etagEntry{size: info.Size(), modTime: info.ModTime(), tag: tag}
	}
	s.mu.Unlock()
	return tag, nil
}

// fileError answers with the status an fs error deserves.
func fileError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, "404 page not found", http.StatusNotFound)
	case errors.Is(err, fs.ErrPermission):
		http.Error(w, "403 Forbidden", http.StatusForbidden)
	default:
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
	}
}

// redirect sends a relative redirect to target, keeping the query, as
// net/http.FileServer does for directories.
func redirect(w http.ResponseWriter, r *http.Request, target string) {
	if q := r.URL.RawQuery; q != "" {
		target += "?" + q
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusMovedPermanently)
}
