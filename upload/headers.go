package upload

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"sort"
	"strings"
)

// maxMetadataPairs bounds the number of Upload-Metadata pairs, whatever the
// byte limit.
const maxMetadataPairs = 64

var (
	errMetadata = errors.New("upload: malformed Upload-Metadata; send comma-separated \"key base64value\" pairs with unique keys")
	errChecksum = errors.New("upload: malformed Upload-Checksum; send \"algorithm base64digest\"")
	errAlgo     = errors.New("upload: unsupported checksum algorithm; use md5, sha1 or sha256")
	errLength   = errors.New("upload: malformed length; send a non-negative decimal integer")
)

// ParseMetadata decodes an Upload-Metadata header: comma-separated pairs of
// a key and a base64 value (the value may be absent), keys unique and free
// of spaces and commas. A header longer than max bytes is rejected.
func ParseMetadata(h string, max int) (map[string]string, error) {
	if len(h) > max {
		return nil, errMetadata
	}
	m := map[string]string{}
	if strings.TrimSpace(h) == "" {
		return m, nil
	}
	for pair := range strings.SplitSeq(h, ",") {
		pair = strings.Trim(pair, " \t")
		key, val, hasVal := strings.Cut(pair, " ")
		if key == "" || !validMetadataKey(key) {
			return nil, errMetadata
		}
		if _, dup := m[key]; dup || len(m) >= maxMetadataPairs {
			return nil, errMetadata
		}
		if !hasVal {
			m[key] = ""
			continue
		}
		val = strings.Trim(val, " \t")
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return nil, errMetadata
		}
		m[key] = string(b)
	}
	return m, nil
}

func validMetadataKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == ',' {
			return false
		}
	}
	return true
}

// EncodeMetadata is the inverse of [ParseMetadata], with keys sorted. Keys
// that ParseMetadata would reject are left out.
func EncodeMetadata(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" && validMetadataKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte(' ')
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(m[k])))
	}
	return b.String()
}

// checksumAlgorithms are the algorithms the checksum extension offers, in
// the order Tus-Checksum-Algorithm lists them.
const checksumAlgorithms = "sha1,md5,sha256"

func newHash(algo string) (hash.Hash, int) {
	switch algo {
	case "sha1":
		return sha1.New(), sha1.Size
	case "md5":
		return md5.New(), md5.Size
	case "sha256":
		return sha256.New(), sha256.Size
	}
	return nil, 0
}

// ParseChecksum parses an Upload-Checksum header ("sha256 base64digest").
// It returns an error wrapping errAlgo for an algorithm outside
// md5/sha1/sha256 (400 in the protocol) and another error for a malformed
// header (also 400).
func ParseChecksum(h string) (algo string, digest []byte, err error) {
	algo, enc, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || algo == "" || len(h) > 128 {
		return "", nil, errChecksum
	}
	hh, size := newHash(strings.ToLower(algo))
	if hh == nil {
		return "", nil, errAlgo
	}
	digest, err = base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil || len(digest) != size {
		return "", nil, errChecksum
	}
	return strings.ToLower(algo), digest, nil
}

// parseLength parses a non-negative decimal that fits an int64: no sign, no
// spaces, at most 18 digits (under 1 EB), so it can never overflow.
func parseLength(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, errLength
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errLength
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
