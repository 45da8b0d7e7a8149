package compress

import "sync/atomic"

// Stats is a snapshot of a [Compressor]'s counters since it was created,
// returned by [Compressor.Stats]. Counters only grow; a monitoring system
// derives rates from successive snapshots.
type Stats struct {
	// Gzip, Brotli and Zstd count the responses compressed with each
	// coding.
	Gzip, Brotli, Zstd EncodingStats
	// Identity counts the responses sent without compression, whatever the
	// reason; BytesIn equals BytesOut.
	Identity EncodingStats

	// Why responses went out uncompressed, one count per response.
	SkippedNotAccepted int64 // the client accepts none of the enabled codings
	SkippedSmall       int64 // the body was shorter than MinSize
	SkippedType        int64 // the Content-Type is not in the ContentTypes list
	SkippedEncoded     int64 // the handler set Content-Encoding (including the identity opt-out)
	SkippedNoBody      int64 // status 1xx, 204 or 304, or an empty body
	SkippedRange       int64 // a partial response (206, Content-Range)

	// NotModified counts 304 responses the middleware sent for handlers
	// that answered 200 to an If-None-Match carrying the weak ETag of a
	// compressed response (see the package documentation).
	NotModified int64
	// NotAcceptable counts 406 responses (see [Options].NotAcceptable).
	NotAcceptable int64
	// Aborted counts responses that did not finish normally: the handler
	// panicked or hijacked the connection.
	Aborted int64
}

// EncodingStats counts the responses of one coding. The zero value is
// valid.
type EncodingStats struct {
	Responses int64 // responses sent
	BytesIn   int64 // body bytes the handlers wrote
	BytesOut  int64 // body bytes sent to clients
}

// Ratio returns BytesIn divided by BytesOut: how many times smaller the
// bodies were on the wire. It returns 0 when nothing was sent.
func (s EncodingStats) Ratio() float64 {
	if s.BytesOut == 0 {
		return 0
	}
	return float64(s.BytesIn) / float64(s.BytesOut)
}

// skipReason is why a response is sent uncompressed.
type skipReason uint8

const (
	skipNone skipReason = iota
	skipNotAccepted
	skipSmall
	skipType
	skipEncoded
	skipNoBody
	skipRange
	numSkipReasons
)

// encCounters are the atomic counterparts of EncodingStats.
type encCounters struct {
	responses, in, out atomic.Int64
}

func (c *encCounters) add(in, out int64) {
	c.responses.Add(1)
	c.in.Add(in)
	c.out.Add(out)
}

func (c *encCounters) load() EncodingStats {
	return EncodingStats{Responses: c.responses.Load(), BytesIn: c.in.Load(), BytesOut: c.out.Load()}
}

// counters are a Compressor's live statistics; every field is updated
// atomically, once per response.
type counters struct {
	enc           [numCodings]encCounters
	identity      encCounters
	skipped       [numSkipReasons]atomic.Int64
	notModified   atomic.Int64
	notAcceptable atomic.Int64
	aborted       atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Gzip:               c.enc[codingGzip].load(),
		Brotli:             c.enc[codingBrotli].load(),
		Zstd:               c.enc[codingZstd].load(),
		Identity:           c.identity.load(),
		SkippedNotAccepted: c.skipped[skipNotAccepted].Load(),
		SkippedSmall:       c.skipped[skipSmall].Load(),
		SkippedType:        c.skipped[skipType].Load(),
		SkippedEncoded:     c.skipped[skipEncoded].Load(),
		SkippedNoBody:      c.skipped[skipNoBody].Load(),
		SkippedRange:       c.skipped[skipRange].Load(),
		NotModified:        c.notModified.Load(),
		NotAcceptable:      c.notAcceptable.Load(),
		Aborted:            c.aborted.Load(),
	}
}
