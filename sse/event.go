package sse

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Event is one Server-Sent Event.
type Event struct {
	// ID is the event's id field, which the client sends back as
	// Last-Event-ID when it reconnects. Empty means no id field. It must
	// not contain NUL, CR or LF.
	ID string
	// Type is the event field (the DOM event a browser dispatches). Empty
	// means "message". It must not contain CR or LF.
	Type string
	// Data is the payload. Every line ending in it (CR, LF or CRLF) starts
	// a new data field, so a payload can never inject another field; the
	// client joins the lines with LF, so a CR or CRLF arrives as LF.
	// Browsers decode it as UTF-8, replacing invalid bytes.
	Data []byte
	// Retry, if positive, sets the client's reconnection delay (the retry
	// field, in whole milliseconds).
	Retry time.Duration
}

// ErrInvalidField is returned by [AppendEvent] for an ID with NUL, CR or
// LF, or a Type with CR or LF: those would end the field and let the rest
// inject a new one.
var ErrInvalidField = errors.New("sse: event ID must not contain NUL, CR or LF, and Type must not contain CR or LF")

// ValidID reports whether id can be sent as an event ID (no NUL, CR or LF).
func ValidID(id string) bool { return !strings.ContainsAny(id, "\x00\r\n") }

// AppendEvent appends ev in the text/event-stream format, ended by the
// blank line that dispatches it, and returns the extended buffer. It
// returns dst unchanged and [ErrInvalidField] for an ID or Type that
// cannot be framed. Safe for concurrent use.
func AppendEvent(dst []byte, ev Event) ([]byte, error) {
	if !ValidID(ev.ID) || strings.ContainsAny(ev.Type, "\r\n") {
		return dst, ErrInvalidField
	}
	if ev.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Type...)
		dst = append(dst, '\n')
	}
	dst = appendData(dst, ev.Data)
	if ev.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, ev.ID...)
		dst = append(dst, '\n')
	}
	if ev.Retry > 0 {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, max(ev.Retry.Milliseconds(), 1), 10)
		dst = append(dst, '\n')
	}
	return append(dst, '\n'), nil
}

// appendData writes one data field per line of data, splitting on CR, LF
// and CRLF. Nil data writes no data field (an event that only sets id or
// retry); empty non-nil data writes one empty field.
func appendData(dst, data []byte) []byte {
	if data == nil {
		return dst
	}
	for {
		i := indexLineEnd(data)
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			return append(dst, '\n')
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

// indexLineEnd returns the index of the first CR or LF in b, or -1.
func indexLineEnd(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// AppendComment appends a comment line per line of text (": text"), which
// clients ignore: a heartbeat that keeps proxies from timing the stream
// out. It ends with a blank line so the comment reaches the parser at once.
func AppendComment(dst []byte, text string) []byte {
	for {
		i := strings.IndexAny(text, "\r\n")
		dst = append(dst, ':')
		if text != "" {
			dst = append(dst, ' ')
		}
		if i < 0 {
			dst = append(dst, text...)
			return append(dst, '\n', '\n')
		}
		dst = append(dst, text[:i]...)
		dst = append(dst, '\n')
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}
