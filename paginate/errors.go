package paginate

import (
	"errors"
	"net/http"
)

var (
	// ErrInvalidCursor is returned for a cursor that is malformed, too
	// long, of an unknown version, or whose signature does not verify
	// (tampered or signed with a key the server no longer holds).
	ErrInvalidCursor = errors.New("paginate: invalid cursor; restart from the first page")
	// ErrExpiredCursor is returned for a cursor older than the Signer's TTL.
	ErrExpiredCursor = errors.New("paginate: expired cursor; restart from the first page")
	// ErrForeignCursor is returned for a validly signed cursor that belongs
	// to another query (other table, sort, filter), or that was passed as
	// "before" while it points forward, or the other way round.
	ErrForeignCursor = errors.New("paginate: cursor belongs to another query; restart from the first page")
	// ErrBothCursors is returned when a request carries both after and
	// before.
	ErrBothCursors = errors.New("paginate: after and before are mutually exclusive; send one")
	// ErrBadLimit is returned when limit is not an integer.
	ErrBadLimit = errors.New("paginate: limit must be an integer")
	// ErrUnknownField is returned for a field or sort column outside the
	// allow list; the [*Error] message lists the valid ones.
	ErrUnknownField = errors.New("paginate: unknown field")
	// ErrBadFields is returned for a malformed field list (too long, too
	// many fields, empty names).
	ErrBadFields = errors.New("paginate: malformed field list")
	// ErrCursorTooLong is returned by [Signer.Sign], and so by [Query]
	// and [Run], when a cursor would exceed SignerOptions.MaxCursorLen
	// because the sort values of the page's first or last row are too
	// long. It comes as an [*Error] with Status 500, which [WriteError]
	// answers with a message telling the client to sort by shorter
	// columns. Sort by bounded columns, or raise MaxCursorLen.
	ErrCursorTooLong = errors.New("paginate: cursor too long; sort by shorter columns")
	// ErrNoEstimate is returned by [EstimateCount] when the database has
	// no statistics for the table (PostgreSQL before the first ANALYZE or
	// autovacuum, SQLite without ANALYZE).
	ErrNoEstimate = errors.New("paginate: no row estimate for the table; run ANALYZE or use BoundedCount")
)

// Error is an error with the HTTP status it should be answered with: a
// client error (400), or a cursor the server cannot produce (500,
// [ErrCursorTooLong]). Err is one of the package's sentinel errors, so
// errors.Is works; Msg is the text for the client. An Error is immutable
// and safe to share.
type Error struct {
	Status int    // HTTP status: 400, or 500 for ErrCursorTooLong
	Msg    string // what the client sees; never contains a key or a cursor's content
	Err    error  // the sentinel, e.g. ErrInvalidCursor
}

// Error returns Msg, or the sentinel's text when Msg is empty.
func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

func badRequest(sentinel error, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Err: sentinel, Msg: msg}
}

// StatusOf returns the HTTP status for err: the Status of an [*Error] in
// its chain, 200 for nil, and 500 otherwise. It is safe for concurrent use.
func StatusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}

// WriteError answers a request with err: the status from [StatusOf] and a
// JSON body {"error": "..."}. Errors that are not an [*Error] are answered
// 500 with a generic message, so database errors do not leak to clients.
func WriteError(w http.ResponseWriter, err error) {
	status := StatusOf(err)
	msg := "internal error"
	var e *Error
	if errors.As(err, &e) {
		msg = e.Error()
	}
	writeJSON(w, status, map[string]string{"error": msg})
}
