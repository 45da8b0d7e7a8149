package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// isJSON reports whether a Content-Type header names JSON:
// application/json or any application/*+json, parameters allowed.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// bodyChunk is the first buffer of a body read. The buffer grows only as
// bytes arrive, so a client that declares a large Content-Length and goes
// silent holds this much, not what it declared.
const bodyChunk = 4 << 10

// readBody reads the whole body, at most limit bytes (no limit when
// negative), within timeout (none when not positive).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) ([]byte, *Problem) {
	body := r.Body
	if limit >= 0 {
		if r.ContentLength > limit {
			return nil, tooLarge(limit)
		}
		body = http.MaxBytesReader(w, r.Body, limit)
	}
	setBodyDeadline(w, r, timeout)
	// The most room the body can need: what was declared, and never more
	// than the limit, plus the byte that shows the end has come.
	most := int64(math.MaxInt - 1)
	if limit >= 0 {
		most = limit
	}
	if r.ContentLength >= 0 {
		most = min(most, r.ContentLength)
	}
	buf := make([]byte, 0, min(bodyChunk, most+1))
	for {
		if len(buf) == cap(buf) {
			// Double the room, up to most: memory follows the bytes that
			// arrived. Past most (a body longer than declared, which
			// MaxBytesReader or the server cuts off), a chunk at a time.
			n := min(2*cap(buf), int(most)+1)
			if n <= len(buf) {
				n = len(buf) + bodyChunk
			}
			grown := make([]byte, len(buf), n)
			copy(grown, buf)
			buf = grown
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyProblem(err, limit)
		}
	}
	return buf, nil
}

// setBodyDeadline sets the deadline for reading r's body, where w
// supports it. It need not be lifted once the body is in: net/http clears
// it when the body ends (HTTP/1) or applies it to the body alone (HTTP/2),
// so it never cancels the request's context while items run.
func setBodyDeadline(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if timeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return // nothing to read; a deadline would only hit the server's own read
	}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 && srv.ReadTimeout <= timeout {
		return // the server's deadline comes first; never extend it
	}
	// ErrNotSupported: this ResponseWriter cannot; nothing else to do.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
}

// bodyProblem is what the client is told when reading its body failed. It
// does not carry the error's text, which names addresses.
func bodyProblem(err error, limit int64) *Problem {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return NewProblem(http.StatusRequestTimeout, "the request body did not arrive in time; send it without pausing")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return NewProblem(http.StatusBadRequest, "the request body ended before its declared length")
	default:
		return NewProblem(http.StatusBadRequest, "reading the request body failed")
	}
}

func tooLarge(limit int64) *Problem {
	return NewProblem(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes; send fewer items per request", limit))
}

// splitArray splits a JSON array into its elements without decoding them,
// so each element can fail on its own. It fails the whole request when the
// body is not one well-formed JSON array of 1 to maxItems elements (no limit
// when maxItems is negative).
func splitArray(body []byte, maxItems int) ([]json.RawMessage, *Problem) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, NewProblem(http.StatusBadRequest, "the request body is empty; send a JSON array of items")
	}
	if err != nil {
		return nil, malformed(err, dec)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, NewProblem(http.StatusBadRequest, "the request body must be a JSON array of items")
	}
	var raws []json.RawMessage
	for dec.More() {
		if maxItems >= 0 && len(raws) == maxItems {
			return nil, NewProblem(http.StatusRequestEntityTooLarge,
				fmt.Sprintf("more than %d items; send at most %d items per request", maxItems, maxItems))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed(err, dec)
		}
		raws = append(raws, raw)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, malformed(err, dec)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, NewProblem(http.StatusBadRequest,
			fmt.Sprintf("unexpected data after the JSON array at byte %d", dec.InputOffset()))
	}
	if len(raws) == 0 {
		return nil, NewProblem(http.StatusBadRequest, "the array is empty; send at least one item")
	}
	return raws, nil
}

func malformed(err error, dec *json.Decoder) *Problem {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return NewProblem(http.StatusBadRequest, "the request body ends inside the JSON array")
	}
	return NewProblem(http.StatusBadRequest,
		fmt.Sprintf("malformed JSON near byte %d: %s", dec.InputOffset(), strings.TrimPrefix(err.Error(), "json: ")))
}

// decodeItem decodes one array element into an item. The problem it
// returns names the field and the JSON type, not Go types.
func decodeItem[T any](raw json.RawMessage, strict bool, item *T) *Problem {
	if bytes.Equal(raw, []byte("null")) {
		return NewProblem(http.StatusBadRequest, "the item is null")
	}
	var err error
	if strict {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(item)
	} else {
		err = json.Unmarshal(raw, item)
	}
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return NewProblem(http.StatusBadRequest, fmt.Sprintf("field %q: a JSON %s is not valid here", te.Field, te.Value))
		}
		return NewProblem(http.StatusBadRequest, fmt.Sprintf("a JSON %s is not a valid item", te.Value))
	}
	return NewProblem(http.StatusBadRequest, "invalid item: "+strings.TrimPrefix(err.Error(), "json: "))
}
