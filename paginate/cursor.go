package paginate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// cursorVersion is the first byte of every cursor's payload.
const cursorVersion = 1

const (
	macLen        = 16   // bytes of HMAC-SHA256 kept
	hashLen       = 8    // bytes of the query hash
	maxCursorLen  = 2048 // longest token accepted, in characters
	maxValues     = 32   // most sort keys in a cursor
	minKeyLen     = 16   // shortest signing key accepted
	flagBackward  = 1
	flagInclusive = 2
)

// Cursor is the decoded content of a cursor token: the sort key values of
// the row it points at, in sort order, and the direction.
type Cursor struct {
	// Backward is true for a "before" cursor (a previous page).
	Backward bool
	// Inclusive makes the page include the cursor's own row. It is set
	// on the Prev of an empty page past the end and the Next of an empty
	// page before the start, whose anchor is the requested cursor's row.
	Inclusive bool
	// Values are the row's sort key values, tie-breaker last. Each is
	// int64, float64, string, []byte, bool, time.Time or nil; other
	// integer and float types are converted when signing.
	Values []any
}

// SignerOptions configures a [Signer]. The zero value is valid.
type SignerOptions struct {
	// TTL is how long a cursor stays valid after it was signed. Zero or
	// negative means cursors never expire.
	TTL time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Signer signs and verifies cursors. It is immutable and safe for
// concurrent use.
type Signer struct {
	keys [][]byte
	ttl  time.Duration
	now  func() time.Time
}

// NewSigner returns a Signer that signs with keys[0] and verifies with
// every key, so a key is rotated by prepending the new one and dropping the
// old one once its cursors no longer matter. Each key must be at least 16
// bytes (32 random bytes recommended). opts may be nil. The keys are copied.
func NewSigner(keys [][]byte, opts *SignerOptions) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("paginate: NewSigner needs at least one key")
	}
	s := &Signer{now: time.Now}
	for i, k := range keys {
		if len(k) < minKeyLen {
			return nil, fmt.Errorf("paginate: signing key %d is %d bytes; use at least %d (32 random bytes recommended)", i, len(k), minKeyLen)
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	if opts != nil {
		if opts.TTL > 0 {
			s.ttl = opts.TTL
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
	}
	return s, nil
}

func scopeHash(scope string) [hashLen]byte {
	sum := sha256.Sum256([]byte(scope))
	var h [hashLen]byte
	copy(h[:], sum[:])
	return h
}

// Sign encodes c as an opaque URL-safe token bound to scope, a string that
// identifies the query (a [Paginator] uses table, sort and filter). It fails
// only for a value of an unsupported type or too many values.
func (s *Signer) Sign(scope string, c Cursor) (string, error) {
	if len(c.Values) > maxValues {
		return "", fmt.Errorf("paginate: %d cursor values; at most %d", len(c.Values), maxValues)
	}
	buf := make([]byte, 0, 64)
	buf = append(buf, cursorVersion)
	var flags byte
	if c.Backward {
		flags |= flagBackward
	}
	if c.Inclusive {
		flags |= flagInclusive
	}
	buf = append(buf, flags)
	h := scopeHash(scope)
	buf = append(buf, h[:]...)
	var exp int64
	if s.ttl > 0 {
		exp = s.now().Add(s.ttl).Unix()
	}
	buf = binary.AppendVarint(buf, exp)
	buf = binary.AppendUvarint(buf, uint64(len(c.Values)))
	for _, v := range c.Values {
		var err error
		if buf, err = appendValue(buf, v); err != nil {
			return "", err
		}
	}
	buf = append(buf, mac(s.keys[0], buf)...)
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// Verify decodes token, checks its signature against every key, its expiry
// and that it was signed for scope. Errors are [*Error] values with Status
// 400 wrapping [ErrInvalidCursor], [ErrExpiredCursor] or [ErrForeignCursor].
func (s *Signer) Verify(scope, token string) (Cursor, error) {
	if len(token) == 0 || len(token) > maxCursorLen {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 2+hashLen+2+macLen {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	body, sig := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	ok := false
	for _, k := range s.keys {
		if hmac.Equal(sig, mac(k, body)) {
			ok = true
			break
		}
	}
	if !ok || body[0] != cursorVersion {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	if body[1]&^(flagBackward|flagInclusive) != 0 {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	c := Cursor{Backward: body[1]&flagBackward != 0, Inclusive: body[1]&flagInclusive != 0}
	h := scopeHash(scope)
	if !hmac.Equal(body[2:2+hashLen], h[:]) {
		return Cursor{}, badRequest(ErrForeignCursor, "")
	}
	rest := body[2+hashLen:]
	exp, n := binary.Varint(rest)
	if n <= 0 {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	rest = rest[n:]
	if exp != 0 && s.now().Unix() >= exp {
		return Cursor{}, badRequest(ErrExpiredCursor, "")
	}
	count, n := binary.Uvarint(rest)
	if n <= 0 || count > maxValues {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	rest = rest[n:]
	c.Values = make([]any, 0, count)
	for range count {
		var v any
		if v, rest, err = readValue(rest); err != nil {
			return Cursor{}, badRequest(ErrInvalidCursor, "")
		}
		c.Values = append(c.Values, v)
	}
	if len(rest) != 0 {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	return c, nil
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)[:macLen]
}

const (
	tagNil = iota
	tagInt
	tagFloat
	tagString
	tagBytes
	tagTrue
	tagFalse
	tagTime
)

// normalize converts driver and Go values to the cursor's value types.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, int64, float64, string, bool, time.Time:
		return x, nil
	case []byte:
		return x, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("paginate: cursor value %d overflows int64", x)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("paginate: cursor value %d overflows int64", x)
		}
		return int64(x), nil
	case float32:
		return float64(x), nil
	}
	return nil, fmt.Errorf("paginate: cursor value of type %T is not supported; sort by int, float, string, bytes, bool or time columns", v)
}

func appendValue(buf []byte, v any) ([]byte, error) {
	v, err := normalize(v)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return append(buf, tagNil), nil
	case int64:
		return binary.AppendVarint(append(buf, tagInt), x), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(buf, tagFloat), math.Float64bits(x)), nil
	case string:
		buf = binary.AppendUvarint(append(buf, tagString), uint64(len(x)))
		return append(buf, x...), nil
	case []byte:
		buf = binary.AppendUvarint(append(buf, tagBytes), uint64(len(x)))
		return append(buf, x...), nil
	case bool:
		if x {
			return append(buf, tagTrue), nil
		}
		return append(buf, tagFalse), nil
	default: // time.Time
		b, err := v.(time.Time).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("paginate: cursor time value: %w", err)
		}
		buf = binary.AppendUvarint(append(buf, tagTime), uint64(len(b)))
		return append(buf, b...), nil
	}
}

var errShort = errors.New("short")

func readValue(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errShort
	}
	tag, b := b[0], b[1:]
	switch tag {
	case tagNil:
		return nil, b, nil
	case tagTrue:
		return true, b, nil
	case tagFalse:
		return false, b, nil
	case tagInt:
		x, n := binary.Varint(b)
		if n <= 0 {
			return nil, nil, errShort
		}
		return x, b[n:], nil
	case tagFloat:
		if len(b) < 8 {
			return nil, nil, errShort
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], nil
	case tagString, tagBytes, tagTime:
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, nil, errShort
		}
		p := b[n : n+int(l)]
		rest := b[n+int(l):]
		switch tag {
		case tagString:
			return string(p), rest, nil
		case tagBytes:
			return append([]byte{}, p...), rest, nil
		}
		var t time.Time
		if err := t.UnmarshalBinary(p); err != nil {
			return nil, nil, err
		}
		return t, rest, nil
	}
	return nil, nil, errShort
}
