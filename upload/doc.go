// Package upload moves large files over HTTP: resumable uploads with the
// tus 1.0.0 protocol, Range downloads, and pre-signed URLs, at memory that
// does not grow with the file.
//
// # Quick start
//
//	store, _ := upload.NewDiskStore(dir) // e.g. /var/lib/uploads
//	h, _ := upload.NewHandler(store, &upload.Options{
//		PreCreate: func(r *http.Request, info upload.Info) error {
//			if !authorized(r) {
//				return &upload.HookError{Status: 401, Message: "log in first"}
//			}
//			return nil
//		},
//		PostFinish: func(r *http.Request, info upload.Info) { record(info) },
//	})
//	defer h.Close()
//	mux.Handle("/files/", h)
//
//	c, _ := upload.NewClient(endpoint, &upload.ClientOptions{Header: auth}) // endpoint https://example.com/files/
//	url, err := c.Upload(ctx, file, size, map[string]string{"filename": "video.mp4"})
//
// # The protocol
//
// [Handler] speaks tus 1.0.0 (https://tus.io/protocols/resumable-upload)
// with the extensions creation, creation-with-upload,
// creation-defer-length, expiration, checksum (md5, sha1, sha256) and
// checksum-trailer, termination and concatenation, and accepts
// X-HTTP-Method-Override for clients that cannot send PATCH or DELETE. Any
// tus client works: tus-js-client in browsers and Node, the [Client] here.
//
// Bad input gets a 4xx and never costs a committed byte: a wrong
// Tus-Resumable 412, a PATCH without application/offset+octet-stream 415,
// a wrong Upload-Offset 409, a body past Upload-Length or Options.MaxSize
// 413 (checked against Content-Length before a byte is read), an unknown
// checksum algorithm 400, a checksum mismatch 460 (the chunk is discarded),
// a PATCH on a final upload 403, an unknown upload 404, an expired or
// terminated one 410, a second writer 423.
//
// # Storage
//
// A [Store] holds uploads; [NewDiskStore] keeps them in a directory and
// upload/s3 in an S3-compatible bucket (multipart uploads). Writes stream
// through a fixed buffer, are made durable (fsync) before the offset that
// acknowledges them is recorded, and the last one renames the file into
// place, so a file under its final name is always whole. A client that
// disconnects mid-PATCH keeps what arrived (unless the chunk carried a
// checksum, which a cut chunk cannot match), and HEAD says so. One request
// writes to an upload at a time: the others get 423, and a request whose
// body stalls for Options.IdleTimeout is cut, releasing the lock; the disk
// store's lock is a file lock, released by the kernel when a process dies.
// Upload IDs are 128 random bits, and an ID of any other shape is refused
// before it reaches a path.
//
// Unfinished uploads expire (Options.Expiration, 24h): they are refused
// with 410 and removed by a sweeper the handler runs.
//
// # Downloads
//
// [ServeContent] serves a file with http.ServeContent's Range, If-Range and
// multipart semantics, but sorts and merges the requested ranges first and
// caps their number (ServeOptions.MaxRanges), so a request for many
// overlapping ranges cannot make the server send a file many times. It
// sends a strong ETag and a Content-Disposition whose filename cannot
// break out of the header or name a path ([ContentDisposition]). With
// Options.Download set, the handler serves complete uploads this way on
// GET.
//
// # Pre-signed URLs
//
// A [Signer] signs URLs with HMAC-SHA256 so that the bytes go to the
// upload server without the API server in the path: the URL fixes the
// method, the path, the expiry and optionally the largest body and the
// content type; [Signer.Wrap] refuses anything else with 403 and a reason
// before reading the body. Keys have IDs, so they can be rotated. For S3,
// upload/s3 presigns with SigV4.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor.
//
// # Hooks and goroutines
//
// Options.PreCreate decides who may upload what; it has no permissive
// default: [NewHandler] wants it or Options.Public. Options.PostFinish
// records a complete upload. Hooks run on a goroutine of their own so that
// a panic or runtime.Goexit in one is recovered, counted
// (Stats.HookPanics) and answered with 500. The only goroutine the handler
// keeps is the expiration sweeper, which [Handler.Close] stops.
package upload
