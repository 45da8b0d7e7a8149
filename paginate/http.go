package paginate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Query parameters read by [Paginator.ParseRequest] and written by
// [LinkHeader].
const (
	ParamLimit  = "limit"
	ParamAfter  = "after"
	ParamBefore = "before"
	ParamSort   = "sort"
)

// ParseRequest reads a page request from r's query string:
//
//   - limit: page size; missing, zero or negative → Options.DefaultLimit,
//     above Options.MaxLimit → MaxLimit, not an integer → 400.
//   - after / before: cursors; both at once → 400. Cursors are verified
//     by [Paginator.Build], which needs the Where and Args the handler sets.
//   - sort: "price,-id" (a leading "-" is descending), columns from the
//     allow list; missing → Options.DefaultSort.
//   - fields[Name] or fields: see [FieldsFromQuery].
//
// Errors are [*Error] values with Status 400. It is safe for concurrent use.
func (p *Paginator) ParseRequest(r *http.Request) (Request, error) {
	q := r.URL.Query()
	var req Request
	if s := q.Get(ParamLimit); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			t := strings.TrimSpace(s)
			if t != "" && strings.Trim(t, "+-0123456789") == "" {
				// Out of int range: huge means the cap, very negative the default.
				n = p.o.MaxLimit
				if strings.HasPrefix(t, "-") {
					n = 0
				}
			} else {
				return Request{}, badRequest(ErrBadLimit, "")
			}
		}
		req.Limit = p.limit(n)
	} else {
		req.Limit = p.o.DefaultLimit
	}
	req.After, req.Before = q.Get(ParamAfter), q.Get(ParamBefore)
	if req.After != "" && req.Before != "" {
		return Request{}, badRequest(ErrBothCursors, "")
	}
	if s := strings.TrimSpace(q.Get(ParamSort)); s != "" {
		if len(s) > maxFieldsLen {
			return Request{}, badRequest(ErrBadFields, "paginate: sort parameter too long")
		}
		for f := range strings.SplitSeq(s, ",") {
			f = strings.TrimSpace(f)
			k := SortKey{Column: strings.TrimPrefix(f, "-"), Desc: strings.HasPrefix(f, "-")}
			if _, ok := p.columns[k.Column]; !ok {
				return Request{}, p.unknown("sort column", k.Column)
			}
			req.Sort = append(req.Sort, k)
		}
		if _, err := p.normalizeSort(req.Sort); err != nil {
			return Request{}, err
		}
	}
	fields, err := FieldsFromQuery(q, p.o.Name, p.o.Columns)
	if err != nil {
		return Request{}, err
	}
	req.Fields = fields
	return req, nil
}

// LinkHeader returns an RFC 8288 Link header value with rel="next" and
// rel="prev" links: u's path and query with after/before replaced by the
// cursors. Empty cursors are left out; both empty gives "". It does not
// modify u.
func LinkHeader(u *url.URL, next, prev string) string {
	var links []string
	for _, l := range []struct{ param, cursor, rel string }{
		{ParamAfter, next, "next"},
		{ParamBefore, prev, "prev"},
	} {
		if l.cursor == "" {
			continue
		}
		q := u.Query()
		q.Del(ParamAfter)
		q.Del(ParamBefore)
		q.Set(l.param, l.cursor)
		v := url.URL{Path: u.Path, RawQuery: q.Encode()}
		links = append(links, fmt.Sprintf("<%s>; rel=%q", v.String(), l.rel))
	}
	return strings.Join(links, ", ")
}

// WriteLinks sets the Link header of w for pg's Next and Prev, relative to
// r's URL. It does nothing when the page has neither.
func (pg Page[T]) WriteLinks(w http.ResponseWriter, r *http.Request) {
	if h := LinkHeader(r.URL, pg.Next, pg.Prev); h != "" {
		w.Header().Set("Link", h)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
