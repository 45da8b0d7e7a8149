package testenv_test

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/testenv"
)

func TestNeedProgramFindsGo(t *testing.T) {
	want, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	if got := testenv.NeedProgram(t, "go"); got != want {
		t.Fatalf("NeedProgram(go) = %q, want %q", got, want)
	}
}

// recorder captures Skip and Fatal without ending the real test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(...any)           { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        string
		skip, fail bool
	}{
		{name: "unset skips", env: "", skip: true},
		{name: "require fails", env: "require", fail: true},
		{name: "require any case", env: " Require ", fail: true},
		{name: "other value skips", env: "1", skip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(testenv.IntegrationEnv, tc.env)
			r := &recorder{TB: t}
			testenv.NeedProgram(r, "wirespeed-no-such-program")
			if r.skipped != tc.skip || r.failed != tc.fail {
				t.Fatalf("skipped=%v failed=%v, want skipped=%v failed=%v", r.skipped, r.failed, tc.skip, tc.fail)
			}
		})
	}
}

func TestFreePortIsBindable(t *testing.T) {
	port := testenv.FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on free port %d: %v", port, err)
	}
	l.Close()
	addr := testenv.FreeAddr(t)
	if l, err = net.Listen("tcp", addr); err != nil {
		t.Fatalf("listen on free addr %s: %v", addr, err)
	}
	l.Close()
}

// TestFront: the URL answers 503 with Retry-After until a handler is set,
// then the handler set last, then 503 again after Clear.
func TestFront(t *testing.T) {
	f := testenv.StartFront[http.Handler](t, "/x")
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(f.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After") + string(b)
	}
	if code, got := get(); code != http.StatusServiceUnavailable || !strings.HasPrefix(got, "1restarting") {
		t.Fatalf("before Set: %d %q", code, got)
	}
	for _, name := range []string{"a", "b"} {
		f.Set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+r.URL.Path) }))
		if code, got := get(); code != 200 || got != name+"/x" {
			t.Fatalf("after Set(%s): %d %q", name, code, got)
		}
	}
	if f.Current() == nil {
		t.Fatal("Current is nil after Set")
	}
	f.Clear()
	if code, _ := get(); code != http.StatusServiceUnavailable || f.Current() != nil {
		t.Fatalf("after Clear: %d, Current %v", code, f.Current())
	}
}
