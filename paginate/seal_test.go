package paginate_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/paginate"
)

func newEncrypter(t testing.TB, keys ...[]byte) *paginate.Signer {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{testKey}
	}
	s, err := paginate.NewSigner(keys, &paginate.SignerOptions{Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEncryptedRoundTrip(t *testing.T) {
	s := newEncrypter(t)
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	c := paginate.Cursor{Backward: true, Inclusive: true, Values: []any{"alice@example.com", int64(-7), 2.5, []byte{0, 1}, true, nil, when}}
	tok, err := s.Sign("scope", c)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := s.Sign("scope", c)
	if tok == tok2 {
		t.Fatal("two encryptions of one cursor are equal; the salt is not random")
	}
	got, err := s.Verify("scope", tok)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Backward || !got.Inclusive || len(got.Values) != len(c.Values) || got.Values[0] != "alice@example.com" ||
		got.Values[1] != int64(-7) || !bytes.Equal(got.Values[3].([]byte), []byte{0, 1}) || !got.Values[6].(time.Time).Equal(when) {
		t.Fatalf("got %+v", got)
	}
	// Verify accepts both forms whatever the signer's mode.
	plain := newSigner(t)
	if _, err := plain.Verify("scope", tok); err != nil {
		t.Fatalf("signing-only signer rejects an encrypted cursor: %v", err)
	}
	signed, _ := plain.Sign("scope", c)
	if _, err := s.Verify("scope", signed); err != nil {
		t.Fatalf("encrypting signer rejects a signed cursor: %v", err)
	}
	if _, err := s.Verify("other", tok); !errors.Is(err, paginate.ErrForeignCursor) {
		t.Fatalf("foreign scope: %v", err)
	}
}

// TestEncryptedHidesValues: the sort values are readable in a signed
// cursor and absent from an encrypted one.
func TestEncryptedHidesValues(t *testing.T) {
	const secret = "salary=123456;ssn=078-05-1120"
	c := paginate.Cursor{Values: []any{secret, int64(42)}}
	for _, tc := range []struct {
		name    string
		s       *paginate.Signer
		visible bool
	}{
		{"signed", newSigner(t), true},
		{"encrypted", newEncrypter(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.s.Sign("q", c)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range []string{secret, "salary", "078-05"} {
				if got := bytes.Contains(raw, []byte(part)); got != tc.visible {
					t.Fatalf("%q in the decoded token: %v, want %v", part, got, tc.visible)
				}
			}
		})
	}
}

func TestEncryptedTamper(t *testing.T) {
	s := newEncrypter(t)
	tok, err := s.Sign("q", paginate.Cursor{Values: []any{"v", int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	// Every single-bit flip, in the version, salt, ciphertext and tag.
	for i := range raw {
		for bit := range 8 {
			b := bytes.Clone(raw)
			b[i] ^= 1 << bit
			_, err := s.Verify("q", base64.RawURLEncoding.EncodeToString(b))
			if !errors.Is(err, paginate.ErrInvalidCursor) || paginate.StatusOf(err) != http.StatusBadRequest {
				t.Fatalf("byte %d bit %d: %v (status %d), want invalid cursor / 400", i, bit, err, paginate.StatusOf(err))
			}
		}
	}
	for _, bad := range []string{tok[:len(tok)-1], tok[:20], tok + "A", strings.Repeat("A", len(tok))} {
		if _, err := s.Verify("q", bad); !errors.Is(err, paginate.ErrInvalidCursor) || paginate.StatusOf(err) != http.StatusBadRequest {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestEncryptedRotation(t *testing.T) {
	oldKey := []byte("the old key, 32 bytes long......")
	old := newEncrypter(t, oldKey)
	tok, err := old.Sign("q", paginate.Cursor{Values: []any{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	rotated := newEncrypter(t, testKey, oldKey)
	if c, err := rotated.Verify("q", tok); err != nil || c.Values[0] != "x" {
		t.Fatalf("old cursor after rotation: %v %v", c, err)
	}
	newTok, _ := rotated.Sign("q", paginate.Cursor{Values: []any{"x"}})
	if _, err := old.Verify("q", newTok); !errors.Is(err, paginate.ErrInvalidCursor) {
		t.Fatalf("new key opened by old signer: %v", err)
	}
	if _, err := newEncrypter(t, testKey).Verify("q", newTok); err != nil {
		t.Fatalf("new key alone: %v", err)
	}
	if _, err := newEncrypter(t, testKey).Verify("q", tok); !errors.Is(err, paginate.ErrInvalidCursor) {
		t.Fatalf("dropped key still opens: %v", err)
	}
}

func FuzzVerifyEncrypted(f *testing.F) {
	s, _ := paginate.NewSigner([][]byte{testKey}, &paginate.SignerOptions{Encrypt: true})
	for _, vals := range [][]any{{int64(1)}, {"a", nil, 2.5}, {[]byte("x"), true, time.Unix(5, 0)}} {
		tok, _ := s.Sign("q", paginate.Cursor{Values: vals})
		f.Add(tok)
	}
	f.Add("")
	f.Add("AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		checkVerify(t, s, tok)
	})
}

// FuzzCursorBody feeds arbitrary payloads through both forms'
// authentication, so the decoder behind it is fuzzed, not the MAC.
func FuzzCursorBody(f *testing.F) {
	plain, _ := paginate.NewSigner([][]byte{testKey}, nil)
	enc, _ := paginate.NewSigner([][]byte{testKey}, &paginate.SignerOptions{Encrypt: true})
	for _, vals := range [][]any{{int64(1)}, {"a", nil, 2.5}, {[]byte("x"), true, false, time.Unix(5, 0)}} {
		tok, _ := plain.Sign("q", paginate.Cursor{Values: vals})
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		f.Add(raw[1:len(raw)-16], false)
		f.Add(raw[1:len(raw)-16], true)
	}
	f.Add([]byte{}, true)
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32}, false)
	f.Fuzz(func(t *testing.T, body []byte, encrypt bool) {
		s := plain
		if encrypt {
			s = enc
		}
		tok := base64.RawURLEncoding.EncodeToString(paginate.SealBody(s, body, encrypt))
		checkVerify(t, s, tok)
	})
}

// checkVerify: Verify answers 400 or a cursor that re-signs to one that
// verifies the same.
func checkVerify(t *testing.T, s *paginate.Signer, tok string) {
	c, err := s.Verify("q", tok)
	if err != nil {
		if paginate.StatusOf(err) != http.StatusBadRequest {
			t.Fatalf("status %d for %v", paginate.StatusOf(err), err)
		}
		return
	}
	tok2, err := s.Sign("q", c)
	if err != nil {
		if errors.Is(err, paginate.ErrCursorTooLong) {
			return // a body that long cannot be signed with this overhead
		}
		t.Fatal(err)
	}
	c2, err := s.Verify("q", tok2)
	if err != nil || len(c2.Values) != len(c.Values) || c2.Backward != c.Backward || c2.Inclusive != c.Inclusive {
		t.Fatalf("re-sign: %+v %v", c2, err)
	}
}
