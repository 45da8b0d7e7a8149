package paginate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/paginate"
)

// longNotes creates a SQLite table whose body column holds n distinct
// ~1.6 KB strings, in the reverse order of their ids.
func longNotes(t *testing.T, n int) testDB {
	t.Helper()
	d := testDB{"sqlite", paginate.SQLite, openSQLite(t)}
	d.exec(t, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
	for i := 1; i <= n; i++ {
		// Body order is the reverse of id order.
		body := fmt.Sprintf("%c", 'z'-i) + strings.Repeat("x", 1600)
		d.exec(t, "INSERT INTO notes (id, body) VALUES (?, ?)", i, body)
	}
	return d
}

// walkNotes follows rel="next" links of a handler sorted by body and
// returns the ids seen, or the status and body of the first failing page.
func walkNotes(t *testing.T, d testDB, s *paginate.Signer) (ids []int64, status int, msg string) {
	t.Helper()
	p, err := paginate.New(&paginate.Options{Table: "notes", Columns: []string{"id", "body"}, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := p.ParseRequest(r)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		pg, err := paginate.Query(r.Context(), d.db, p, req, rowID)
		if err != nil {
			paginate.WriteError(w, err)
			return
		}
		pg.WriteLinks(w, r)
		json.NewEncoder(w).Encode(pg)
	})
	next := regexp.MustCompile(`<([^>]*)>; rel="next"`)
	target := "/notes?limit=2&sort=body"
	for target != "" {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != http.StatusOK {
			return ids, rec.Code, rec.Body.String()
		}
		var pg paginate.Page[int64]
		if err := json.Unmarshal(rec.Body.Bytes(), &pg); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pg.Items...)
		target = ""
		if m := next.FindStringSubmatch(rec.Header().Get("Link")); m != nil {
			target = m[1]
		}
	}
	return ids, http.StatusOK, ""
}

// TestLongSortKeyCursor: a page sorted by a 1.6 KB column is either
// followed to the end or refused with ErrCursorTooLong's clear 500, never
// answered "invalid cursor" for the library's own token.
func TestLongSortKeyCursor(t *testing.T) {
	const n = 7
	d := longNotes(t, n)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(n - i)
	}
	tests := []struct {
		name   string
		opts   *paginate.SignerOptions
		refuse bool // the cursor exceeds the bound: a clear 500
	}{
		{"default bound", nil, true},
		{"raised bound", &paginate.SignerOptions{MaxCursorLen: 4096}, false},
		{"raised bound encrypted", &paginate.SignerOptions{MaxCursorLen: 4096, Encrypt: true}, false},
		{"default bound encrypted", &paginate.SignerOptions{Encrypt: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := paginate.NewSigner([][]byte{testKey}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			ids, status, msg := walkNotes(t, d, s)
			if tc.refuse {
				if status != http.StatusInternalServerError || !strings.Contains(msg, "sort by shorter columns") || len(ids) != 0 {
					t.Fatalf("got %d %q after %v; want a 500 asking for shorter sort columns", status, msg, ids)
				}
				return
			}
			if status != http.StatusOK || !slices.Equal(ids, want) {
				t.Fatalf("got %v then %d %s; want %v", ids, status, msg, want)
			}
		})
	}
}

// TestSignBoundMatchesVerify signs values of every length around the bound:
// whatever Sign returns, Verify accepts; otherwise Sign fails with
// ErrCursorTooLong, Status 500.
func TestSignBoundMatchesVerify(t *testing.T) {
	for _, encrypt := range []bool{false, true} {
		for _, maxLen := range []int{0, 100, 300} {
			s, err := paginate.NewSigner([][]byte{testKey}, &paginate.SignerOptions{MaxCursorLen: maxLen, Encrypt: encrypt})
			if err != nil {
				t.Fatal(err)
			}
			signed := 0
			for l := 0; l < s.MaxCursorLen(); l++ {
				tok, err := s.Sign("q", paginate.Cursor{Values: []any{strings.Repeat("v", l), int64(l)}})
				if err != nil {
					if !errors.Is(err, paginate.ErrCursorTooLong) || paginate.StatusOf(err) != http.StatusInternalServerError {
						t.Fatalf("len %d: %v (status %d)", l, err, paginate.StatusOf(err))
					}
					continue
				}
				signed++
				if len(tok) > s.MaxCursorLen() {
					t.Fatalf("len %d: token of %d characters over the bound %d", l, len(tok), s.MaxCursorLen())
				}
				if _, err := s.Verify("q", tok); err != nil {
					t.Fatalf("encrypt=%v bound %d value len %d: own token rejected: %v", encrypt, s.MaxCursorLen(), l, err)
				}
			}
			if signed == 0 {
				t.Fatalf("encrypt=%v bound %d: nothing signed", encrypt, s.MaxCursorLen())
			}
		}
	}
	if _, err := paginate.NewSigner([][]byte{testKey}, &paginate.SignerOptions{MaxCursorLen: -1}); err == nil {
		t.Fatal("negative MaxCursorLen accepted")
	}
}
