// Package compress is HTTP response compression middleware (zstd, brotli,
// gzip) and a static file server that prefers precompressed sidecar files.
//
// # Quick start
//
//	mw, err := compress.Middleware(nil) // zstd, br, gzip; 1 KiB minimum; text-like types
//	if err != nil {
//		log.Fatal(err)
//	}
//	handler := mw(mux) // serve it: http.ListenAndServe(":8080", handler)
//
// Use [New] instead of [Middleware] to keep the [Compressor] and read its
// [Compressor.Stats]. [Options] change the encodings and their order, the
// levels, MinSize, the ContentTypes list, NotAcceptable and RandomPadding;
// each field documents its default:
//
//	c, err := compress.New(&compress.Options{
//		Encodings: []string{compress.Brotli, compress.Gzip}, // preference order
//		MinSize:   512,                                      // bytes; negative: no minimum
//	})
//	…
//	http.ListenAndServe(":8080", c.Handler(mux))
//	st := c.Stats() // responses and bytes per coding
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. In this package a negative MinSize compresses bodies of any
// size; a negative level or RandomPadding is an error.
//
// # Negotiation
//
// The coding comes from the request's Accept-Encoding as RFC 9110 section
// 12.5.3 describes it: the highest q-value wins; "*" stands for every
// coding the client did not name; q=0 excludes ("br;q=0, *" never gets
// brotli); ties go to the server's order ([Options].Encodings); identity is always
// acceptable unless excluded. When the client excludes identity and accepts
// none of the codings on offer, the response goes out uncompressed anyway,
// or as 406 Not Acceptable with [Options].NotAcceptable. Malformed elements of the
// header are ignored, never guessed at.
//
// # What is compressed
//
// A response is compressed when the client accepts an enabled coding, its
// status has a body (not 1xx, 204, 304), it is not partial (206 or
// Content-Range), its Content-Type (or, without one, the type net/http
// would sniff) is in the [Options].ContentTypes list, and its body is at
// least [Options].MinSize bytes. The middleware holds up to MinSize bytes to learn that;
// a Content-Length the handler sets decides at once, without buffering.
//
// A handler opts a response out by setting "Content-Encoding: identity"
// (removed before sending) or "Cache-Control: no-transform"; a response
// that already has a Content-Encoding passes through untouched.
//
// # Headers
//
// Every response, compressed or not, gets "Vary: Accept-Encoding" once. A
// compressed response loses Content-Length, Accept-Ranges and digests of
// the identity body (Content-MD5, Digest, Content-Digest, Repr-Digest), and
// its strong ETag becomes weak (W/"…"): the compressed bytes differ from the
// identity bytes the tag was made for. Handlers that compare If-None-Match
// weakly, as RFC 9110 requires and http.ServeContent does, answer 304 to
// the weak tag by themselves. For handlers that compare byte for byte, the
// middleware turns their 200 into a 304 when If-None-Match lists the weak
// form of their strong ETag, and weakens the ETag of their own 304s to the
// tag the client holds. Without a Content-Type, the middleware sets the
// sniffed one on compressed responses, as net/http would have.
//
// HEAD responses get the headers the same GET would get, as far as the
// handler's headers and body tell, and no body. 1xx informational responses
// (103 Early Hints) go out at once and untouched.
//
// # Streaming
//
// Flush compresses and sends everything written so far: through
// [net/http.Flusher] or [net/http.ResponseController], each Server-Sent
// Event reaches the client when it is flushed. A response flushed before it
// reaches MinSize is compressed anyway, since its size is unknown. A
// text/event-stream response is flushed after every write, for handlers
// that forget. The writer implements Unwrap, so ResponseController also
// reaches deadlines and Hijack; ReadFrom keeps sendfile for uncompressed
// bodies.
//
// # Resources and failure
//
// Encoders are pooled per Compressor, so a request allocates no compressor
// state; the writer itself is allocated per request, so a handler goroutine
// that writes late can never write into another request's response. When a
// handler panics, the stream is not finished (the client sees a truncated
// response, as without the middleware) and its encoder is reset before it
// returns to the pool. The middleware itself never answers 500: its only
// errors are the client's write errors, returned to the handler.
//
// # Static files
//
// [FileServer] serves an [io/fs.FS] and, when the client accepts it, a
// precompressed sidecar (name.zst, name.br, name.gz) in place of the file,
// with the original's Content-Type and an ETag of its own; otherwise it
// compresses on the fly like the middleware. [Precompress] writes those
// sidecars at maximum effort; run it from go:generate with
// compress/cmd/precompress.
//
// # Caveats
//
// Compressing a response that mixes a secret with attacker-controlled
// input exposes the secret to BREACH; see [Options].RandomPadding for a partial
// mitigation and the real ones. Request bodies are not decompressed.
package compress
