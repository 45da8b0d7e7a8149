package httpx_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/httpx"
)

func TestParseAltSvc(t *testing.T) {
	day := httpx.DefaultAltSvcMaxAge
	for _, tc := range []struct {
		name    string
		in      string
		want    []httpx.AltService
		clear   bool
		wantErr bool
	}{
		{name: "quic-go server", in: `h3=":443"; ma=2592000`, want: []httpx.AltService{{Protocol: "h3", Port: 443, MaxAge: 30 * day}}},
		{name: "default max age", in: `h3=":8443"`, want: []httpx.AltService{{Protocol: "h3", Port: 8443, MaxAge: day}}},
		{name: "clear", in: `clear`, clear: true},
		{name: "clear with spaces", in: "  clear \t", clear: true},
		{name: "several", in: `h3="alt.example:443"; ma=60; persist=1, h2=":443"`, want: []httpx.AltService{
			{Protocol: "h3", Host: "alt.example", Port: 443, MaxAge: time.Minute, Persist: true},
			{Protocol: "h2", Port: 443, MaxAge: day},
		}},
		{name: "joined field lines", in: `h3-29=":443",h3=":443";ma=10`, want: []httpx.AltService{
			{Protocol: "h3-29", Port: 443, MaxAge: day},
			{Protocol: "h3", Port: 443, MaxAge: 10 * time.Second},
		}},
		{name: "ipv6 host", in: `h3="[::1]:443"`, want: []httpx.AltService{{Protocol: "h3", Host: "::1", Port: 443, MaxAge: day}}},
		{name: "percent-encoded protocol", in: `w%3Dx%3Ay=":80"`, want: []httpx.AltService{{Protocol: "w=x:y", Port: 80, MaxAge: day}}},
		{name: "unknown and quoted parameters", in: `h3=":443"; foo="a;b,c"; ma="5"`, want: []httpx.AltService{{Protocol: "h3", Port: 443, MaxAge: 5 * time.Second}}},
		{name: "empty elements", in: ` , h3=":443" ,, `, want: []httpx.AltService{{Protocol: "h3", Port: 443, MaxAge: day}}},
		{name: "huge ma clamped", in: `h3=":443"; ma=99999999999999999999999`, want: []httpx.AltService{{Protocol: "h3", Port: 443, MaxAge: 365 * 24 * time.Hour}}},
		{name: "empty", in: ``, want: nil},
		{name: "unquoted authority", in: `h3=:443`, wantErr: true},
		{name: "no port", in: `h3="example.com"`, wantErr: true},
		{name: "port zero", in: `h3=":0"`, wantErr: true},
		{name: "port too big", in: `h3=":65536"`, wantErr: true},
		{name: "bad ma", in: `h3=":443"; ma=-1`, wantErr: true},
		{name: "missing comma", in: `h3=":443" h2=":443"`, wantErr: true},
		{name: "clear in a list", in: `clear, h3=":443"`, wantErr: true},
		{name: "unterminated quote", in: `h3=":443`, wantErr: true},
		{name: "bad percent", in: `h%zz=":443"`, wantErr: true},
		{name: "bad ipv6", in: `h3="[zz]:443"`, wantErr: true},
		{name: "control character", in: "h3=\":44\x013\"", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, clear, err := httpx.ParseAltSvc(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseAltSvc(%q) error %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, httpx.ErrAltSvc) {
					t.Errorf("error %v does not wrap ErrAltSvc", err)
				}
				return
			}
			if clear != tc.clear || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseAltSvc(%q) = %+v, clear=%v; want %+v, clear=%v", tc.in, got, clear, tc.want, tc.clear)
			}
		})
	}
}

func TestParseAltSvcLimits(t *testing.T) {
	many := strings.Repeat(`h3=":443", `, 100)
	alts, _, err := httpx.ParseAltSvc(many)
	if err != nil || len(alts) != httpx.MaxAltSvcAlternatives {
		t.Errorf("100 alternatives: got %d, err %v; want %d", len(alts), err, httpx.MaxAltSvcAlternatives)
	}
	if _, _, err := httpx.ParseAltSvc(strings.Repeat(" ", httpx.MaxAltSvcLen+1)); !errors.Is(err, httpx.ErrAltSvc) {
		t.Errorf("oversized value: error %v, want ErrAltSvc", err)
	}
}

func TestAltServiceString(t *testing.T) {
	for _, tc := range []struct {
		a    httpx.AltService
		want string
	}{
		{httpx.AltService{Protocol: "h3", Port: 443, MaxAge: httpx.DefaultAltSvcMaxAge}, `h3=":443"`},
		{httpx.AltService{Protocol: "h3", Port: 8443, MaxAge: time.Hour}, `h3=":8443"; ma=3600`},
		{httpx.AltService{Protocol: "h3", Host: "::1", Port: 1, MaxAge: 0, Persist: true}, `h3="[::1]:1"; ma=0; persist=1`},
		{httpx.AltService{Protocol: "a=b", Host: "x", Port: 2, MaxAge: httpx.DefaultAltSvcMaxAge}, `a%3Db="x:2"`},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.a, got, tc.want)
		}
	}
	if got := (httpx.AltService{Port: 443}).Authority("example.com"); got != "example.com:443" {
		t.Errorf("Authority = %q", got)
	}
	if got := (httpx.AltService{Host: "::1", Port: 443}).Authority("example.com"); got != "[::1]:443" {
		t.Errorf("Authority = %q", got)
	}
}

// FuzzParseAltSvc checks that the parser never panics, that what it
// accepts is well-formed, and that String round-trips it.
func FuzzParseAltSvc(f *testing.F) {
	for _, s := range []string{
		`h3=":443"; ma=2592000`, `clear`, `h3="alt.example:443"; ma=60; persist=1, h2=":443"`,
		`h3="[::1]:443"`, `w%3Dx=":80"`, `h3=":443"; foo="a;b\"c"`, ` , h3=":1" ,, `, `h3=":443`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		alts, clear, err := httpx.ParseAltSvc(s)
		if err != nil {
			if alts != nil || clear {
				t.Fatalf("error %v with results %v, %v", err, alts, clear)
			}
			return
		}
		if clear && alts != nil {
			t.Fatal("clear with alternatives")
		}
		if len(alts) > httpx.MaxAltSvcAlternatives {
			t.Fatalf("%d alternatives", len(alts))
		}
		for _, a := range alts {
			if a.Protocol == "" || a.Port < 1 || a.Port > 65535 || a.MaxAge < 0 {
				t.Fatalf("accepted a malformed alternative %+v", a)
			}
			again, _, err := httpx.ParseAltSvc(a.String())
			if err != nil || len(again) != 1 {
				t.Fatalf("String %q of %+v does not parse back: %v", a.String(), a, err)
			}
			want := a
			want.MaxAge = a.MaxAge.Truncate(time.Second)
			if again[0] != want {
				t.Fatalf("round trip of %+v gave %+v", want, again[0])
			}
		}
	})
}
