package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
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

// readBody reads the whole body, at most limit bytes (no limit when
// negative).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Problem) {
	body := r.Body
	if limit >= 0 {
		if r.ContentLength > limit {
			return nil, tooLarge(limit)
		}
		body = http.MaxBytesReader(w, r.Body, limit)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, NewProblem(http.StatusBadRequest, "reading the request body failed: "+err.Error())
	}
	return buf.Bytes(), nil
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
