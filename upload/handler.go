package upload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tusVersion is the protocol version the handler speaks.
const tusVersion = "1.0.0"

const tusExtensions = "creation,creation-with-upload,creation-defer-length,expiration,checksum,checksum-trailer,termination,concatenation"

// StatusChecksumMismatch is the status the checksum extension defines for a
// chunk whose checksum does not match.
const StatusChecksumMismatch = 460

// Handler serves the tus 1.0.0 resumable upload protocol with the
// creation, creation-with-upload, creation-defer-length, expiration,
// checksum, checksum-trailer, termination and concatenation extensions,
// over a [Store]. Mount it at Options.BasePath:
//
//	mux.Handle("/files/", h)
//
// Requests may tunnel PATCH and DELETE through POST with
// X-HTTP-Method-Override. An upload's URL (its random ID) is the capability
// to continue, inspect or terminate it; authorize creation with
// Options.PreCreate.
type Handler struct {
	store Store
	opts  Options
	dl    ServeOptions

	mu    sync.Mutex
	locks map[string]struct{} // uploads with a request writing or deleting
	gone  map[string]struct{} // recently expired or terminated: 410, bounded

	active                                                                atomic.Int64
	created, completed, bytes, expired, terminated, checksums, locked, hp atomic.Uint64

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Stats is a snapshot of a [Handler]'s counters.
type Stats struct {
	Active           int64  `json:"active"`            // PATCH (and creation-with-upload) bodies being received now
	Created          uint64 `json:"created"`           // uploads created
	Completed        uint64 `json:"completed"`         // uploads whose last byte was committed
	BytesReceived    uint64 `json:"bytes_received"`    // bytes committed
	Expired          uint64 `json:"expired"`           // unfinished uploads removed after Upload-Expires
	Terminated       uint64 `json:"terminated"`        // uploads removed by DELETE
	ChecksumFailures uint64 `json:"checksum_failures"` // chunks discarded for a checksum mismatch (460)
	LockConflicts    uint64 `json:"lock_conflicts"`    // requests refused because another held the upload (423)
	HookPanics       uint64 `json:"hook_panics"`       // hooks that panicked or called runtime.Goexit
}

// NewHandler returns a handler over store. It starts the expiration
// sweeper when the store implements [Lister] and neither Expiration nor
// SweepInterval is negative; [Handler.Close] stops it.
func NewHandler(store Store, opts *Options) (*Handler, error) {
	if store == nil {
		return nil, errors.New("upload: NewHandler needs a store")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dl, _ := o.DownloadOptions.withDefaults()
	h := &Handler{store: store, opts: o, dl: dl, locks: map[string]struct{}{}, gone: map[string]struct{}{}, stop: make(chan struct{})}
	if _, ok := store.(Lister); ok && o.Expiration > 0 && o.SweepInterval > 0 {
		h.wg.Add(1)
		go h.sweeper()
	}
	return h, nil
}

// Close stops the sweeper and waits for it. Requests still running finish
// normally.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() { close(h.stop) })
	h.wg.Wait()
	return nil
}

// Stats returns a snapshot of the handler's counters.
func (h *Handler) Stats() Stats {
	return Stats{
		Active: h.active.Load(), Created: h.created.Load(), Completed: h.completed.Load(),
		BytesReceived: h.bytes.Load(), Expired: h.expired.Load(), Terminated: h.terminated.Load(),
		ChecksumFailures: h.checksums.Load(), LockConflicts: h.locked.Load(), HookPanics: h.hp.Load(),
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); o != "" && method == http.MethodPost {
		method = strings.ToUpper(strings.TrimSpace(o))
	}
	if h.cors(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, h.opts.BasePath)
	if !ok && r.URL.Path+"/" == h.opts.BasePath {
		rest, ok = "", true
	}
	if !ok || strings.Contains(rest, "/") {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Tus-Resumable", tusVersion)
	if method == http.MethodOptions {
		hd.Set("Tus-Version", tusVersion)
		hd.Set("Tus-Extension", tusExtensions)
		hd.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
		if h.opts.MaxSize > 0 {
			hd.Set("Tus-Max-Size", strconv.FormatInt(h.opts.MaxSize, 10))
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if method != http.MethodGet && r.Header.Get("Tus-Resumable") != tusVersion {
		hd.Set("Tus-Version", tusVersion)
		fail(w, http.StatusPreconditionFailed, "unsupported Tus-Resumable version; this server speaks 1.0.0")
		return
	}
	if rest == "" {
		if method != http.MethodPost {
			hd.Set("Allow", "OPTIONS, POST")
			fail(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		h.create(w, r)
		return
	}
	switch method {
	case http.MethodHead:
		h.head(w, r, rest)
	case http.MethodPatch:
		h.patch(w, r, rest)
	case http.MethodDelete:
		h.delete(w, r, rest)
	case http.MethodGet:
		if h.opts.Download == nil {
			hd.Set("Allow", "OPTIONS, HEAD, PATCH, DELETE")
			fail(w, http.StatusMethodNotAllowed, "downloads are not enabled")
			return
		}
		h.download(w, r, rest)
	default:
		hd.Set("Allow", "OPTIONS, HEAD, PATCH, DELETE, GET")
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// statusOf maps an error from a store or a check to a status and message.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrBadID):
		return http.StatusNotFound, "upload not found"
	case errors.Is(err, ErrLocked):
		return http.StatusLocked, "another request is writing to this upload; retry after a HEAD"
	case errors.Is(err, ErrOffsetMismatch):
		return http.StatusConflict, "Upload-Offset does not match the upload's offset; ask with HEAD"
	case errors.Is(err, ErrChecksumMismatch):
		return StatusChecksumMismatch, "checksum mismatch; the chunk was discarded"
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "upload would exceed its length or the maximum size"
	case errors.Is(err, ErrFinished):
		return http.StatusForbidden, "upload is complete"
	case errors.Is(err, errAlgo), errors.Is(err, errChecksum), errors.Is(err, errMetadata), errors.Is(err, errLength), errors.Is(err, errTrailer):
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), "upload: ")
	case errors.Is(err, errBodyCut):
		return http.StatusBadRequest, "request body ended early"
	case errors.Is(err, ErrUnsupported):
		return http.StatusNotImplemented, "not supported by this server's store"
	}
	return http.StatusInternalServerError, "internal error"
}

func failErr(w http.ResponseWriter, err error) {
	st, msg := statusOf(err)
	fail(w, st, msg)
}

// hookStatus turns a hook's error into a response.
func hookFail(w http.ResponseWriter, err error) {
	var he *HookError
	var pe *PanicError
	switch {
	case errors.As(err, &he) && he.Status >= 400 && he.Status <= 599:
		fail(w, he.Status, he.Message)
	case errors.As(err, &pe):
		fail(w, http.StatusInternalServerError, "internal error")
	default:
		fail(w, http.StatusForbidden, "rejected")
	}
}

// runHook runs fn on a goroutine of its own so that a panic or a
// runtime.Goexit in it is recovered and counted instead of killing the
// request's goroutine (or the process).
func (h *Handler) runHook(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		normal := false
		defer func() {
			if normal {
				return
			}
			h.hp.Add(1)
			done <- &PanicError{Value: recover()}
		}()
		err := fn()
		normal = true
		done <- err
	}()
	return <-done
}

func (h *Handler) markGone(id string) {
	h.mu.Lock()
	if len(h.gone) >= 4096 {
		clear(h.gone)
	}
	h.gone[id] = struct{}{}
	h.mu.Unlock()
}

// lookup returns the upload and its info, or writes 404/410.
func (h *Handler) lookup(w http.ResponseWriter, ctx context.Context, id string) (Upload, Info, bool) {
	up, err := h.store.GetUpload(ctx, id)
	var info Info
	if err == nil {
		info, err = up.Info(ctx)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			h.mu.Lock()
			_, gone := h.gone[id]
			h.mu.Unlock()
			if gone {
				fail(w, http.StatusGone, "upload expired or terminated")
				return nil, info, false
			}
		}
		failErr(w, err)
		return nil, info, false
	}
	if h.expiredNow(info) {
		if unlock, err := h.lock(ctx, id, up); err == nil {
			if up.Terminate(ctx) == nil {
				h.expired.Add(1)
				h.markGone(id)
			}
			unlock()
		}
		fail(w, http.StatusGone, "upload expired")
		return nil, info, false
	}
	return up, info, true
}

func (h *Handler) expiredNow(info Info) bool {
	return !info.Expires.IsZero() && !info.Complete() && time.Now().After(info.Expires)
}

// lock takes the handler's in-process lock on id and the store's own lock
// where the upload has one.
func (h *Handler) lock(ctx context.Context, id string, up Upload) (func(), error) {
	h.mu.Lock()
	if _, held := h.locks[id]; held {
		h.mu.Unlock()
		h.locked.Add(1)
		return nil, ErrLocked
	}
	h.locks[id] = struct{}{}
	h.mu.Unlock()
	release := func() {
		h.mu.Lock()
		delete(h.locks, id)
		h.mu.Unlock()
	}
	if l, ok := up.(Locker); ok {
		unlock, err := l.Lock(ctx)
		if err != nil {
			release()
			if errors.Is(err, ErrLocked) {
				h.locked.Add(1)
			}
			return nil, err
		}
		return func() { unlock(); release() }, nil
	}
	return release, nil
}

func (h *Handler) uploadURL(id string) string { return h.opts.BasePath + id }

func (h *Handler) setExpires(w http.ResponseWriter, info Info) {
	if !info.Expires.IsZero() && !info.Complete() {
		w.Header().Set("Upload-Expires", info.Expires.UTC().Format(http.TimeFormat))
	}
}

func (h *Handler) head(w http.ResponseWriter, r *http.Request, id string) {
	_, info, ok := h.lookup(w, r.Context(), id)
	if !ok {
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
	if info.Size < 0 {
		hd.Set("Upload-Defer-Length", "1")
	} else {
		hd.Set("Upload-Length", strconv.FormatInt(info.Size, 10))
	}
	if len(info.Metadata) > 0 {
		hd.Set("Upload-Metadata", EncodeMetadata(info.Metadata))
	}
	switch {
	case info.Partial:
		hd.Set("Upload-Concat", "partial")
	case info.Final:
		urls := make([]string, len(info.Parts))
		for i, p := range info.Parts {
			urls[i] = h.uploadURL(p)
		}
		hd.Set("Upload-Concat", "final;"+strings.Join(urls, " "))
	}
	h.setExpires(w, info)
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, id string) {
	up, _, ok := h.lookup(w, r.Context(), id)
	if !ok {
		return
	}
	unlock, err := h.lock(r.Context(), id, up)
	if err != nil {
		failErr(w, err)
		return
	}
	defer unlock()
	if err := up.Terminate(context.WithoutCancel(r.Context())); err != nil {
		failErr(w, err)
		return
	}
	h.terminated.Add(1)
	h.markGone(id)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) download(w http.ResponseWriter, r *http.Request, id string) {
	up, info, ok := h.lookup(w, r.Context(), id)
	if !ok {
		return
	}
	if !info.Complete() {
		fail(w, http.StatusNotFound, "upload not complete")
		return
	}
	op, ok := up.(Opener)
	if !ok {
		failErr(w, ErrUnsupported)
		return
	}
	if err := h.runHook(func() error { return h.opts.Download(r, info) }); err != nil {
		hookFail(w, err)
		return
	}
	f, err := op.Open(r.Context())
	if err != nil {
		failErr(w, err)
		return
	}
	defer f.Close()
	o := h.dl
	o.Filename = info.Metadata["filename"]
	o.ModTime = info.Updated
	o.ETag = StrongETag(info.ID, info.Size, info.Updated)
	_ = ServeContent(w, r, f, &o)
}

func (h *Handler) cors(w http.ResponseWriter, r *http.Request) (preflightDone bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(h.opts.CORSOrigins) == 0 {
		return false
	}
	allowed := false
	for _, o := range h.opts.CORSOrigins {
		if o == "*" || o == origin {
			allowed = true
			break
		}
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	if !allowed {
		return false
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Expose-Headers", "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Content-Range, Content-Disposition, ETag")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", "POST, GET, HEAD, PATCH, DELETE, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, Content-Type, Upload-Length, Upload-Offset, Tus-Resumable, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Checksum, Range, If-Range")
		hd.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

func (h *Handler) sweeper() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			_, _ = h.Sweep(context.Background())
		}
	}
}

// Sweep removes every expired unfinished upload of the store now, as the
// sweeper does every Options.SweepInterval, and returns how many it
// removed. An upload being written to is skipped. The store must implement
// [Lister] ([ErrUnsupported] otherwise).
func (h *Handler) Sweep(ctx context.Context) (int, error) {
	l, ok := h.store.(Lister)
	if !ok {
		return 0, ErrUnsupported
	}
	ids, err := l.ListUploads(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		up, err := h.store.GetUpload(ctx, id)
		if err != nil {
			continue
		}
		info, err := up.Info(ctx)
		if err != nil || !h.expiredNow(info) {
			continue
		}
		unlock, err := h.lock(ctx, id, up)
		if err != nil {
			continue
		}
		if up.Terminate(ctx) == nil {
			h.expired.Add(1)
			h.markGone(id)
			n++
		}
		unlock()
	}
	return n, nil
}
