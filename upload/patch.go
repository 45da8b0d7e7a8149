package upload

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func isOctetStream(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/offset+octet-stream"
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request, id string) {
	if !isOctetStream(r) {
		fail(w, http.StatusUnsupportedMediaType, "PATCH needs Content-Type: application/offset+octet-stream")
		return
	}
	off, err := parseLength(r.Header.Get("Upload-Offset"))
	if err != nil {
		fail(w, http.StatusBadRequest, "missing or malformed Upload-Offset")
		return
	}
	up, info, ok := h.lookup(w, r.Context(), id)
	if !ok {
		return
	}
	if info.Final {
		fail(w, http.StatusForbidden, "a final upload cannot be patched")
		return
	}
	unlock, err := h.lock(r.Context(), id, up)
	if err != nil {
		failErr(w, err)
		return
	}
	defer unlock()
	ctx := context.WithoutCancel(r.Context())
	if info, err = up.Info(ctx); err != nil {
		failErr(w, err)
		return
	}
	if ul := r.Header.Get("Upload-Length"); ul != "" {
		size, err := parseLength(ul)
		switch {
		case err != nil:
			fail(w, http.StatusBadRequest, "malformed Upload-Length")
			return
		case info.Size >= 0 && size != info.Size:
			fail(w, http.StatusBadRequest, "Upload-Length was already declared")
			return
		case h.opts.MaxSize > 0 && size > h.opts.MaxSize:
			fail(w, http.StatusRequestEntityTooLarge, "Upload-Length exceeds Tus-Max-Size")
			return
		case size < info.Offset:
			fail(w, http.StatusBadRequest, "Upload-Length is below the upload's offset")
			return
		case info.Size < 0:
			if err := up.DeclareLength(ctx, size); err != nil {
				failErr(w, err)
				return
			}
			info.Size = size
			if info.Complete() {
				h.finish(w, r, up, id)
				h.patched(w, r, info)
				return
			}
		}
	}
	if off != info.Offset {
		failErr(w, ErrOffsetMismatch)
		return
	}
	if info.Complete() {
		if r.ContentLength != 0 {
			failErr(w, ErrTooLarge) // bytes past the end
			return
		}
		h.patched(w, r, info)
		return
	}
	info, err = h.receive(w, r, up, info)
	if err != nil {
		failErr(w, err)
		return
	}
	h.patched(w, r, info)
}

func (h *Handler) patched(w http.ResponseWriter, r *http.Request, info Info) {
	w.Header().Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
	h.setExpires(w, info)
	w.WriteHeader(http.StatusNoContent)
}

var (
	errTrailer = errors.New("upload: the Upload-Checksum trailer is missing or malformed")
	errBodyCut = errors.New("upload: request body ended early")
)

// receive streams the request body into the upload at info.Offset, checking
// the length limits and the checksum (header or trailer) before the chunk
// is committed. It returns the updated info; bytes committed before a
// read error are kept and reported by a nil error when the store kept
// them.
func (h *Handler) receive(w http.ResponseWriter, r *http.Request, up Upload, info Info) (Info, error) {
	off := info.Offset
	limit := info.Size
	if limit < 0 {
		limit = h.opts.MaxSize // negative: none
	}
	if limit >= 0 && r.ContentLength > limit-off {
		return info, ErrTooLarge
	}
	var (
		algo   string
		digest []byte
		sums   map[string]hashWriter
	)
	_, trailer := r.Trailer["Upload-Checksum"]
	if hdr := r.Header.Get("Upload-Checksum"); hdr != "" {
		a, d, err := ParseChecksum(hdr)
		if err != nil {
			return info, err
		}
		algo, digest = a, d
		hh, _ := newHash(a)
		sums = map[string]hashWriter{a: hh}
	} else if trailer {
		// The algorithm is only known once the trailer arrives.
		sums = map[string]hashWriter{}
		for a := range strings.SplitSeq(checksumAlgorithms, ",") {
			hh, _ := newHash(a)
			sums[a] = hh
		}
	}
	body := io.Reader(&idleReader{r: r.Body, rc: http.NewResponseController(w), idle: h.opts.IdleTimeout})
	if limit >= 0 {
		body = io.LimitReader(body, limit-off+1)
	}
	if sums != nil {
		body = &hashReader{r: body, sums: sums}
	}
	verify := func(n int64, readErr error) error {
		if limit >= 0 && off+n > limit {
			return ErrTooLarge
		}
		if sums == nil {
			return nil
		}
		if readErr != nil {
			return errBodyCut // a cut chunk cannot be verified
		}
		if trailer && algo == "" {
			a, d, err := ParseChecksum(r.Trailer.Get("Upload-Checksum"))
			if err != nil {
				if errors.Is(err, errAlgo) {
					return err
				}
				return errTrailer
			}
			algo, digest = a, d
		}
		if string(sums[algo].Sum(nil)) != string(digest) {
			h.checksums.Add(1)
			return ErrChecksumMismatch
		}
		return nil
	}
	ctx := context.WithoutCancel(r.Context())
	h.active.Add(1)
	n, err := up.WriteChunk(ctx, off, body, verify)
	h.active.Add(-1)
	if h.opts.IdleTimeout > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
	h.bytes.Add(uint64(n))
	if n == 0 && err != nil {
		return info, err
	}
	info, ierr := up.Info(ctx)
	if ierr != nil {
		return info, ierr
	}
	if info.Complete() {
		h.finish(w, r, up, info.ID)
	}
	if err != nil {
		return info, errBodyCut
	}
	return info, nil
}

// finish counts a completed upload and runs PostFinish.
func (h *Handler) finish(_ http.ResponseWriter, r *http.Request, up Upload, _ string) {
	h.completed.Add(1)
	if h.opts.PostFinish == nil {
		return
	}
	info, err := up.Info(context.WithoutCancel(r.Context()))
	if err != nil {
		return
	}
	_ = h.runHook(func() error { h.opts.PostFinish(r, info); return nil })
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

type hashReader struct {
	r    io.Reader
	sums map[string]hashWriter
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	for _, s := range h.sums {
		s.Write(p[:n])
	}
	return n, err
}

// idleReader pushes the connection's read deadline forward before each
// read, so a body that stalls for idle is cut while a slow but moving one
// is not.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	off  bool
}

func (i *idleReader) Read(p []byte) (int, error) {
	if i.idle > 0 && !i.off {
		if err := i.rc.SetReadDeadline(time.Now().Add(i.idle)); err != nil {
			i.off = true // not supported by this ResponseWriter
		}
	}
	return i.r.Read(p)
}
