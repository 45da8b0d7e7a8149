package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrBadResponse is wrapped by the [ChunkError] of a chunk whose 200 or 207
// response does not hold exactly one result per item sent.
var ErrBadResponse = errors.New("batch: bulk response does not match the items sent")

// DefaultMaxResponseBytes is the default of BulkClientOptions.MaxResponseBytes.
const DefaultMaxResponseBytes = 64 << 20 // 64 MiB

// BulkClientOptions configure a [BulkClient]. Nil options are valid and mean
// the defaults; [NewBulkClient] copies them.
type BulkClientOptions struct {
	// Client sends the requests. Nil: http.DefaultClient.
	Client *http.Client

	// ChunkSize is the most items per request; match the server's
	// MaxItems. A chunk the server answers 413 (too large) is split in
	// half and sent again, down to single items. Zero: [DefaultMaxItems]
	// (1000). Negative is an error.
	ChunkSize int

	// Concurrency is how many requests are in flight at once. Zero or
	// negative: 1, one chunk after the other.
	Concurrency int

	// Header is added to every request (Authorization, for example).
	// Nil: none.
	Header http.Header

	// IdempotencyKeyPrefix, when set, gives each request the header
	// Idempotency-Key: <prefix>-<first index>-<count>. Calling Send again
	// with the same prefix and items after a failure then replays the
	// chunks that the server completed instead of running them twice.
	// Use a fresh random prefix for each distinct list. Empty: no header.
	IdempotencyKeyPrefix string

	// MaxResponseBytes bounds the body read from one response. Zero:
	// [DefaultMaxResponseBytes] (64 MiB). Negative: no limit.
	MaxResponseBytes int64
}

// BulkClient sends a list of items of any length to a [BulkHandler]
// endpoint in chunks and merges the per-item results, indexed in the whole
// list. It is safe for concurrent use.
type BulkClient[T, R any] struct {
	url  string
	opts BulkClientOptions
}

// ChunkError reports a chunk of items whose request failed as a whole: no
// response, a whole-request error status, or a response that does not
// match. Its items' results carry the same status (0 without a response)
// and problem.
type ChunkError struct {
	// First and Count locate the chunk in the list given to Send.
	First, Count int
	// Status is the response's HTTP status; 0 when there was none.
	Status int
	// Problem is the server's problem document, or one made up from the
	// status; nil without a response.
	Problem *Problem
	// Err is the transport or decoding error, if any.
	Err error
}

// Error names the chunk and what went wrong.
func (e *ChunkError) Error() string {
	s := fmt.Sprintf("batch: items %d to %d", e.First, e.First+e.Count-1)
	if e.Problem != nil {
		s += ": " + strings.TrimPrefix(e.Problem.Error(), "batch: ")
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *ChunkError) Unwrap() error { return e.Err }

// NewBulkClient returns a client that posts to endpoint, an absolute http or
// https URL. Nil options are the defaults.
func NewBulkClient[T, R any](endpoint string, opts *BulkClientOptions) (*BulkClient[T, R], error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("batch: NewBulkClient: endpoint %q is not an absolute http(s) URL", endpoint)
	}
	var c BulkClientOptions
	if opts != nil {
		c = *opts
	}
	if c.ChunkSize < 0 {
		return nil, errors.New("batch: NewBulkClient: ChunkSize must not be negative")
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultMaxItems
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.Client == nil {
		c.Client = http.DefaultClient
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	c.Header = c.Header.Clone()
	return &BulkClient[T, R]{url: endpoint, opts: c}, nil
}

// Send posts items in chunks of at most ChunkSize, Concurrency at a time,
// and returns one result per item: results[i] is items[i]'s, with Index i.
// Items of a chunk that failed as a whole carry its status and problem, and
// err joins a [*ChunkError] per such chunk. When ctx ends, chunks not yet
// sent are not sent: their items get status 0 and err includes ctx.Err().
// Send returns after every request it started has finished.
func (c *BulkClient[T, R]) Send(ctx context.Context, items []T) (results []ItemResult[R], err error) {
	results = make([]ItemResult[R], len(items))
	sent := make([]bool, len(items)) // each written by one worker only
	type span struct{ first, count int }
	var chunks []span
	for first := 0; first < len(items); first += c.opts.ChunkSize {
		chunks = append(chunks, span{first, min(c.opts.ChunkSize, len(items)-first)})
	}

	var (
		next atomic.Int64
		mu   sync.Mutex // protects errs
		errs []error
		wg   sync.WaitGroup
	)
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(chunks) || ctx.Err() != nil {
				return
			}
			ch := chunks[i]
			for _, e := range c.sendSplitting(ctx, items, results, sent, ch.first, ch.count) {
				mu.Lock()
				errs = append(errs, e)
				mu.Unlock()
			}
		}
	}
	workers := min(c.opts.Concurrency, len(chunks))
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	if workers > 0 {
		work()
	}
	wg.Wait()

	unsent := false
	for i := range results {
		if !sent[i] {
			unsent = true
			results[i] = ItemResult[R]{Index: i, Error: &Problem{Type: "about:blank", Title: "Not Sent", Detail: "not sent: " + context.Cause(ctx).Error()}}
		}
	}
	if unsent {
		errs = append(errs, ctx.Err())
	}
	return results, errors.Join(errs...)
}

// sendSplitting sends items[first:first+count], halving it while the server
// answers 413.
func (c *BulkClient[T, R]) sendSplitting(ctx context.Context, items []T, results []ItemResult[R], sent []bool, first, count int) []error {
	if ctx.Err() != nil {
		return nil // reported as not sent
	}
	cerr := c.post(ctx, items[first:first+count], results[first:first+count], first)
	if cerr == nil {
		markSent(sent, first, count)
		return nil
	}
	if cerr.Status == http.StatusRequestEntityTooLarge && count > 1 {
		half := count / 2
		return append(c.sendSplitting(ctx, items, results, sent, first, half),
			c.sendSplitting(ctx, items, results, sent, first+half, count-half)...)
	}
	markSent(sent, first, count)
	for i := range count {
		results[i+first] = ItemResult[R]{Index: first + i, Status: cerr.Status, Error: cerr.problem()}
	}
	return []error{cerr}
}

func markSent(sent []bool, first, count int) {
	for i := first; i < first+count; i++ {
		sent[i] = true
	}
}

func (e *ChunkError) problem() *Problem {
	if e.Problem != nil {
		return e.Problem
	}
	detail := "no response"
	if e.Err != nil {
		detail = e.Err.Error()
	}
	return &Problem{Type: "about:blank", Title: "No Response", Detail: detail}
}

// post sends one chunk and fills out with its results.
func (c *BulkClient[T, R]) post(ctx context.Context, chunk []T, out []ItemResult[R], first int) *ChunkError {
	cerr := &ChunkError{First: first, Count: len(chunk)}
	body, err := json.Marshal(chunk)
	if err != nil {
		cerr.Err = fmt.Errorf("encoding the items: %w", err)
		return cerr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		cerr.Err = err
		return cerr
	}
	for k, v := range c.opts.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, "+ProblemContentType)
	if c.opts.IdempotencyKeyPrefix != "" {
		req.Header.Set("Idempotency-Key", c.opts.IdempotencyKeyPrefix+"-"+strconv.Itoa(first)+"-"+strconv.Itoa(len(chunk)))
	}
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		cerr.Err = err
		return cerr
	}
	defer resp.Body.Close()
	var rd io.Reader = resp.Body
	if c.opts.MaxResponseBytes > 0 {
		rd = io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1)
	}
	data, err := io.ReadAll(rd)
	if err == nil && c.opts.MaxResponseBytes > 0 && int64(len(data)) > c.opts.MaxResponseBytes {
		err = fmt.Errorf("response larger than %d bytes", c.opts.MaxResponseBytes)
	}
	cerr.Status = resp.StatusCode
	if err != nil {
		cerr.Err = fmt.Errorf("reading the response: %w", err)
		cerr.Problem = NewProblem(resp.StatusCode, "")
		return cerr
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusMultiStatus {
		p := &Problem{}
		if !isProblem(resp.Header.Get("Content-Type")) || json.Unmarshal(data, p) != nil {
			p = &Problem{}
		}
		p.Status = resp.StatusCode
		cerr.Problem = p.normalized()
		return cerr
	}
	var br BulkResponse[R]
	if err := json.Unmarshal(data, &br); err != nil {
		cerr.Err = fmt.Errorf("%w: %v", ErrBadResponse, err)
		cerr.Problem = NewProblem(resp.StatusCode, "")
		return cerr
	}
	if len(br.Results) != len(chunk) {
		cerr.Err = fmt.Errorf("%w: %d results for %d items", ErrBadResponse, len(br.Results), len(chunk))
		cerr.Problem = NewProblem(resp.StatusCode, "")
		return cerr
	}
	seen := make([]bool, len(chunk))
	for _, r := range br.Results {
		if r.Index < 0 || r.Index >= len(chunk) || seen[r.Index] {
			cerr.Err = fmt.Errorf("%w: result index %d is out of range or repeated", ErrBadResponse, r.Index)
			cerr.Problem = NewProblem(resp.StatusCode, "")
			return cerr
		}
		seen[r.Index] = true
	}
	for _, r := range br.Results {
		i := r.Index
		r.Index += first
		out[i] = r
	}
	return nil
}

func isProblem(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), ProblemContentType)
}
