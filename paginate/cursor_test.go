package paginate_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/paginate"
)

func TestSignerRoundTrip(t *testing.T) {
	s := newSigner(t)
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	c := paginate.Cursor{Backward: true, Values: []any{int64(-7), 2.5, "héllo", []byte{0, 1}, true, false, nil, when, 42, uint32(9), float32(1.5)}}
	tok, err := s.Sign("scope", c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not URL-safe", tok)
	}
	got, err := s.Verify("scope", tok)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(-7), 2.5, "héllo", []byte{0, 1}, true, false, nil, when, int64(42), int64(9), 1.5}
	if !got.Backward || len(got.Values) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		g, w := got.Values[i], want[i]
		switch w := w.(type) {
		case []byte:
			if !slices.Equal(g.([]byte), w) {
				t.Fatalf("value %d: %v != %v", i, g, w)
			}
		case time.Time:
			if !g.(time.Time).Equal(w) {
				t.Fatalf("value %d: %v != %v", i, g, w)
			}
		default:
			if g != w {
				t.Fatalf("value %d: %#v != %#v", i, g, w)
			}
		}
	}
	if _, err := s.Sign("scope", paginate.Cursor{Values: []any{struct{}{}}}); err == nil {
		t.Fatal("unsupported type signed")
	}
}

func TestSignerRejects(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := paginate.NewSigner([][]byte{testKey}, &paginate.SignerOptions{TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign("q", paginate.Cursor{Values: []any{int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 1
	other, _ := paginate.NewSigner([][]byte{[]byte("another key of 32 bytes.........")}, nil)
	otherTok, _ := other.Sign("q", paginate.Cursor{Values: []any{int64(1)}})

	tests := []struct {
		name  string
		scope string
		token string
		want  error
	}{
		{"empty", "q", "", paginate.ErrInvalidCursor},
		{"not base64", "q", "!!!", paginate.ErrInvalidCursor},
		{"short", "q", "AAAA", paginate.ErrInvalidCursor},
		{"tampered", "q", base64.RawURLEncoding.EncodeToString(flipped), paginate.ErrInvalidCursor},
		{"truncated", "q", tok[:len(tok)-2], paginate.ErrInvalidCursor},
		{"other key", "q", otherTok, paginate.ErrInvalidCursor},
		{"too long", "q", strings.Repeat("A", 5000), paginate.ErrInvalidCursor},
		{"foreign scope", "other", tok, paginate.ErrForeignCursor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Verify(tc.scope, tc.token)
			if !errors.Is(err, tc.want) || paginate.StatusOf(err) != http.StatusBadRequest {
				t.Fatalf("got %v (status %d), want %v / 400", err, paginate.StatusOf(err), tc.want)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		later := now.Add(2 * time.Hour)
		s2, _ := paginate.NewSigner([][]byte{testKey}, &paginate.SignerOptions{TTL: time.Hour, Now: func() time.Time { return later }})
		if _, err := s2.Verify("q", tok); !errors.Is(err, paginate.ErrExpiredCursor) || paginate.StatusOf(err) != 400 {
			t.Fatalf("got %v", err)
		}
		if _, err := s.Verify("q", tok); err != nil {
			t.Fatalf("unexpired: %v", err)
		}
	})
}

func TestSignerRotation(t *testing.T) {
	oldKey := []byte("the old key, 32 bytes long......")
	old, _ := paginate.NewSigner([][]byte{oldKey}, nil)
	tok, _ := old.Sign("q", paginate.Cursor{Values: []any{"x"}})
	rotated, err := paginate.NewSigner([][]byte{testKey, oldKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Verify("q", tok); err != nil {
		t.Fatalf("old cursor after rotation: %v", err)
	}
	newTok, _ := rotated.Sign("q", paginate.Cursor{Values: []any{"x"}})
	if _, err := old.Verify("q", newTok); !errors.Is(err, paginate.ErrInvalidCursor) {
		t.Fatalf("new key verified by old signer: %v", err)
	}
	dropped, _ := paginate.NewSigner([][]byte{testKey}, nil)
	if _, err := dropped.Verify("q", tok); !errors.Is(err, paginate.ErrInvalidCursor) {
		t.Fatalf("dropped key still verifies: %v", err)
	}
}

// TestSignedFormUnchanged: cursors handed out before encryption and the
// length bound existed still verify, and signing gives the same token.
func TestSignedFormUnchanged(t *testing.T) {
	const before = "AQGONcLNO_ZkGwACAQIDAXh4vr70cGIhaLLolTLc8tdh" // signed by v0 code
	s := newSigner(t)
	c, err := s.Verify("q", before)
	if err != nil || !c.Backward || len(c.Values) != 2 || c.Values[0] != int64(1) || c.Values[1] != "x" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if tok, _ := s.Sign("q", paginate.Cursor{Backward: true, Values: []any{int64(1), "x"}}); tok != before {
		t.Fatalf("signed form changed: %s", tok)
	}
}

func TestNewSignerValidates(t *testing.T) {
	if _, err := paginate.NewSigner(nil, nil); err == nil {
		t.Fatal("no keys accepted")
	}
	if _, err := paginate.NewSigner([][]byte{[]byte("short")}, nil); err == nil {
		t.Fatal("short key accepted")
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := paginate.NewSigner([][]byte{testKey}, nil)
	for _, vals := range [][]any{{int64(1)}, {"a", nil, 2.5}, {[]byte("x"), true, time.Unix(5, 0)}} {
		tok, _ := s.Sign("q", paginate.Cursor{Values: vals})
		f.Add(tok)
	}
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify("q", tok)
		if err != nil {
			if paginate.StatusOf(err) != http.StatusBadRequest {
				t.Fatalf("status %d for %v", paginate.StatusOf(err), err)
			}
			return
		}
		// A verified cursor re-signs to a token that verifies to the same.
		tok2, err := s.Sign("q", c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := s.Verify("q", tok2)
		if err != nil || len(c2.Values) != len(c.Values) || c2.Backward != c.Backward {
			t.Fatalf("re-sign: %+v %v", c2, err)
		}
	})
}
