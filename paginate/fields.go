package paginate

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

const (
	maxFieldsLen = 1024 // longest field list accepted, in bytes
	maxFields    = 64   // most names in a field list
)

// ParseFields parses a comma-separated field list ("id,name") and checks
// each name against allowed. Spaces around names are ignored, duplicates
// are dropped, and an empty list returns nil (meaning every field). An
// unknown name gives an [*Error] with Status 400 wrapping [ErrUnknownField]
// whose message lists the valid fields; a list longer than 1024 bytes or
// than 64 names, or with an empty name, wraps [ErrBadFields]. It is safe
// for concurrent use.
func ParseFields(s string, allowed []string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) > maxFieldsLen {
		return nil, badRequest(ErrBadFields, fmt.Sprintf("paginate: field list is %d bytes; at most %d", len(s), maxFieldsLen))
	}
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, badRequest(ErrBadFields, "paginate: empty name in field list")
		}
		if !slices.Contains(allowed, name) {
			return nil, badRequest(ErrUnknownField, fmt.Sprintf("paginate: unknown field %q; valid: %s", truncate(name, 64), strings.Join(allowed, ", ")))
		}
		if slices.Contains(out, name) {
			continue
		}
		if len(out) == maxFields {
			return nil, badRequest(ErrBadFields, fmt.Sprintf("paginate: more than %d fields", maxFields))
		}
		out = append(out, name)
	}
	return out, nil
}

// FieldsFromQuery reads the field list of resource typ from a query
// string: JSON:API's "fields[typ]=a,b" when present, else "fields=a,b".
// It validates as [ParseFields] does and returns nil when neither is
// present. Several values of one parameter are an error.
func FieldsFromQuery(q url.Values, typ string, allowed []string) ([]string, error) {
	for _, key := range []string{"fields[" + typ + "]", "fields"} {
		vs, ok := q[key]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return nil, badRequest(ErrBadFields, fmt.Sprintf("paginate: %s given %d times; send one comma-separated list", key, len(vs)))
		}
		return ParseFields(vs[0], allowed)
	}
	return nil, nil
}
