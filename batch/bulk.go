package batch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [BulkOptions].
const (
	// DefaultMaxItems is the default of BulkOptions.MaxItems.
	DefaultMaxItems = 1000
	// DefaultMaxBytes is the default of BulkOptions.MaxBytes: 1 MiB.
	DefaultMaxBytes = 1 << 20
	// DefaultConcurrency is the default of BulkOptions.Concurrency.
	DefaultConcurrency = 8
	// DefaultBodyTimeout is the default of BulkOptions.BodyTimeout.
	DefaultBodyTimeout = 30 * time.Second
)

// BulkOptions configure a [BulkHandler]. Nil options are valid and mean the
// defaults; [NewBulkHandler] copies them.
type BulkOptions struct {
	// MaxItems is the most items one request may carry; more is answered
	// 413 with nothing processed. Zero: [DefaultMaxItems] (1000). Negative:
	// no limit.
	MaxItems int

	// MaxBytes is the largest request body accepted; larger is answered 413
	// with nothing processed. Zero: [DefaultMaxBytes] (1 MiB). Negative: no
	// limit.
	MaxBytes int64

	// BodyTimeout bounds the time from the start of ServeHTTP until the
	// whole body has arrived; a client that stalls is answered 408 with
	// nothing processed, even when the server has no ReadTimeout. It is
	// set through http.ResponseController, so it needs a ResponseWriter
	// that supports read deadlines (net/http's HTTP/1 and HTTP/2 servers,
	// and middleware wrappers with an Unwrap method); elsewhere it has no
	// effect. A server ReadTimeout as short or shorter is never extended.
	// Zero: [DefaultBodyTimeout] (30s). Negative: no deadline of its own
	// (the server's ReadTimeout, if any, still applies).
	BodyTimeout time.Duration

	// Concurrency is how many items of one request run at once. Zero:
	// [DefaultConcurrency] (8). Negative: one at a time, in order.
	Concurrency int

	// SuccessStatus is the status of an item whose function returned no
	// error, e.g. http.StatusCreated. Zero: 200.
	SuccessStatus int

	// DisallowUnknownFields makes an item with a JSON field that T does not
	// have fail (400) instead of ignoring the field. False: ignored.
	DisallowUnknownFields bool

	// Problem maps an item's error (a [*PanicError] when the function, or
	// T's UnmarshalJSON, panicked; [ErrGoexit] when it called
	// runtime.Goexit) to what the client is told; it is also the place to
	// log it. It may return nil for the default, and a panic in it counts
	// as nil. Nil: a [*Problem] found in the error's chain is sent as is;
	// any other error becomes a 500 without detail, so internal error text
	// never reaches the client.
	Problem func(r *http.Request, index int, err error) *Problem

	// Idempotency stores responses for requests that carry an
	// Idempotency-Key header: a retry with the same key and the same
	// request (method, path, query and body; see [Fingerprint]) gets the
	// stored response (with header Idempotent-Replayed: true) instead of
	// running the items again; the same key with a different request is
	// answered 422, and a retry while the first is still running 409.
	// Once a request is claimed its items run to the end even if the
	// client goes away, so the retry finds the whole response. Nil: the
	// header is ignored. [NewMemoryStore] is the in-process store.
	Idempotency IdempotencyStore

	// IdempotencyScope returns the namespace of a request's idempotency
	// keys, typically the authenticated user or tenant, so one client can
	// never replay another's response by guessing its key. Nil: one
	// namespace for all clients, which is only safe when keys are
	// unguessable and responses are not private.
	IdempotencyScope func(r *http.Request) string
}

func (o *BulkOptions) withDefaults() BulkOptions {
	var c BulkOptions
	if o != nil {
		c = *o
	}
	if c.MaxItems == 0 {
		c.MaxItems = DefaultMaxItems
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	} else if c.Concurrency < 0 {
		c.Concurrency = 1
	}
	if c.SuccessStatus == 0 {
		c.SuccessStatus = http.StatusOK
	}
	return c
}

// ItemResult is the outcome of one item of a bulk request: its index in the
// request, its HTTP status, and either the result or the error.
type ItemResult[R any] struct {
	// Index is the item's position in the request (in [BulkClient.Send],
	// in the whole list).
	Index int `json:"index"`
	// Status is the item's HTTP status: BulkOptions.SuccessStatus on
	// success, the problem's status on failure. Zero in a [BulkClient]
	// result means the item's request got no HTTP response.
	Status int `json:"status"`
	// Result is the item function's result; absent on failure.
	Result R `json:"result,omitzero"`
	// Error describes the failure; nil on success.
	Error *Problem `json:"error,omitempty"`
}

// OK reports whether the item succeeded.
func (r ItemResult[R]) OK() bool { return r.Error == nil && r.Status >= 200 && r.Status < 300 }

// BulkResponse is the body of a [BulkHandler]'s 200 and 207 responses.
type BulkResponse[R any] struct {
	// Results holds one entry per item, in request order.
	Results []ItemResult[R] `json:"results"`
	// Succeeded counts the items that succeeded.
	Succeeded int `json:"succeeded"`
	// Failed counts the items that failed.
	Failed int `json:"failed"`
}

// BulkStats is a snapshot of a [BulkHandler]'s counters and gauges.
type BulkStats struct {
	// Requests counts requests served.
	Requests uint64 `json:"requests"`
	// Rejected counts requests answered with a whole-request 4xx or 5xx.
	Rejected uint64 `json:"rejected"`
	// Items counts items processed, valid or not.
	Items uint64 `json:"items"`
	// Failed counts the items (among Items) that failed.
	Failed uint64 `json:"failed"`
	// Replays counts requests answered from the idempotency store.
	Replays uint64 `json:"replays"`
	// InFlight is the number of requests running items now.
	InFlight int64 `json:"in_flight"`
}

// BulkHandler is an http.Handler for bulk endpoints: it decodes a JSON array
// of items of type T, runs a function on each with bounded concurrency, and
// answers with a [BulkResponse] holding a result or a problem per item.
//
// Status codes:
//   - 200: every item succeeded.
//   - 207 Multi-Status: at least one item failed (even all of them); each
//     failed item carries its own status and a problem document.
//   - 400: the body is empty, not JSON, not an array, or an empty array; or
//     the Idempotency-Key header is malformed.
//   - 408: the body did not arrive within BodyTimeout.
//   - 409: a request with the same Idempotency-Key is still running.
//   - 413: the body is larger than MaxBytes or holds more than MaxItems
//     items. Nothing was processed, so the client may split and retry.
//   - 415: the Content-Type is not JSON.
//   - 422: the Idempotency-Key was used before with a different request.
//
// Whole-request errors are problem documents (application/problem+json).
// An element that is valid JSON but not a valid T fails only that item, with
// 400. An item function that panics or calls runtime.Goexit fails only its
// item, with 500. The handler serves any method; route only POST (or
// PUT/PATCH) to it.
//
// A BulkHandler is safe for concurrent use. Items run on goroutines it
// starts for the request (never on the handler's own, so runtime.Goexit in
// an item cannot end the request), joined before the response is written.
type BulkHandler[T, R any] struct {
	fn   func(ctx context.Context, item T) (R, error)
	opts BulkOptions

	requests, rejected, items, failed, replays atomic.Uint64
	inFlight                                   atomic.Int64
}

var _ http.Handler = (*BulkHandler[int, int])(nil)

// NewBulkHandler returns a handler that runs fn on every item of a request.
// fn gets the request's context (or, once an Idempotency-Key is claimed, a
// context that is not cancelled when the client leaves); it returns a
// [*Problem] to fail an item with a status of its choosing. Nil options are
// the defaults.
func NewBulkHandler[T, R any](fn func(ctx context.Context, item T) (R, error), opts *BulkOptions) (*BulkHandler[T, R], error) {
	if fn == nil {
		return nil, errors.New("batch: NewBulkHandler: item function is nil")
	}
	c := opts.withDefaults()
	if c.SuccessStatus < 200 || c.SuccessStatus > 299 {
		return nil, errors.New("batch: NewBulkHandler: SuccessStatus must be a 2xx status, got " + strconv.Itoa(c.SuccessStatus))
	}
	return &BulkHandler[T, R]{fn: fn, opts: c}, nil
}

// Stats returns a snapshot of the handler's counters. Safe for concurrent
// use.
func (h *BulkHandler[T, R]) Stats() BulkStats {
	return BulkStats{
		Requests: h.requests.Load(),
		Rejected: h.rejected.Load(),
		Items:    h.items.Load(),
		Failed:   h.failed.Load(),
		Replays:  h.replays.Load(),
		InFlight: h.inFlight.Load(),
	}
}

// ServeHTTP serves one bulk request; see [BulkHandler] for the statuses.
func (h *BulkHandler[T, R]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	if !isJSON(r.Header.Get("Content-Type")) {
		h.reject(w, NewProblem(http.StatusUnsupportedMediaType, "the Content-Type must be application/json"))
		return
	}
	body, p := readBody(w, r, h.opts.MaxBytes, h.opts.BodyTimeout)
	if p != nil {
		h.reject(w, p)
		return
	}
	raws, p := splitArray(body, h.opts.MaxItems)
	if p != nil {
		h.reject(w, p)
		return
	}

	ctx := r.Context()
	var claim *idempotencyClaim
	if h.opts.Idempotency != nil {
		if header := r.Header.Values("Idempotency-Key"); len(header) > 0 {
			key, p := parseIdempotencyKey(header)
			if p != nil {
				h.reject(w, p)
				return
			}
			if h.opts.IdempotencyScope != nil {
				key = h.opts.IdempotencyScope(r) + "\x00" + key
			}
			claim = &idempotencyClaim{store: h.opts.Idempotency, key: key, fp: fingerprint(r, body)}
			stored, err := claim.store.Begin(ctx, claim.key, claim.fp)
			if err != nil {
				h.reject(w, idempotencyProblem(err))
				return
			}
			if stored != nil {
				h.replays.Add(1)
				replay(w, stored)
				return
			}
			// Claimed: from here on, finish the work and store the answer
			// even if the client leaves, so its retry finds it.
			ctx = context.WithoutCancel(ctx)
			defer claim.abortUnlessDone(ctx)
		}
	}

	status, respBody := h.run(ctx, r, raws)

	if claim != nil {
		claim.complete(ctx, &StoredResponse{Status: status, ContentType: "application/json", Body: respBody})
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(status)
	w.Write(respBody)
}

func (h *BulkHandler[T, R]) reject(w http.ResponseWriter, p *Problem) {
	h.rejected.Add(1)
	writeProblem(w, p)
}

// bulkRun is the shared state of the workers of one request.
type bulkRun[T, R any] struct {
	ctx     context.Context
	r       *http.Request
	raws    []json.RawMessage
	results []ItemResult[R]
	next    atomic.Int64 // the next item to run
	wg      sync.WaitGroup
}

// run runs every item with at most Concurrency at once and returns the
// response's status and body.
func (h *BulkHandler[T, R]) run(ctx context.Context, r *http.Request, raws []json.RawMessage) (int, []byte) {
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	st := &bulkRun[T, R]{ctx: ctx, r: r, raws: raws, results: make([]ItemResult[R], len(raws))}
	workers := min(h.opts.Concurrency, len(raws))
	st.wg.Add(workers)
	for range workers {
		go h.worker(st)
	}
	st.wg.Wait()
	return h.encode(r, st.results)
}

// worker runs items until none are left. User code (T's UnmarshalJSON, the
// item function, the Problem hook) runs on workers, never on the handler's
// goroutine, so a panic or runtime.Goexit that escapes it ends a worker,
// not the request: the deferred call fails the item that was running and
// starts a worker for the rest.
func (h *BulkHandler[T, R]) worker(st *bulkRun[T, R]) {
	defer st.wg.Done() // deferred first: runs even if the next one is cut short
	cur := -1          // the item running; -1 between items
	defer func() {
		if cur < 0 {
			return
		}
		err := ErrGoexit
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
		h.abandoned(st, cur, err)
	}()
	for {
		i := int(st.next.Add(1) - 1)
		if i >= len(st.raws) {
			return
		}
		cur = i
		st.results[i] = h.item(st, i)
		cur = -1
	}
}

// abandoned fails item i, whose user code ended its worker, and starts a
// worker for the items left.
func (h *BulkHandler[T, R]) abandoned(st *bulkRun[T, R], i int, err error) {
	st.wg.Add(1)
	go h.worker(st)
	h.failed.Add(1)
	// The default first, in case the Problem hook ends this goroutine too.
	st.results[i] = failure[R](i, &Problem{})
	st.results[i] = failure[R](i, h.problem(st.r, i, err))
}

// item decodes and runs item i.
func (h *BulkHandler[T, R]) item(st *bulkRun[T, R], i int) ItemResult[R] {
	h.items.Add(1)
	var item T
	if p := decodeItem(st.raws[i], h.opts.DisallowUnknownFields, &item); p != nil {
		return h.fail(i, p)
	}
	if err := st.ctx.Err(); err != nil {
		return h.fail(i, NewProblem(http.StatusServiceUnavailable, "not processed: the request was cancelled"))
	}
	res, err := h.call(st.ctx, item)
	if err != nil {
		return h.fail(i, h.problem(st.r, i, err))
	}
	return ItemResult[R]{Index: i, Status: h.opts.SuccessStatus, Result: res}
}

// fail counts a failed item and returns its result.
func (h *BulkHandler[T, R]) fail(i int, p *Problem) ItemResult[R] {
	h.failed.Add(1)
	return failure[R](i, p)
}

func failure[R any](i int, p *Problem) ItemResult[R] {
	p = p.normalized()
	if p.Status < 400 { // a failure must not look like a success
		p.Status = http.StatusInternalServerError
		p.Title = http.StatusText(p.Status)
	}
	return ItemResult[R]{Index: i, Status: p.Status, Error: p}
}

// encode renders the response body. Encoding runs R's MarshalJSON, user
// code, so it runs aside from the handler's goroutine; when it fails
// (error, panic or runtime.Goexit), each result is tried alone and the
// ones that cannot be encoded fail their item.
func (h *BulkHandler[T, R]) encode(r *http.Request, results []ItemResult[R]) (int, []byte) {
	resp := BulkResponse[R]{Results: results}
	count := func() {
		resp.Succeeded, resp.Failed = 0, 0
		for _, res := range results {
			if res.Error == nil {
				resp.Succeeded++
			} else {
				resp.Failed++
			}
		}
	}
	count()
	var body bytes.Buffer // json.Encoder ends it with a newline, in place
	err := aside(func() error { return json.NewEncoder(&body).Encode(resp) })
	if err != nil {
		for i := range results {
			if results[i].Error != nil {
				continue
			}
			if err := aside(func() error { _, err := json.Marshal(results[i].Result); return err }); err != nil {
				err = fmt.Errorf("batch: encoding the item's result: %w", err)
				p := &Problem{}
				aside(func() error { p = h.problem(r, i, err); return nil })
				results[i] = h.fail(i, p)
			}
		}
		count()
		body.Reset()
		if err := aside(func() error { return json.NewEncoder(&body).Encode(resp) }); err != nil {
			// Only a MarshalJSON that fails at random gets here.
			resp.Results = []ItemResult[R]{}
			resp.Succeeded, resp.Failed = 0, len(results)
			body.Reset()
			json.NewEncoder(&body).Encode(resp)
		}
	}
	status := http.StatusOK
	if resp.Failed > 0 {
		status = http.StatusMultiStatus
	}
	return status, body.Bytes()
}

// aside runs f on a goroutine of its own and returns its error, or a
// [*PanicError] or [ErrGoexit] when f panicked or called runtime.Goexit,
// which then end that goroutine instead of the caller's.
func aside(f func() error) (err error) {
	done := make(chan struct{})
	go func() {
		returned := false
		defer func() {
			if !returned {
				err = ErrGoexit
				if v := recover(); v != nil {
					err = newPanicError(v)
				}
			}
			close(done)
		}()
		err = f()
		returned = true
	}()
	<-done
	return err
}

// call runs the item function, turning a panic into a *PanicError (a
// runtime.Goexit is the worker's to handle).
func (h *BulkHandler[T, R]) call(ctx context.Context, item T) (res R, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
	}()
	return h.fn(ctx, item)
}

// problem maps an item's error through the Problem hook (a panic in it
// counts as nil) or the default.
func (h *BulkHandler[T, R]) problem(r *http.Request, i int, err error) *Problem {
	if h.opts.Problem != nil {
		if p := h.hook(r, i, err); p != nil {
			return p
		}
	}
	var p *Problem
	if errors.As(err, &p) && p != nil {
		return p
	}
	return &Problem{Status: http.StatusInternalServerError}
}

func (h *BulkHandler[T, R]) hook(r *http.Request, i int, err error) (p *Problem) {
	defer func() {
		if recover() != nil {
			p = nil
		}
	}()
	return h.opts.Problem(r, i, err)
}

// idempotencyClaim is a request's hold on its Idempotency-Key.
type idempotencyClaim struct {
	store IdempotencyStore
	key   string
	fp    Fingerprint
	done  bool
}

func (c *idempotencyClaim) complete(ctx context.Context, resp *StoredResponse) {
	// An error here only costs the replay: a retry runs the items again.
	if err := c.store.Complete(ctx, c.key, c.fp, resp); err == nil {
		c.done = true
	}
}

func (c *idempotencyClaim) abortUnlessDone(ctx context.Context) {
	if !c.done {
		c.store.Abort(ctx, c.key, c.fp)
	}
}

// fingerprint identifies a request for its Idempotency-Key: method, path
// as sent (escaped, since routers may tell /a%2Fb from /a/b), query and
// body, each prefixed by its length so no two requests hash the same bytes.
func fingerprint(r *http.Request, body []byte) Fingerprint {
	h := sha256.New()
	var n [8]byte
	for _, part := range [...][]byte{[]byte(r.Method), []byte(r.URL.EscapedPath()), []byte(r.URL.RawQuery), body} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var fp Fingerprint
	h.Sum(fp[:0])
	return fp
}

// parseIdempotencyKey accepts the header as an RFC 8941 string ("…") or as
// a bare token, 1 to 255 visible ASCII characters.
func parseIdempotencyKey(values []string) (string, *Problem) {
	if len(values) != 1 {
		return "", NewProblem(http.StatusBadRequest, "send one Idempotency-Key header")
	}
	key := values[0]
	if n := len(key); n >= 2 && key[0] == '"' && key[n-1] == '"' {
		key = key[1 : n-1]
	}
	if len(key) == 0 || len(key) > 255 {
		return "", NewProblem(http.StatusBadRequest, "the Idempotency-Key must be 1 to 255 characters")
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return "", NewProblem(http.StatusBadRequest, "the Idempotency-Key must be visible ASCII without quotes or backslashes")
		}
	}
	return key, nil
}

func idempotencyProblem(err error) *Problem {
	switch {
	case errors.Is(err, ErrKeyInProgress):
		return NewProblem(http.StatusConflict, "a request with this Idempotency-Key is still being processed; retry later")
	case errors.Is(err, ErrKeyReused):
		return NewProblem(http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request; use a new key")
	default:
		return NewProblem(http.StatusServiceUnavailable, "the idempotency store is unavailable; retry later")
	}
}

func replay(w http.ResponseWriter, s *StoredResponse) {
	h := w.Header()
	if s.ContentType != "" {
		h.Set("Content-Type", s.ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(s.Body)))
	h.Set("Idempotent-Replayed", "true")
	w.WriteHeader(s.Status)
	w.Write(s.Body)
}
