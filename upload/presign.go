package upload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors [Signer.Verify] returns; each is answered 403 with its text by
// [Signer.Wrap].
var (
	ErrSignatureMissing     = errors.New("upload: URL is not signed; ask the API for a signed URL")
	ErrSignatureExpired     = errors.New("upload: signed URL has expired; ask the API for a new one")
	ErrSignatureInvalid     = errors.New("upload: signature does not match the URL; it was altered or signed for another path")
	ErrSignatureMethod      = errors.New("upload: signed URL does not allow this method")
	ErrSignatureKey         = errors.New("upload: signed URL names an unknown key; ask the API for a new one")
	ErrSignatureLength      = errors.New("upload: request body is longer than the signed URL allows, or its length is not declared")
	ErrSignatureContentType = errors.New("upload: Content-Type differs from the one the URL was signed for")
)

// Key is one HMAC-SHA256 key of a [Signer], named by ID in the URLs it
// signs so that keys can be rotated: add the new key first, keep the old
// one until the URLs it signed have expired, then drop it.
type Key struct {
	ID     string // 1-32 characters of [A-Za-z0-9_-]
	Secret []byte // at least 32 bytes
}

// Signer makes and checks pre-signed URLs: a URL carries the method, its
// expiry, an optional maximum body length and content type, the key ID and
// an HMAC-SHA256 over all of them and the path. The holder of the URL can
// make exactly that request until it expires, without other credentials.
type Signer struct {
	keys []Key
	byID map[string][]byte
	now  func() time.Time
}

// Query parameters of a signed URL.
const (
	qKey  = "X-Ws-Key"
	qExp  = "X-Ws-Expires"
	qMax  = "X-Ws-Max-Length"
	qCT   = "X-Ws-Content-Type"
	qSig  = "X-Ws-Signature"
	qMeth = "X-Ws-Method"
)

// NewSigner returns a signer that signs with keys[0] and verifies with any
// of keys.
func NewSigner(keys ...Key) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("upload: NewSigner needs at least one key")
	}
	s := &Signer{byID: map[string][]byte{}, now: time.Now}
	for _, k := range keys {
		if k.ID == "" || len(k.ID) > 32 || strings.Trim(k.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return nil, fmt.Errorf("upload: key ID %q must be 1-32 characters of [A-Za-z0-9_-]", k.ID)
		}
		if len(k.Secret) < 32 {
			return nil, fmt.Errorf("upload: key %q has a %d-byte secret; use at least 32 random bytes", k.ID, len(k.Secret))
		}
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("upload: key ID %q appears twice", k.ID)
		}
		k.Secret = append([]byte(nil), k.Secret...)
		s.keys = append(s.keys, k)
		s.byID[k.ID] = k.Secret
	}
	return s, nil
}

// SignOptions are the optional limits of a signed URL.
type SignOptions struct {
	// MaxLength is the largest body (and Upload-Length) the URL allows; the
	// request must declare its Content-Length. Default 0: no limit.
	// Negative is an error.
	MaxLength int64
	// ContentType, when set, is the only Content-Type the URL allows.
	// Default "": any.
	ContentType string
}

func canonical(method, path, exp, maxLen, ct, kid string) string {
	return "wirespeed-upload-v1\n" + method + "\n" + path + "\n" + exp + "\n" + maxLen + "\n" + ct + "\n" + kid
}

func (s *Signer) mac(secret []byte, msg string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Sign returns rawURL with the signature's query parameters added: it
// allows method on the URL's path until expires.
func (s *Signer) Sign(method, rawURL string, expires time.Time, opts *SignOptions) (string, error) {
	var o SignOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxLength < 0 {
		return "", fmt.Errorf("upload: SignOptions.MaxLength is negative (%d)", o.MaxLength)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("upload: sign: %w", err)
	}
	k := s.keys[0]
	method = strings.ToUpper(method)
	exp := strconv.FormatInt(expires.Unix(), 10)
	ml := strconv.FormatInt(o.MaxLength, 10)
	q := u.Query()
	for _, p := range []string{qKey, qExp, qMax, qCT, qSig, qMeth} {
		q.Del(p)
	}
	q.Set(qMeth, method)
	q.Set(qKey, k.ID)
	q.Set(qExp, exp)
	if o.MaxLength > 0 {
		q.Set(qMax, ml)
	}
	if o.ContentType != "" {
		q.Set(qCT, o.ContentType)
	}
	q.Set(qSig, hex.EncodeToString(s.mac(k.Secret, canonical(method, u.Path, exp, ml, o.ContentType, k.ID))))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Verify checks that r is allowed by the signature in its URL: the
// signature matches (compared in constant time) with a known key, it has
// not expired, the method is the signed one, and the body and content
// type are within what was signed.
func (s *Signer) Verify(r *http.Request) error {
	q := r.URL.Query()
	sig, kid := q.Get(qSig), q.Get(qKey)
	if sig == "" || kid == "" {
		return ErrSignatureMissing
	}
	secret, ok := s.byID[kid]
	if !ok {
		return ErrSignatureKey
	}
	method, exp, ct := q.Get(qMeth), q.Get(qExp), q.Get(qCT)
	ml := q.Get(qMax)
	if ml == "" {
		ml = "0"
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(secret, canonical(method, r.URL.Path, exp, ml, ct, kid))) {
		return ErrSignatureInvalid
	}
	// The signature is authentic from here on: the values are the signer's.
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.now().Before(time.Unix(e, 0)) {
		return ErrSignatureExpired
	}
	if r.Method != method {
		return ErrSignatureMethod
	}
	if maxLen, _ := strconv.ParseInt(ml, 10, 64); maxLen > 0 {
		if r.ContentLength < 0 || r.ContentLength > maxLen {
			return ErrSignatureLength
		}
		if ul := r.Header.Get("Upload-Length"); ul != "" {
			if n, err := parseLength(ul); err != nil || n > maxLen {
				return ErrSignatureLength
			}
		} else if r.Header.Get("Upload-Defer-Length") != "" {
			return ErrSignatureLength
		}
	}
	if ct != "" {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		want, _, _ := mime.ParseMediaType(ct)
		if err != nil || mt != want {
			return ErrSignatureContentType
		}
	}
	return nil
}

// Wrap returns a handler that passes only requests [Signer.Verify]
// accepts to next; others get 403 with the reason, before any byte of
// their body is read.
func (s *Signer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Verify(r); err != nil {
			fail(w, http.StatusForbidden, strings.TrimPrefix(err.Error(), "upload: "))
			return
		}
		next.ServeHTTP(w, r)
	})
}
