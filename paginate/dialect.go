package paginate

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect is the SQL flavour a [Paginator] writes. The zero value is
// [SQLite].
type Dialect int

const (
	// SQLite writes "?" placeholders. Its native NULL order is NULLs
	// smallest (first ascending, last descending); the Paginator writes
	// NULLS FIRST/LAST explicitly, which needs SQLite 3.30 or later.
	SQLite Dialect = iota
	// PostgreSQL writes "$1", "$2", … placeholders. Its native NULL order
	// is NULLs largest (last ascending, first descending), which is what
	// [NullsDefault] asks for, so its B-tree indexes serve the ORDER BY.
	PostgreSQL
)

// String returns "sqlite" or "postgresql".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case PostgreSQL:
		return "postgresql"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

func (d Dialect) valid() bool { return d == SQLite || d == PostgreSQL }

// placeholder returns the n-th (1-based) parameter marker.
func (d Dialect) placeholder(n int) string {
	if d == PostgreSQL {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// rebind rewrites the "?" markers of a caller's SQL fragment into the
// dialect's markers numbered from first, skipping quoted strings and
// identifiers. It returns the fragment and the number of markers.
func (d Dialect) rebind(frag string, first int) (string, int) {
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(frag); i++ {
		c := frag[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			b.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			b.WriteByte(c)
		case c == '?':
			b.WriteString(d.placeholder(first + n))
			n++
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), n
}

// validIdent reports whether s is a plain SQL identifier, optionally
// schema-qualified: letters, digits and underscores, not starting with a
// digit.
func validIdent(s string) bool {
	if s == "" || len(s) > 63*2+1 {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// quote returns the identifier double-quoted per part. Identifiers are
// validated before; quoting keeps reserved words such as "order" working.
func quote(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	return strings.Join(parts, ".")
}

func identError(kind, s string) error {
	return fmt.Errorf("paginate: %s %q is not a plain identifier (letters, digits, underscores)", kind, s)
}
