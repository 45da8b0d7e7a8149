package paginate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

// The first byte of every cursor's payload says its form.
const (
	versionSigned    = 1 // clear payload, HMAC-SHA256
	versionEncrypted = 2 // AES-256-GCM payload (see seal.go)
)

// DefaultMaxCursorLen is the default of SignerOptions.MaxCursorLen: the
// longest cursor token, in characters, a Signer signs or accepts. Two
// cursors fit in a Link header and one in a URL well under the 8 KiB
// request line that common servers and proxies accept.
const DefaultMaxCursorLen = 2048

const (
	macLen        = 16 // bytes of HMAC-SHA256 kept
	hashLen       = 8  // bytes of the query hash
	maxValues     = 32 // most sort keys in a cursor
	minKeyLen     = 16 // shortest signing key accepted
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
	// MaxCursorLen is the longest token, in characters, that Sign
	// produces and Verify accepts: one bound for both, so every cursor
	// the Signer hands out can be followed. A cursor holds the row's sort
	// values, so sorting by long text columns can exceed it; Sign then
	// fails with [ErrCursorTooLong]. Defaults to [DefaultMaxCursorLen]
	// (2048); zero means the default, negative is rejected by NewSigner.
	MaxCursorLen int
	// Encrypt makes Sign encrypt cursors (AES-256-GCM, keys derived from
	// the signing keys) instead of only signing them, for applications
	// that sort by columns whose values clients must not read. Verify
	// accepts both forms either way, so turning it on or off does not
	// invalidate cursors already handed out. Defaults to false: cursors
	// are signed, and their sort values readable by anyone who decodes
	// the base64.
	Encrypt bool
}

// Signer signs and verifies cursors. It is immutable and safe for
// concurrent use.
type Signer struct {
	keys    [][]byte
	encKeys [][]byte // per signing key, for the encrypted form
	ttl     time.Duration
	now     func() time.Time
	maxLen  int
	encrypt bool
}

// NewSigner returns a Signer that signs (or encrypts) with keys[0] and
// verifies with every key, so a key is rotated by prepending the new one and
// dropping the old one once its cursors no longer matter; the encryption
// keys follow, being derived from the signing keys. Each key must be at
// least 16 bytes (32 random bytes recommended). opts may be nil. The keys
// are copied.
func NewSigner(keys [][]byte, opts *SignerOptions) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("paginate: NewSigner needs at least one key")
	}
	s := &Signer{now: time.Now, maxLen: DefaultMaxCursorLen}
	for i, k := range keys {
		if len(k) < minKeyLen {
			return nil, fmt.Errorf("paginate: signing key %d is %d bytes; use at least %d (32 random bytes recommended)", i, len(k), minKeyLen)
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
		s.encKeys = append(s.encKeys, deriveEncKey(k))
	}
	if opts != nil {
		if opts.TTL > 0 {
			s.ttl = opts.TTL
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
		switch {
		case opts.MaxCursorLen < 0:
			return nil, fmt.Errorf("paginate: SignerOptions.MaxCursorLen %d is negative; use 0 for the default %d", opts.MaxCursorLen, DefaultMaxCursorLen)
		case opts.MaxCursorLen > 0:
			s.maxLen = opts.MaxCursorLen
		}
		s.encrypt = opts.Encrypt
	}
	return s, nil
}

// MaxCursorLen returns the longest token the Signer signs and accepts.
func (s *Signer) MaxCursorLen() int { return s.maxLen }

func scopeHash(scope string) [hashLen]byte {
	sum := sha256.Sum256([]byte(scope))
	var h [hashLen]byte
	copy(h[:], sum[:])
	return h
}

// Sign encodes c as an opaque URL-safe token bound to scope, a string that
// identifies the query (a [Paginator] uses table, sort and filter). The
// token carries c's values signed but readable, or encrypted with
// SignerOptions.Encrypt. It fails for a value of an unsupported type, too
// many values, or a token longer than SignerOptions.MaxCursorLen: that
// error is an [*Error] with Status 500 wrapping [ErrCursorTooLong].
func (s *Signer) Sign(scope string, c Cursor) (string, error) {
	if len(c.Values) > maxValues {
		return "", fmt.Errorf("paginate: %d cursor values; at most %d", len(c.Values), maxValues)
	}
	// buf[0] is the version of the signed form; body follows it.
	buf := make([]byte, 1, 64)
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
	overhead := 1 + macLen
	if s.encrypt {
		overhead = 1 + saltLen + tagLen
	}
	if n := base64.RawURLEncoding.EncodedLen(len(buf) - 1 + overhead); n > s.maxLen {
		return "", &Error{
			Status: http.StatusInternalServerError,
			Err:    ErrCursorTooLong,
			Msg:    fmt.Sprintf("paginate: the cursor for this page would be %d characters, over the limit of %d: the sort values are too long; sort by shorter columns", n, s.maxLen),
		}
	}
	if s.encrypt {
		return base64.RawURLEncoding.EncodeToString(s.seal(buf[1:])), nil
	}
	buf[0] = versionSigned
	buf = append(buf, mac(s.keys[0], buf)...)
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// signBody returns the signed form: version, body, truncated HMAC.
func (s *Signer) signBody(body []byte) []byte {
	raw := make([]byte, 0, 1+len(body)+macLen)
	raw = append(raw, versionSigned)
	raw = append(raw, body...)
	return append(raw, mac(s.keys[0], raw)...)
}

// Verify decodes token, checks its signature (or decrypts it) against every
// key, its expiry and that it was signed for scope. It accepts both the
// signed and the encrypted form. Errors are [*Error] values with Status 400
// wrapping [ErrInvalidCursor], [ErrExpiredCursor] or [ErrForeignCursor].
func (s *Signer) Verify(scope, token string) (Cursor, error) {
	if len(token) == 0 || len(token) > s.maxLen {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) == 0 {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	var body []byte
	switch raw[0] {
	case versionSigned:
		body = s.checkSigned(raw)
	case versionEncrypted:
		body = s.open(raw)
	}
	if body == nil {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	return s.decodeBody(scope, body)
}

// checkSigned returns the body of a signed token whose MAC verifies with
// one of the keys, or nil.
func (s *Signer) checkSigned(raw []byte) []byte {
	if len(raw) < 1+1+hashLen+2+macLen {
		return nil
	}
	signed, sig := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	for _, k := range s.keys {
		if hmac.Equal(sig, mac(k, signed)) {
			return signed[1:]
		}
	}
	return nil
}

// decodeBody parses an authenticated body: flags, scope hash, expiry,
// values.
func (s *Signer) decodeBody(scope string, body []byte) (Cursor, error) {
	if len(body) < 1+hashLen+2 || body[0]&^(flagBackward|flagInclusive) != 0 {
		return Cursor{}, badRequest(ErrInvalidCursor, "")
	}
	c := Cursor{Backward: body[0]&flagBackward != 0, Inclusive: body[0]&flagInclusive != 0}
	h := scopeHash(scope)
	if !hmac.Equal(body[1:1+hashLen], h[:]) {
		return Cursor{}, badRequest(ErrForeignCursor, "")
	}
	rest := body[1+hashLen:]
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
		var (
			v   any
			err error
		)
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
