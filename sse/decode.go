package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// ErrEventTooLarge is returned by [Decoder.Next] when an event (or a line)
// exceeds the decoder's size limit; the stream cannot be resynchronised.
var ErrEventTooLarge = errors.New("sse: event larger than the decoder's limit; raise ClientOptions.MaxEventSize")

// Decoder parses a text/event-stream as the WHATWG HTML standard's event
// stream interpretation does: lines end with CR, LF or CRLF; a leading
// byte order mark is skipped; lines starting with a colon are comments;
// one space after the field's colon is removed; data lines are joined
// with LF; an id containing NUL is ignored; retry takes only ASCII digits;
// unknown fields are ignored; a blank line dispatches the event, except
// that an event with no data field is not dispatched (its id still counts).
// A Decoder is for one goroutine.
type Decoder struct {
	r       *bufio.Reader
	max     int
	started bool
	lastID  string // the last event ID string: committed at each blank line
	idBuf   string // the last event ID buffer: set by id fields
	line    []byte
	cr      bool // the previous line ended with CR: skip one LF
	retry   time.Duration
}

// NewDecoder returns a decoder reading from r. maxEvent bounds the bytes of
// one event's fields; zero or negative means 1 MiB.
func NewDecoder(r io.Reader, maxEvent int) *Decoder {
	if maxEvent <= 0 {
		maxEvent = 1 << 20
	}
	return &Decoder{r: bufio.NewReaderSize(r, 4096), max: maxEvent}
}

// LastEventID returns the last event ID string: the value of the last id
// field, taken at the blank line that ends its block (an id in a block the
// stream cut off does not count). The client sends it as Last-Event-ID
// when it reconnects.
func (d *Decoder) LastEventID() string { return d.lastID }

// readLine returns the next line without its ending, valid until the next
// call. It returns io.EOF when the stream ends, also in a partial line
// (a partial line is never processed, as the standard says).
func (d *Decoder) readLine() ([]byte, error) {
	d.line = d.line[:0]
	for {
		if d.r.Buffered() == 0 {
			if _, err := d.r.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		if d.cr {
			d.cr = false
			if buf[0] == '\n' {
				d.r.Discard(1)
				continue
			}
		}
		i := indexLineEnd(buf)
		if i < 0 {
			d.line = append(d.line, buf...)
			d.r.Discard(len(buf))
			if len(d.line) > d.max {
				return nil, ErrEventTooLarge
			}
			continue
		}
		d.line = append(d.line, buf[:i]...)
		d.cr = buf[i] == '\r'
		d.r.Discard(i + 1)
		if len(d.line) > d.max {
			return nil, ErrEventTooLarge
		}
		return d.line, nil
	}
}

// Next returns the next dispatched event. Comments are skipped. At the end
// of the stream it returns io.EOF (an event without its final blank line
// is discarded, as browsers do) or the read error.
func (d *Decoder) Next() (Event, error) {
	var (
		ev      Event
		data    []byte
		hasData bool
		size    int
	)
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, err
		}
		if !d.started {
			d.started = true
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) == 0 {
			d.lastID = d.idBuf
			if !hasData {
				ev.Type, ev.Retry, size = "", 0, 0
				continue
			}
			ev.ID = d.lastID
			ev.Data = data
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		size += len(line)
		if size > d.max {
			return Event{}, ErrEventTooLarge
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			ev.Type = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				d.idBuf = string(value)
			}
		case "retry":
			if ms, ok := digits(value); ok {
				ev.Retry = time.Duration(ms) * time.Millisecond
				d.retry = ev.Retry
			}
		}
	}
}

// Retry returns the reconnection delay the stream last set with a retry
// field, or 0 if it never did.
func (d *Decoder) Retry() time.Duration { return d.retry }

func digits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
