package upload

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ClientOptions configure a [Client]. A nil *ClientOptions selects every
// default.
type ClientOptions struct {
	// HTTPClient sends the requests. Default http.DefaultClient.
	HTTPClient *http.Client
	// ChunkSize is the most bytes one PATCH carries: a failure costs at
	// most one chunk. Default 8 MiB; negative is an error.
	ChunkSize int64
	// Retries is how many times one chunk (or download) is retried after
	// a network error or a retryable status (409, 423, 460, 5xx) before
	// the call fails; every retry first asks the server for the offset
	// with HEAD. The count starts again after progress. Default 5;
	// negative disables retries.
	Retries int
	// Backoff is the wait before the first retry; it doubles with each
	// retry up to 32 times itself. Default 200ms; negative is an error.
	Backoff time.Duration
	// Parallel is how many parts [Client.Upload] sends at once, as partial
	// uploads concatenated at the end (the server must offer the
	// concatenation extension). Default 1: one stream; negative is an
	// error.
	Parallel int
	// Checksum is the algorithm of the Upload-Checksum sent with every
	// chunk: "sha256", "sha1" or "md5"; "none" sends none. Default
	// "sha256".
	Checksum string
	// Progress, when set, is called with the bytes sent so far (committed
	// plus in flight; it can go back after a failed chunk) and the total.
	// Calls are serialized. Default nil.
	Progress func(sent, total int64)
	// Header is added to every request (credentials). Default nil.
	Header http.Header
}

// Client uploads files to a tus 1.0.0 server and downloads them with
// Range resume.
type Client struct {
	endpoint *url.URL
	o        ClientOptions
}

// NewClient returns a client for the tus creation endpoint (for a
// [Handler], its BasePath on the server's URL).
func NewClient(endpoint string, opts *ClientOptions) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("upload: endpoint %q must be an absolute URL", endpoint)
	}
	var o ClientOptions
	if opts != nil {
		o = *opts
		o.Header = opts.Header.Clone()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	switch {
	case o.ChunkSize < 0:
		return nil, fmt.Errorf("upload: ClientOptions.ChunkSize is negative (%d)", o.ChunkSize)
	case o.ChunkSize == 0:
		o.ChunkSize = 8 << 20
	}
	if o.Retries == 0 {
		o.Retries = 5
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	switch {
	case o.Backoff < 0:
		return nil, fmt.Errorf("upload: ClientOptions.Backoff is negative (%v)", o.Backoff)
	case o.Backoff == 0:
		o.Backoff = 200 * time.Millisecond
	}
	switch {
	case o.Parallel < 0:
		return nil, fmt.Errorf("upload: ClientOptions.Parallel is negative (%d)", o.Parallel)
	case o.Parallel == 0:
		o.Parallel = 1
	}
	switch o.Checksum {
	case "":
		o.Checksum = "sha256"
	case "sha256", "sha1", "md5", "none":
	default:
		return nil, fmt.Errorf("upload: ClientOptions.Checksum %q is not sha256, sha1, md5 or none", o.Checksum)
	}
	return &Client{endpoint: u, o: o}, nil
}

func (c *Client) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	for k, v := range c.o.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	return req, nil
}

func (c *Client) do(req *http.Request, want ...int) (*http.Response, error) {
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return nil, &StatusError{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
}

// retryable reports whether a failed request may succeed when retried.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status >= 500 || se.Status == http.StatusConflict || se.Status == http.StatusLocked ||
			se.Status == StatusChecksumMismatch || se.Status == http.StatusTooManyRequests
	}
	return true // a network error
}

func (c *Client) sleep(ctx context.Context, retry int) error {
	d := c.o.Backoff << min(retry, 5)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Create creates an upload of size bytes and returns its URL. Partial
// creates a partial upload for concatenation.
func (c *Client) Create(ctx context.Context, size int64, meta map[string]string, partial bool) (string, error) {
	req, err := c.newRequest(ctx, http.MethodPost, c.endpoint.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	if len(meta) > 0 {
		req.Header.Set("Upload-Metadata", EncodeMetadata(meta))
	}
	if partial {
		req.Header.Set("Upload-Concat", "partial")
	}
	return c.created(req)
}

func (c *Client) created(req *http.Request) (string, error) {
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := c.endpoint.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return "", errors.New("upload: server sent no usable Location")
	}
	return loc.String(), nil
}

// Offset asks the server (HEAD) how many bytes of the upload it holds, and
// the upload's size (-1 when deferred).
func (c *Client) Offset(ctx context.Context, uploadURL string) (offset, size int64, err error) {
	req, err := c.newRequest(ctx, http.MethodHead, uploadURL, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return 0, 0, err
	}
	resp.Body.Close()
	offset, err = parseLength(resp.Header.Get("Upload-Offset"))
	if err != nil {
		return 0, 0, errors.New("upload: server sent no Upload-Offset")
	}
	size = -1
	if s := resp.Header.Get("Upload-Length"); s != "" {
		if size, err = parseLength(s); err != nil {
			return 0, 0, errors.New("upload: server sent a malformed Upload-Length")
		}
	}
	return offset, size, nil
}

// progress aggregates the bytes sent by the streams of one upload.
type progress struct {
	mu    sync.Mutex
	parts []int64
	total int64
	fn    func(int64, int64)
}

func (p *progress) set(i int, v int64) {
	if p == nil || p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.parts[i] = v
	var sum int64
	for _, s := range p.parts {
		sum += s
	}
	p.fn(sum, p.total)
}

// Upload creates an upload of src's first size bytes, sends them and
// returns the upload's URL. With Parallel above 1 and at least two chunks
// of data, it sends parts at once and concatenates them.
func (c *Client) Upload(ctx context.Context, src io.ReaderAt, size int64, meta map[string]string) (string, error) {
	parts := int64(c.o.Parallel)
	if parts > 1 && size >= 2*c.o.ChunkSize {
		return c.uploadParallel(ctx, src, size, meta, min(parts, size/c.o.ChunkSize))
	}
	u, err := c.Create(ctx, size, meta, false)
	if err != nil {
		return "", err
	}
	p := &progress{parts: make([]int64, 1), total: size, fn: c.o.Progress}
	return u, c.send(ctx, u, src, 0, size, 0, p, 0)
}

// Resume continues an interrupted upload at uploadURL from the offset the
// server reports.
func (c *Client) Resume(ctx context.Context, uploadURL string, src io.ReaderAt, size int64) error {
	off, _, err := c.Offset(ctx, uploadURL)
	if err != nil {
		return err
	}
	p := &progress{parts: make([]int64, 1), total: size, fn: c.o.Progress}
	return c.send(ctx, uploadURL, src, 0, size, off, p, 0)
}

func (c *Client) uploadParallel(ctx context.Context, src io.ReaderAt, size int64, meta map[string]string, n int64) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	per := size / n
	urls := make([]string, n)
	errs := make([]error, n)
	p := &progress{parts: make([]int64, n), total: size, fn: c.o.Progress}
	var wg sync.WaitGroup
	for i := range n {
		base, l := i*per, per
		if i == n-1 {
			l = size - base
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := c.Create(ctx, l, nil, true)
			if err == nil {
				urls[i] = u
				err = c.send(ctx, u, src, base, l, 0, p, int(i))
			}
			if err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.endpoint.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Upload-Concat", "final;"+strings.Join(urls, " "))
	if len(meta) > 0 {
		req.Header.Set("Upload-Metadata", EncodeMetadata(meta))
	}
	return c.created(req)
}

// send uploads bytes [base+off, base+size) of src to u, chunk by chunk,
// resuming from the server's offset after a failure.
func (c *Client) send(ctx context.Context, u string, src io.ReaderAt, base, size, off int64, p *progress, part int) error {
	retry := 0
	p.set(part, off)
	for off < size {
		n := min(c.o.ChunkSize, size-off)
		next, err := c.patch(ctx, u, io.NewSectionReader(src, base+off, n), off, n, p, part)
		if err == nil {
			if next > off {
				retry = 0
			}
			off = next
			p.set(part, off)
			continue
		}
		for {
			if !retryable(err) || retry >= c.o.Retries {
				return err
			}
			if serr := c.sleep(ctx, retry); serr != nil {
				return serr
			}
			retry++
			var o int64
			if o, _, err = c.Offset(ctx, u); err == nil {
				if o > off {
					retry = 0
				}
				off = o
				p.set(part, off)
				break
			}
		}
	}
	return nil
}

func (c *Client) patch(ctx context.Context, u string, chunk *io.SectionReader, off, n int64, p *progress, part int) (int64, error) {
	var sum string
	if c.o.Checksum != "none" {
		hh, _ := newHash(c.o.Checksum)
		if _, err := io.Copy(hh, io.NewSectionReader(chunk, 0, n)); err != nil {
			return 0, fmt.Errorf("upload: read source: %w", err)
		}
		sum = c.o.Checksum + " " + base64.StdEncoding.EncodeToString(hh.Sum(nil))
	}
	body := &countReader{r: chunk, fn: func(read int64) { p.set(part, off+read) }}
	req, err := c.newRequest(ctx, http.MethodPatch, u, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	if sum != "" {
		req.Header.Set("Upload-Checksum", sum)
	}
	resp, err := c.do(req, http.StatusNoContent)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	next, err := parseLength(resp.Header.Get("Upload-Offset"))
	if err != nil {
		return 0, errors.New("upload: server sent no Upload-Offset")
	}
	return next, nil
}

type countReader struct {
	r    io.Reader
	n    int64
	fn   func(int64)
	last int64
}

func (c *countReader) Read(p []byte) (int, error) {
	// Small reads keep progress reports frequent, whatever buffer the
	// transport reads with.
	n, err := c.r.Read(p[:min(len(p), 32<<10)])
	c.n += int64(n)
	if c.n-c.last >= 32<<10 || err != nil {
		c.last = c.n
		c.fn(c.n)
	}
	return n, err
}

// ErrChanged is returned by [Client.Download] when the resource changed
// (its ETag) between the parts of a resumed download.
var ErrChanged = errors.New("upload: the file changed while it was downloaded; start again from 0")

// Download writes the resource at rawURL to dst from byte offset on
// (offset is what dst already holds, 0 for a fresh download), resuming with
// Range and If-Range after an interruption. It returns the bytes written.
func (c *Client) Download(ctx context.Context, rawURL string, dst io.Writer, offset int64) (int64, error) {
	var etag string
	var written int64
	retry := 0
	for {
		n, tag, err := c.getFrom(ctx, rawURL, dst, offset+written, etag)
		written += n
		if tag != "" {
			etag = tag
		}
		if err == nil {
			return written, nil
		}
		if n > 0 {
			retry = 0
		}
		if errors.Is(err, ErrChanged) || !retryable(err) || retry >= c.o.Retries {
			return written, err
		}
		if err := c.sleep(ctx, retry); err != nil {
			return written, err
		}
		retry++
	}
}

func (c *Client) getFrom(ctx context.Context, rawURL string, dst io.Writer, from int64, etag string) (int64, string, error) {
	req, err := c.newRequest(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Del("Tus-Resumable")
	if from > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
		if etag != "" {
			req.Header.Set("If-Range", etag)
		}
	}
	resp, err := c.do(req, http.StatusOK, http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	tag := resp.Header.Get("ETag")
	switch resp.StatusCode {
	case http.StatusRequestedRangeNotSatisfiable:
		// Asking past the end: complete when the size is exactly from.
		if cr := resp.Header.Get("Content-Range"); cr == "bytes */"+strconv.FormatInt(from, 10) {
			return 0, tag, nil
		}
		return 0, tag, &StatusError{Method: "GET", URL: req.URL.Redacted(), Status: resp.StatusCode}
	case http.StatusOK:
		if from > 0 {
			if etag != "" && tag != etag {
				return 0, tag, ErrChanged
			}
			// The server ignored Range: skip what dst already has.
			if _, err := io.CopyN(io.Discard, resp.Body, from); err != nil {
				return 0, tag, err
			}
		}
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(from, 10)+"-") {
			return 0, tag, fmt.Errorf("upload: server answered Range %d- with Content-Range %q", from, resp.Header.Get("Content-Range"))
		}
	}
	n, err := io.Copy(dst, resp.Body)
	return n, tag, err
}

// DownloadFile downloads rawURL into the file at path, resuming after the
// bytes the file already holds (as curl -C - does).
func (c *Client) DownloadFile(ctx context.Context, rawURL, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		_, err = c.Download(ctx, rawURL, f, st.Size())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
