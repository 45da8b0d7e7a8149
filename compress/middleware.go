package compress

import (
	"net/http"
	"strings"
	"sync"
)

// Compressor is the response compression middleware. Create it with [New],
// or use the zero value, which is ready to use with the defaults of New;
// wrap handlers with [Compressor.Handler]. A Compressor is safe for
// concurrent use and must not be copied after first use. It holds no
// goroutines and needs no closing: its pooled encoders are ordinary garbage
// once it is unreachable.
type Compressor struct {
	once    sync.Once // runs setup with the defaults for a zero Compressor
	cfg     *config
	codecs  []*codec // enabled codings, in server preference order
	enabled []int    // codecs[i].coding, for negotiation
	bufs    sync.Pool
	stats   counters

	notAcceptableBody string // the 406 body, naming what the server offers
}

var (
	_ http.Handler = (*handler)(nil)
	_ http.Handler = (*fileServer)(nil)
)

// New returns a Compressor configured by opts, or an error naming the first
// invalid field. With nil options it negotiates zstd, brotli and gzip (in
// that order of preference) at levels suited to dynamic responses,
// compresses bodies of at least 1 KiB whose type is in
// [DefaultContentTypes], and sends everything else unchanged.
func New(opts *Options) (*Compressor, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &Compressor{}
	c.once.Do(func() { err = c.setup(cfg) })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// setup builds the encoder pools for cfg.
func (c *Compressor) setup(cfg *config) error {
	c.cfg = cfg
	for _, name := range cfg.encodings {
		cd, err := newCodec(codingIndex(name), cfg)
		if err != nil {
			return err
		}
		c.codecs = append(c.codecs, cd)
		c.enabled = append(c.enabled, cd.coding)
	}
	bufCap := max(cfg.minSize, sniffLen)
	c.bufs.New = func() any {
		b := make([]byte, 0, bufCap)
		return &b
	}
	c.notAcceptableBody = "Not Acceptable: Accept-Encoding rules out identity and every coding this server sends (" +
		strings.Join(cfg.encodings, ", ") + ")\n"
	return nil
}

// ready sets a zero Compressor up with the defaults.
func (c *Compressor) ready() {
	c.once.Do(func() {
		cfg, err := newConfig(nil)
		if err == nil {
			err = c.setup(cfg)
		}
		if err != nil {
			panic("compress: the defaults do not build: " + err.Error()) // unreachable: New() succeeds
		}
	})
}

// Middleware returns a function that wraps a handler with a new
// [Compressor] configured by opts; see [New] for the defaults. Use New
// instead to read the Compressor's [Compressor.Stats].
func Middleware(opts *Options) (func(http.Handler) http.Handler, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	return c.Handler, nil
}

// Handler returns next wrapped with the middleware. It may be called any
// number of times, from any goroutine; all the returned handlers share the
// Compressor's pools and statistics.
func (c *Compressor) Handler(next http.Handler) http.Handler {
	c.ready()
	return &handler{c: c, next: next}
}

// Stats returns a snapshot of the counters. It is cheap and safe to call
// concurrently with requests.
func (c *Compressor) Stats() Stats { return c.stats.snapshot() }

// handler is what Compressor.Handler returns.
type handler struct {
	c    *Compressor
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.c
	a := parseAcceptEncoding(r.Header["Accept-Encoding"])
	// The writer is not pooled: a handler goroutine that writes after
	// ServeHTTP returned (a bug) must hit this request's finished writer,
	// never another request's.
	rw := &responseWriter{
		rw:         w,
		c:          c,
		req:        r,
		choice:     a.choose(c.enabled, nil),
		identityOK: a.identityAcceptable(),
		head:       r.Method == http.MethodHead,
		out:        sink{w: w},
	}
	normal := false
	defer func() { rw.finish(normal) }()
	h.next.ServeHTTP(rw, r)
	normal = true
}
