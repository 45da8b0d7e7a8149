package compress

import (
	"bufio"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// sniffLen is how much net/http.DetectContentType looks at.
const sniffLen = 512

// errFinished is returned by writes that arrive after the handler returned.
var errFinished = errors.New("compress: write after the handler returned")

// The writer implements every optional interface net/http's own writer
// has that matters through a middleware; the rest (deadlines, full duplex)
// http.ResponseController reaches through Unwrap.
var (
	_ http.ResponseWriter                       = (*responseWriter)(nil)
	_ http.Flusher                              = (*responseWriter)(nil)
	_ http.Hijacker                             = (*responseWriter)(nil)
	_ io.ReaderFrom                             = (*responseWriter)(nil)
	_ io.StringWriter                           = (*responseWriter)(nil)
	_ interface{ FlushError() error }           = (*responseWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*responseWriter)(nil)
)

// writerState is where a response is in its life.
type writerState uint8

const (
	statePending  writerState = iota // nothing sent but 1xx; body bytes wait in buf
	stateEncode                      // headers sent with Content-Encoding; body goes through enc (nil for HEAD)
	stateIdentity                    // headers sent; body goes to the client unchanged
	stateDiscard                     // a body-less answer of the middleware's own (304, 406) is sent; body dropped
	stateHijacked                    // the handler took the connection
	stateDone                        // the handler returned
)

// verdict is what the response headers say about compressing.
type verdict uint8

const (
	verdictSize     verdict = iota // compressible if the body reaches MinSize (and, without Content-Type, sniffs as compressible)
	verdictCompress                // compress from the first byte or flush
	verdictIdentity                // send as is, for reason
	verdict304                     // answer 304 for a byte-comparing handler
	verdict406                     // answer 406 (NotAcceptable)
)

// responseWriter is the http.ResponseWriter the wrapped handler sees. It
// lives for one request and is used from the handler's goroutine only, as
// net/http's own writer is.
type responseWriter struct {
	rw         http.ResponseWriter
	c          *Compressor
	req        *http.Request
	choice     int  // position in c.codecs, or -1 when the client accepts none
	identityOK bool // the client accepts an uncompressed response
	head       bool

	state     writerState
	status    int // the final status; 0 until WriteHeader or Write
	examined  bool
	verdict   verdict
	reason    skipReason // why, when verdict is verdictIdentity
	typeKnown bool       // Content-Type set (possibly to nil, to suppress sniffing)
	typeValue string     // the Content-Type the handler set, if any
	flushEach bool       // text/event-stream: flush after every write

	codec *codec
	enc   encoder // nil until the first byte of a compressed body, and for HEAD
	bufp  *[]byte // pooled; holds buf's array between uses
	buf   []byte  // body bytes held while the size is unknown
	in    int64   // body bytes the handler wrote
	out   sink    // counts what reaches the client

	scratch [8]byte // zstd padding frame header
}

// sink is where encoders write: the client, counted.
type sink struct {
	w http.ResponseWriter
	n int64
}

func (s *sink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}

func (s *sink) WriteString(str string) (int, error) {
	n, err := io.WriteString(s.w, str)
	s.n += int64(n)
	return n, err
}

// Header returns the response headers, as net/http's writer does.
func (w *responseWriter) Header() http.Header { return w.rw.Header() }

// Unwrap returns the wrapped writer, so http.ResponseController reaches
// its deadlines and full-duplex switch.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.rw }

// WriteHeader records the status. Informational (1xx) responses such as
// 103 Early Hints, and 101 Switching Protocols, go to the client at once
// and untouched; the final status waits until the middleware knows
// whether it compresses.
func (w *responseWriter) WriteHeader(code int) {
	switch {
	case code < 100 || code > 999:
		w.rw.WriteHeader(code) // net/http panics with its own message, from the handler's call
	case w.state != statePending:
		w.rw.WriteHeader(code) // superfluous: net/http logs it
	case code < 200 && code != http.StatusSwitchingProtocols:
		w.rw.WriteHeader(code)
	case code == http.StatusSwitchingProtocols && w.status == 0:
		// A protocol upgrade (WebSocket, h2c): there is no body to
		// compress, and net/http sends the 101 only if it has it before
		// the handler hijacks the connection.
		w.status, w.examined = code, true
		w.verdict, w.reason = verdictIdentity, skipNoBody
		w.state = stateIdentity
		w.releaseBuf()
		w.rw.WriteHeader(code)
	case w.status == 0:
		w.status = code
		// Decide on the headers as they are now: net/http, too, ignores
		// changes made after WriteHeader.
		w.examine()
	}
}

// examine decides what the headers allow, once, at WriteHeader or at the
// first write, flush or finish.
func (w *responseWriter) examine() {
	if w.examined {
		return
	}
	w.examined = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.rw.Header()
	w.verdict, w.reason = w.classify(h)
	if w.status == http.StatusOK && w.verdict != verdictIdentity && w.weakMatch(h) {
		w.verdict = verdict304
	}
}

// classify looks at the status and the headers the handler set.
func (w *responseWriter) classify(h http.Header) (verdict, skipReason) {
	ct, typeKnown := h["Content-Type"]
	w.typeKnown = typeKnown
	if len(ct) > 0 {
		w.typeValue = ct[0]
		// An event stream is flushed event by event whether compressed or
		// not: the handler that forgot to flush still streams.
		w.flushEach = isEventStream(w.typeValue)
	}
	if ce := h["Content-Encoding"]; len(ce) > 0 && ce[0] != "" {
		if len(ce) == 1 && strings.EqualFold(strings.TrimSpace(ce[0]), "identity") {
			delete(h, "Content-Encoding") // the opt-out; not a valid response coding
		}
		return verdictIdentity, skipEncoded
	}
	switch {
	case w.status < 200, w.status == http.StatusNoContent, w.status == http.StatusNotModified:
		return verdictIdentity, skipNoBody
	case w.status == http.StatusPartialContent || len(h["Content-Range"]) > 0:
		return verdictIdentity, skipRange
	case w.choice < 0:
		return verdictIdentity, skipNotAccepted
	}
	if hasToken(h["Cache-Control"], "no-transform") {
		return verdictIdentity, skipEncoded
	}
	if w.typeValue != "" {
		if !w.c.cfg.types.match(w.typeValue) {
			return verdictIdentity, skipType
		}
		if w.flushEach {
			return verdictCompress, skipNone
		}
	}
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			switch {
			case n == 0:
				return verdictIdentity, skipNoBody
			case n < int64(w.c.cfg.minSize):
				return verdictIdentity, skipSmall
			case w.typeValue != "":
				return verdictCompress, skipNone
			}
		}
	}
	return verdictSize, skipNone
}

// weakMatch reports whether the handler answered 200 with a strong ETag
// while the request's If-None-Match holds the weak form the middleware
// issued for it: the handler compared byte for byte and missed a match
// that RFC 9110's weak comparison makes.
func (w *responseWriter) weakMatch(h http.Header) bool {
	if w.req.Method != http.MethodGet && w.req.Method != http.MethodHead {
		return false
	}
	inm := w.req.Header["If-None-Match"]
	if len(inm) == 0 {
		return false
	}
	etag := h["Etag"]
	return len(etag) == 1 && isStrongETag(etag[0]) && ifNoneMatchWeak(inm, etag[0])
}

// Write sends, buffers or compresses p, as the response's state requires.
func (w *responseWriter) Write(p []byte) (int, error) {
	switch w.state {
	case stateEncode:
		return w.writeEncoded(p)
	case stateIdentity:
		return w.writeIdentity(p)
	case stateDiscard:
		return len(p), nil
	case stateHijacked:
		return 0, http.ErrHijacked
	case stateDone:
		return 0, errFinished
	}
	w.examine()
	switch w.verdict {
	case verdictSize:
		if len(p) == 0 {
			return 0, nil
		}
		if len(w.buf)+len(p) < w.c.cfg.minSize {
			w.hold(p)
			return len(p), nil
		}
		n0 := len(p)
		p = w.decideOnBody(p)
		if _, err := w.Write(p); err != nil {
			return 0, err
		}
		return n0, nil
	case verdictCompress:
		if err := w.startEncode(); err != nil {
			return 0, err
		}
	default:
		if err := w.startPlain(); err != nil {
			return 0, err
		}
	}
	return w.Write(p)
}

// WriteString is Write without the copy a string-to-slice conversion makes.
func (w *responseWriter) WriteString(s string) (int, error) {
	if w.state == stateIdentity && !w.flushEach {
		n, err := w.out.WriteString(s)
		w.in += int64(n)
		return n, err
	}
	// Every path below copies p (into buf, an encoder's window or the
	// client's buffer) and, as io.Writer requires, never modifies or
	// retains it, so the string's bytes are safe to lend.
	return w.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func (w *responseWriter) writeEncoded(p []byte) (int, error) {
	if w.enc == nil {
		if w.head {
			return len(p), nil // net/http would drop it too
		}
		if err := w.startEncoder(); err != nil {
			return 0, err
		}
	}
	n, err := w.enc.Write(p)
	w.in += int64(n)
	if err == nil && w.flushEach {
		err = w.flushEncoded()
	}
	return n, err
}

func (w *responseWriter) writeIdentity(p []byte) (int, error) {
	n, err := w.out.Write(p)
	w.in += int64(n)
	if err == nil && w.flushEach {
		err = w.flushDown()
	}
	return n, err
}

// hold appends p to the buffer, taking one from the pool first.
func (w *responseWriter) hold(p []byte) {
	if w.bufp == nil {
		w.bufp = w.c.bufs.Get().(*[]byte)
		w.buf = (*w.bufp)[:0]
	}
	w.buf = append(w.buf, p...)
}

// decideOnBody decides a verdictSize response now that the body is long
// enough (or is flushed), sniffing its type when the handler set none, and
// returns the part of p not moved into the buffer for sniffing.
func (w *responseWriter) decideOnBody(p []byte) []byte {
	compressible := true
	if w.typeValue == "" {
		sample := p
		if len(w.buf) > 0 {
			if n := sniffLen - len(w.buf); n > 0 {
				n = min(n, len(p))
				w.hold(p[:n])
				p = p[n:]
			}
			sample = w.buf
		}
		sample = sample[:min(len(sample), sniffLen)]
		if len(sample) == 0 {
			compressible = false // nothing to tell the type by
		} else {
			ct := http.DetectContentType(sample)
			compressible = w.c.cfg.types.match(ct)
			if compressible && !w.typeKnown {
				// net/http does not sniff encoded bodies, so set what it
				// would have.
				w.rw.Header()["Content-Type"] = []string{ct}
			}
		}
	}
	if compressible {
		w.verdict = verdictCompress
	} else {
		w.verdict, w.reason = verdictIdentity, skipType
	}
	return p
}

// startPlain sends the headers of a response the middleware does not
// compress, and whatever it buffered.
func (w *responseWriter) startPlain() error {
	h := w.rw.Header()
	addVary(h)
	if w.verdict == verdictIdentity && w.reason != skipEncoded && !w.identityOK &&
		w.c.cfg.notAcceptable && w.status >= 200 && w.status < 300 {
		w.verdict = verdict406
	}
	switch w.verdict {
	case verdict304:
		// The client holds the weak tag of a compressed response; a 200
		// now would be compressed too and carry the same tag.
		h["Etag"] = []string{"W/" + h["Etag"][0]}
		w.state = stateDiscard
		// As net/http's ServeContent: a 304 carries no representation
		// metadata but its validators.
		delete(h, "Content-Type")
		delete(h, "Content-Length")
		delete(h, "Last-Modified")
		w.rw.WriteHeader(http.StatusNotModified)
		w.releaseBuf()
		return nil
	case verdict406:
		w.state = stateDiscard
		for _, k := range representationHeaders {
			delete(h, k)
		}
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["X-Content-Type-Options"] = []string{"nosniff"}
		w.rw.WriteHeader(http.StatusNotAcceptable)
		w.releaseBuf()
		_, err := io.WriteString(w.rw, w.c.notAcceptableBody)
		return err
	}
	if w.status == http.StatusNotModified && w.choice >= 0 && w.weakETagInRequest(h) {
		// The client revalidates the compressed representation; the
		// handler's 304 must name the tag the client holds.
		h["Etag"] = []string{"W/" + h["Etag"][0]}
	}
	w.state = stateIdentity
	w.rw.WriteHeader(w.status)
	if len(w.buf) == 0 {
		w.releaseBuf()
		return nil
	}
	_, err := w.writeIdentity(w.buf)
	w.releaseBuf()
	return err
}

// weakETagInRequest reports whether the handler's 304 carries a strong tag
// whose weak form the request's If-None-Match lists.
func (w *responseWriter) weakETagInRequest(h http.Header) bool {
	etag := h["Etag"]
	return len(etag) == 1 && isStrongETag(etag[0]) && ifNoneMatchWeak(w.req.Header["If-None-Match"], etag[0])
}

// representationHeaders describe the handler's body, which a 406 replaces.
var representationHeaders = []string{
	"Content-Type", "Content-Length", "Content-Range", "Content-Encoding",
	"Content-Language", "Content-Location", "Content-Disposition",
	"Etag", "Last-Modified", "Accept-Ranges",
	"Content-Md5", "Digest", "Content-Digest", "Repr-Digest",
}

// integrityHeaders describe the identity bytes and would be wrong for the
// compressed ones.
var integrityHeaders = []string{"Content-Md5", "Digest", "Content-Digest", "Repr-Digest"}

// startEncode sends the headers of a compressed response and starts the
// encoder on whatever was buffered.
func (w *responseWriter) startEncode() error {
	h := w.rw.Header()
	w.codec = w.c.codecs[w.choice]
	h["Content-Encoding"] = []string{w.codec.name}
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges") // byte ranges of the identity body do not apply
	for _, k := range integrityHeaders {
		delete(h, k)
	}
	if etag := h["Etag"]; len(etag) > 0 {
		switch {
		case len(etag) == 1 && isWeakETag(etag[0]):
		case len(etag) == 1 && isStrongETag(etag[0]):
			h["Etag"] = []string{"W/" + etag[0]}
		default:
			delete(h, "Etag") // malformed: no tag beats a wrong one
		}
	}
	addVary(h)
	w.state = stateEncode
	w.rw.WriteHeader(w.status)
	if w.head {
		w.releaseBuf()
		return nil
	}
	if len(w.buf) == 0 {
		w.releaseBuf()
		return nil // the encoder starts with the first byte
	}
	err := w.startEncoder()
	if err == nil {
		_, err = w.writeEncoded(w.buf)
	}
	w.releaseBuf()
	return err
}

// startEncoder takes an encoder from the pool and pads the stream when
// RandomPadding is on.
func (w *responseWriter) startEncoder() error {
	w.enc = w.codec.get(&w.out)
	if limit := w.c.cfg.padding; limit > 0 {
		return pad(w.enc, &w.out, 1+rand.IntN(limit), &w.scratch)
	}
	return nil
}

func (w *responseWriter) releaseBuf() {
	if w.bufp != nil {
		*w.bufp = w.buf[:0]
		w.c.bufs.Put(w.bufp)
		w.bufp, w.buf = nil, nil
	}
}

// Flush sends what the handler wrote so far, compressed if the response
// is: an SSE event or a streamed chunk reaches the client at once.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with the error; http.ResponseController calls it.
// A response still waiting for MinSize bytes is decided on the spot: a
// handler that flushes streams, so its body is compressed if its type
// allows, whatever its size so far.
func (w *responseWriter) FlushError() error {
	switch w.state {
	case statePending:
		w.examine()
		if w.verdict == verdictSize {
			w.decideOnBody(nil)
		}
		var err error
		if w.verdict == verdictCompress {
			err = w.startEncode()
		} else {
			err = w.startPlain()
		}
		if err != nil {
			return err
		}
		return w.FlushError()
	case stateEncode:
		return w.flushEncoded()
	case stateHijacked:
		return http.ErrHijacked
	case stateDone:
		return errFinished
	}
	return w.flushDown()
}

// flushEncoded pushes the encoder's pending output, then the client's.
func (w *responseWriter) flushEncoded() error {
	if w.enc == nil && !w.head {
		// Flushed before any byte: start the stream so the client sees a
		// valid prefix of it.
		if err := w.startEncoder(); err != nil {
			return err
		}
	}
	if w.enc != nil {
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	return w.flushDown()
}

// flushDown flushes the wrapped writer, through its Unwrap chain if needed.
func (w *responseWriter) flushDown() error {
	switch f := w.rw.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.NewResponseController(w.rw).Flush()
}

// Hijack hands the connection to the handler, through the wrapped
// writer's Unwrap chain. Anything buffered or compressed and not yet
// flushed is dropped, as net/http drops its own buffer's content.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.rw).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.abandon()
	w.state = stateHijacked
	return conn, brw, nil
}

var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// ReadFrom copies src into the response. An uncompressed response keeps
// the wrapped writer's ReadFrom, so net/http can still use sendfile.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.state == statePending {
		w.examine()
		var err error
		switch w.verdict {
		case verdictSize:
		case verdictCompress:
			err = w.startEncode()
		default:
			err = w.startPlain()
		}
		if err != nil {
			return 0, err
		}
	}
	if rf, ok := w.rw.(io.ReaderFrom); ok && w.state == stateIdentity && !w.flushEach {
		n, err := rf.ReadFrom(src)
		w.in += n
		w.out.n += n
		return n, err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			total += int64(nw)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// finish completes the response after the handler returned (normal) or
// panicked. On a panic nothing more is written: the client must see a
// truncated response, not a complete-looking one, and net/http aborts the
// connection or stream.
func (w *responseWriter) finish(normal bool) {
	st := &w.c.stats
	if !normal || w.state == stateHijacked {
		w.abandon()
		w.state = stateDone
		st.aborted.Add(1)
		return
	}
	if w.state == statePending {
		w.examine()
		if w.verdict == verdictSize {
			// The whole body is shorter than MinSize.
			w.verdict, w.reason = verdictIdentity, skipSmall
			if len(w.buf) == 0 {
				w.reason = skipNoBody
			}
		}
		if w.verdict == verdictCompress {
			_ = w.startEncode() // a write error means the client left; nothing to report it to
		} else {
			_ = w.startPlain()
		}
	}
	switch w.state {
	case stateEncode:
		if w.enc == nil && !w.head {
			_ = w.startEncoder() // an empty body is still a valid stream
		}
		if w.enc != nil {
			err := w.enc.Close()
			w.codec.put(w.enc, err == nil)
			w.enc = nil
		}
		st.enc[w.codec.coding].add(w.in, w.out.n)
	case stateIdentity:
		st.identity.add(w.in, w.out.n)
		st.skipped[w.reason].Add(1)
	case stateDiscard:
		if w.verdict == verdict304 {
			st.notModified.Add(1)
		} else {
			st.notAcceptable.Add(1)
		}
	}
	w.releaseBuf()
	w.state = stateDone
}

// abandon drops the encoder and the buffer without finishing the stream.
func (w *responseWriter) abandon() {
	if w.enc != nil {
		w.codec.put(w.enc, false)
		w.enc = nil
	}
	w.releaseBuf()
}

// addVary adds Accept-Encoding to Vary unless it, or "*", is listed.
func addVary(h http.Header) {
	if hasToken(h["Vary"], "Accept-Encoding") || hasToken(h["Vary"], "*") {
		return
	}
	h["Vary"] = append(h["Vary"], "Accept-Encoding")
}

// hasToken reports whether the comma-separated field lines list token,
// ignoring case.
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for line != "" {
			var elem string
			if i := strings.IndexByte(line, ','); i >= 0 {
				elem, line = line[:i], line[i+1:]
			} else {
				elem, line = line, ""
			}
			if strings.EqualFold(trimOWS(elem), token) {
				return true
			}
		}
	}
	return false
}
