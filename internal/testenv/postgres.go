package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a PostgreSQL server a test started in a temporary directory,
// listening on 127.0.0.1. The test's cleanup stops it and removes its data.
type Postgres struct {
	// DSN is a URL for database "postgres" as superuser "postgres" with
	// trust authentication, e.g.
	// "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable".
	DSN string
	// Port is the TCP port on 127.0.0.1.
	Port int
}

// PostgresBinDir returns the directory holding initdb and postgres: the
// newest /usr/lib/postgresql/<version>/bin (Debian's layout, not in PATH),
// else the directory of initdb in PATH. It returns "" when there is none.
func PostgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// StartPostgres initialises a cluster with initdb in a fresh temporary
// directory and runs postgres on a free loopback port (fsync off: the data
// is disposable). As root it runs both as the "postgres" system user, since
// PostgreSQL refuses to run as root. When the binaries are missing the test
// is skipped, or failed under WIRESPEED_INTEGRATION=require ([Unavailable]).
// Starting takes a second or two; share one server across a package's tests
// where that matters. The test's cleanup stops the server (fast shutdown)
// and removes the directory.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := PostgresBinDir()
	if bin == "" {
		Unavailable(t, "PostgreSQL not found (initdb and postgres in /usr/lib/postgresql/*/bin or PATH; make test installs package postgresql)")
		return nil
	}
	var cred *syscall.Credential
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Unavailable(t, "running as root and there is no postgres system user to run PostgreSQL as")
			return nil
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parents are 0700 root-owned, which the postgres
	// user cannot traverse. /tmp is world-traversable.
	base, err := os.MkdirTemp("", "wirespeed-pg-")
	if err != nil {
		t.Fatalf("testenv: postgres temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if cred != nil {
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatalf("testenv: chown %s: %v", base, err)
		}
	}
	data := filepath.Join(base, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = base
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	var lastErr string
	for range 5 {
		port := FreePort(t)
		pg, errText := runPostgres(t, bin, base, data, port, cred)
		if pg != nil {
			return pg
		}
		lastErr = errText
		if !strings.Contains(errText, "could not bind") && !strings.Contains(errText, "in use") {
			break
		}
	}
	t.Fatalf("testenv: postgres did not start:\n%s", lastErr)
	return nil
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine of exec.Cmd
// and a reader.
type lockedBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func runPostgres(t testing.TB, bin, base, data string, port int, cred *syscall.Credential) (*Postgres, string) {
	t.Helper()
	logs := &lockedBuffer{}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", base,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=50", "-c", "shared_buffers=32MB")
	cmd.Dir = base
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err.Error()
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	// postmaster.pid's 8th line reads "ready" once connections are
	// accepted (PostgreSQL 10+). The deadline is a guard against hangs.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Sprintf("%v\n%s", waitErr, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if b, err := os.ReadFile(filepath.Join(data, "postmaster.pid")); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) >= 8 && strings.TrimSpace(lines[7]) == "ready" {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return nil, "timed out waiting for postgres to be ready\n" + logs.String()
		}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	return &Postgres{
		DSN:  fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		Port: port,
	}, ""
}
