package batch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// ProblemContentType is the media type of a problem details document (RFC
// 9457), used for whole-request errors of a [BulkHandler].
const ProblemContentType = "application/problem+json"

// Problem is a problem details object (RFC 9457). A [BulkHandler] uses it for
// the error of a failed item and as the body of a whole-request error.
//
// Problem is also an error: an item function returns one (directly or
// wrapped) to choose the item's status and what the client is told, e.g.
// NewProblem(http.StatusConflict, "sku 42 already exists").
type Problem struct {
	// Type is a URI reference that identifies the problem type. Empty
	// means "about:blank": the problem is just its HTTP status.
	Type string `json:"type,omitempty"`
	// Title is a short summary of the problem type. Empty: the status text.
	Title string `json:"title,omitempty"`
	// Status is the HTTP status code for this occurrence. Zero: 500.
	Status int `json:"status,omitempty"`
	// Detail explains this occurrence to the client. It is sent as is, so
	// it must not carry secrets.
	Detail string `json:"detail,omitempty"`
	// Instance is a URI reference that identifies this occurrence.
	Instance string `json:"instance,omitempty"`
}

// NewProblem returns a problem with status, its status text as title, and
// detail.
func NewProblem(status int, detail string) *Problem {
	return &Problem{Status: status, Title: http.StatusText(status), Detail: detail}
}

// Error reports the status, title and detail.
func (p *Problem) Error() string {
	s := "batch:"
	if p.Status != 0 {
		s += " " + strconv.Itoa(p.Status)
	}
	if p.Title != "" {
		s += " " + p.Title
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// normalized returns a copy with Status, Title and Type filled.
func (p *Problem) normalized() *Problem {
	q := *p
	if q.Status < 100 || q.Status > 999 {
		q.Status = http.StatusInternalServerError
	}
	if q.Type == "" {
		q.Type = "about:blank"
	}
	if q.Title == "" {
		q.Title = http.StatusText(q.Status)
	}
	return &q
}

// writeProblem answers a whole request with a problem document.
func writeProblem(w http.ResponseWriter, p *Problem) {
	p = p.normalized()
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: only strings and an int
		body = []byte(fmt.Sprintf(`{"status":%d}`, p.Status))
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n'))
}
