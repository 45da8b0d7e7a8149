package paginate_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/paginate"
)

var allowed = []string{"id", "name", "price"}

func TestParseFields(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"empty", "", nil, nil},
		{"blank", "  ", nil, nil},
		{"one", "name", []string{"name"}, nil},
		{"spaces and dups", " name , id,name", []string{"name", "id"}, nil},
		{"unknown", "name,secret", nil, paginate.ErrUnknownField},
		{"empty name", "name,,id", nil, paginate.ErrBadFields},
		{"injection", "id;DROP TABLE x", nil, paginate.ErrUnknownField},
		{"too long", strings.Repeat("id,", 400), nil, paginate.ErrBadFields},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := paginate.ParseFields(tc.in, allowed)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				if paginate.StatusOf(err) != 400 {
					t.Fatalf("status %d", paginate.StatusOf(err))
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
	_, err := paginate.ParseFields("nope", allowed)
	if !strings.Contains(err.Error(), "id, name, price") {
		t.Fatalf("error %q does not list the valid fields", err)
	}
}

func TestFieldsFromQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []string
		err   bool
	}{
		{"none", "", nil, false},
		{"plain", "fields=id,name", []string{"id", "name"}, false},
		{"jsonapi wins", "fields[products]=price&fields=id", []string{"price"}, false},
		{"other type ignored", "fields[users]=x&fields=id", []string{"id"}, false},
		{"repeated", "fields=id&fields=name", nil, true},
		{"unknown", "fields[products]=bogus", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := paginate.FieldsFromQuery(q, "products", allowed)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func FuzzParseFields(f *testing.F) {
	for _, s := range []string{"", "id", "id,name", " name , price ", "a,,b", "fields[x]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := paginate.ParseFields(s, allowed)
		if err != nil {
			if paginate.StatusOf(err) != 400 {
				t.Fatalf("status %d", paginate.StatusOf(err))
			}
			return
		}
		seen := map[string]bool{}
		for _, f := range got {
			if !slices.Contains(allowed, f) || seen[f] {
				t.Fatalf("ParseFields(%q) = %v", s, got)
			}
			seen[f] = true
		}
	})
}
