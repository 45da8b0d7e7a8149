package upload

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	concat := r.Header.Get("Upload-Concat")
	if strings.HasPrefix(concat, "final;") {
		h.createFinal(w, r, strings.TrimPrefix(concat, "final;"))
		return
	}
	if concat != "" && concat != "partial" {
		fail(w, http.StatusBadRequest, "Upload-Concat must be \"partial\" or \"final;<urls>\"")
		return
	}
	ul, dl := r.Header.Get("Upload-Length"), r.Header.Get("Upload-Defer-Length")
	var size int64
	switch {
	case dl != "" && (dl != "1" || ul != ""):
		fail(w, http.StatusBadRequest, "send either Upload-Length or Upload-Defer-Length: 1")
		return
	case dl == "1":
		size = -1
	default:
		n, err := parseLength(ul)
		if err != nil {
			fail(w, http.StatusBadRequest, "missing or malformed Upload-Length")
			return
		}
		size = n
	}
	if h.opts.MaxSize > 0 && size > h.opts.MaxSize {
		fail(w, http.StatusRequestEntityTooLarge, "Upload-Length exceeds Tus-Max-Size")
		return
	}
	meta, err := ParseMetadata(r.Header.Get("Upload-Metadata"), h.opts.MaxMetadataSize)
	if err != nil {
		failErr(w, err)
		return
	}
	withBody := isOctetStream(r) && r.ContentLength != 0
	if withBody && size >= 0 && r.ContentLength > size {
		fail(w, http.StatusRequestEntityTooLarge, "body is longer than Upload-Length")
		return
	}
	now := time.Now().UTC()
	info := Info{Size: size, Metadata: meta, Partial: concat == "partial", Created: now, Updated: now}
	if h.opts.Expiration > 0 {
		info.Expires = now.Add(h.opts.Expiration)
	}
	if !h.preCreate(w, r, info) {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	up, err := h.store.NewUpload(ctx, info)
	if err != nil {
		failErr(w, err)
		return
	}
	h.created.Add(1)
	if info, err = up.Info(ctx); err != nil {
		failErr(w, err)
		return
	}
	w.Header().Set("Location", h.uploadURL(info.ID))
	if info.Complete() { // an empty upload
		h.finish(w, r, up, info.ID)
	} else if withBody {
		unlock, err := h.lock(ctx, info.ID, up)
		if err != nil {
			failErr(w, err)
			return
		}
		info, err = h.receive(w, r, up, info)
		unlock()
		if err != nil {
			failErr(w, err)
			return
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
	}
	h.setExpires(w, info)
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) preCreate(w http.ResponseWriter, r *http.Request, info Info) bool {
	if h.opts.PreCreate == nil {
		return true
	}
	if err := h.runHook(func() error { return h.opts.PreCreate(r, info) }); err != nil {
		hookFail(w, err)
		return false
	}
	return true
}

// partID extracts an upload ID from a URL in Upload-Concat.
func (h *Handler) partID(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	id, ok := strings.CutPrefix(u.Path, h.opts.BasePath)
	return id, ok && id != "" && !strings.Contains(id, "/")
}

func (h *Handler) createFinal(w http.ResponseWriter, r *http.Request, list string) {
	if r.Header.Get("Upload-Length") != "" || r.Header.Get("Upload-Defer-Length") != "" {
		fail(w, http.StatusBadRequest, "a final upload must not send Upload-Length")
		return
	}
	fields := strings.Fields(list)
	if len(fields) == 0 || len(fields) > h.opts.MaxParts {
		fail(w, http.StatusBadRequest, "Upload-Concat: final needs between 1 and "+strconv.Itoa(h.opts.MaxParts)+" partial upload URLs")
		return
	}
	ctx := r.Context()
	parts := make([]Upload, len(fields))
	ids := make([]string, len(fields))
	var size int64
	for i, f := range fields {
		id, ok := h.partID(f)
		if !ok {
			fail(w, http.StatusBadRequest, "Upload-Concat names a URL outside this server")
			return
		}
		up, info, ok := h.lookup(w, ctx, id)
		if !ok {
			return
		}
		if !info.Partial || !info.Complete() {
			fail(w, http.StatusBadRequest, "Upload-Concat: every part must be a complete partial upload")
			return
		}
		parts[i], ids[i] = up, id
		size += info.Size
	}
	if h.opts.MaxSize > 0 && size > h.opts.MaxSize {
		fail(w, http.StatusRequestEntityTooLarge, "the concatenated upload exceeds Tus-Max-Size")
		return
	}
	meta, err := ParseMetadata(r.Header.Get("Upload-Metadata"), h.opts.MaxMetadataSize)
	if err != nil {
		failErr(w, err)
		return
	}
	now := time.Now().UTC()
	info := Info{Size: size, Metadata: meta, Final: true, Parts: ids, Created: now, Updated: now}
	if !h.preCreate(w, r, info) {
		return
	}
	cctx := context.WithoutCancel(ctx)
	up, err := h.store.NewUpload(cctx, info)
	if err != nil {
		failErr(w, err)
		return
	}
	c, ok := up.(Concater)
	if !ok {
		_ = up.Terminate(cctx)
		failErr(w, ErrUnsupported)
		return
	}
	h.created.Add(1)
	if err := c.Concat(cctx, parts); err != nil {
		_ = up.Terminate(cctx)
		failErr(w, err)
		return
	}
	info, _ = up.Info(cctx)
	w.Header().Set("Location", h.uploadURL(info.ID))
	h.finish(w, r, up, info.ID)
	w.WriteHeader(http.StatusCreated)
}
