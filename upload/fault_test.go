package upload_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/upload"
)

// childEnv, when set to "dir addr", makes the test binary a tus server on
// addr over a disk store in dir instead of running tests: the fault test
// kills it at will.
const childEnv = "WIRESPEED_UPLOAD_CHILD_SERVER"

func runChildServer() {
	dir, addr, _ := strings.Cut(os.Getenv(childEnv), " ")
	store, err := upload.NewDiskStore(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	h, err := upload.NewHandler(store, &upload.Options{Public: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	_ = http.Serve(l, h)
	os.Exit(3)
}

// childServer runs the test binary as a tus server process.
type childServer struct {
	t         *testing.T
	dir, addr string
	cmd       *exec.Cmd
}

func (c *childServer) start() {
	c.t.Helper()
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+c.dir+" "+c.addr)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			c.t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			c.t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line == "ready\n" {
			c.cmd = cmd
			return
		}
		_ = cmd.Wait() // the port may be briefly taken: try again
		if attempt == 20 {
			c.t.Fatalf("child server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *childServer) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// TestFaultKillMidPatch kills the server process in the middle of PATCH
// requests 100 times; the Go client resumes each time from the offset the
// new process reports, and every file arrives intact.
func TestFaultKillMidPatch(t *testing.T) {
	const kills, files, size = 100, 4, 2 << 20
	srv := &childServer{t: t, dir: t.TempDir(), addr: testenv.FreeAddr(t)}
	srv.start()
	defer srv.kill()
	var mu sync.Mutex
	killed, next := 0, int64(0)
	step := int64(size*files/(kills+files)) + 7 // not a multiple of the chunk: lands mid-PATCH
	var base int64
	c, err := upload.NewClient("http://"+srv.addr+"/files/", &upload.ClientOptions{
		ChunkSize: 128 << 10, Backoff: time.Millisecond, Retries: 20,
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		Progress: func(sent, _ int64) {
			mu.Lock()
			defer mu.Unlock()
			// Committed offsets are whole chunks; anything else is a PATCH
			// body in flight.
			if base+sent >= next && killed < kills && sent%(128<<10) != 0 {
				srv.kill()
				killed++
				next = base + sent + step
				srv.start()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	corrupt := 0
	for i := 0; i < files || killed < kills; i++ {
		mu.Lock()
		base = int64(i) * size
		mu.Unlock()
		data := randBytes(size)
		u, err := c.Upload(ctx, bytes.NewReader(data), size, nil)
		if err != nil {
			t.Fatalf("file %d after %d kills: %v", i, killed, err)
		}
		got, err := os.ReadFile(path.Join(srv.dir, path.Base(u)+".data"))
		if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
			corrupt++
		}
		if i > 2*files+kills {
			t.Fatal("kills did not happen")
		}
	}
	if corrupt != 0 || killed != kills {
		t.Fatalf("%d corrupt files after %d kills", corrupt, killed)
	}
}

// TestDisconnectMidPatch: a client that goes away mid-body keeps what
// arrived, and HEAD says so.
func TestDisconnectMidPatch(t *testing.T) {
	e := newEnv(t, nil)
	p := e.create(100000)
	conn := rawPatch(t, e, p, 0, 100000)
	if _, err := conn.Write(bytes.Repeat([]byte("a"), 30000)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	testenv.WaitFor(t, 20*time.Second, "the arrived bytes to be committed", func() bool { return e.offset(p) == 30000 })
	// The lock is released just after the commit: retry while it is held.
	status := 0
	testenv.WaitFor(t, 20*time.Second, "the resumed PATCH", func() bool {
		status = e.patch(p, 30000, bytes.Repeat([]byte("b"), 70000)).StatusCode
		return status != http.StatusLocked
	})
	if status != 204 {
		t.Fatalf("resume: %d", status)
	}
}

// TestLockConflictAndStaleLock: a second PATCH while one is receiving gets
// 423; a stalled request is cut after IdleTimeout, keeps what arrived and
// releases the lock.
func TestLockConflictAndStaleLock(t *testing.T) {
	e := newEnv(t, &upload.Options{IdleTimeout: 300 * time.Millisecond})
	p := e.create(100000)
	conn := rawPatch(t, e, p, 0, 100000)
	defer conn.Close()
	if _, err := conn.Write(bytes.Repeat([]byte("a"), 1000)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the first PATCH to be receiving", func() bool { return e.h.Stats().Active == 1 })
	if r := e.patch(p, 0, []byte("b")); r.StatusCode != http.StatusLocked {
		t.Fatalf("concurrent PATCH: %d, want 423", r.StatusCode)
	}
	// The first request now stalls: it is cut, its bytes kept.
	testenv.WaitFor(t, 20*time.Second, "the stalled PATCH to be cut", func() bool { return e.h.Stats().Active == 0 })
	if got := e.offset(p); got != 1000 {
		t.Fatalf("offset %d after the stall, want 1000", got)
	}
	// The lock goes when the cut request's handler returns, just after the
	// bytes are committed: a resuming client may see 423 for that moment
	// (tus clients retry it).
	status, conflicts := 0, uint64(0)
	testenv.WaitFor(t, 20*time.Second, "the PATCH after the stale lock", func() bool {
		status = e.patch(p, 1000, bytes.Repeat([]byte("c"), 99000)).StatusCode
		if status == http.StatusLocked {
			conflicts++
		}
		return status != http.StatusLocked
	})
	if status != 204 {
		t.Fatalf("PATCH after the stale lock: %d", status)
	}
	if got := e.h.Stats().LockConflicts; got != 1+conflicts {
		t.Errorf("LockConflicts %d, want %d (stats %+v)", got, 1+conflicts, e.h.Stats())
	}
}

// TestConcurrentPatches: many PATCHes at once at the same offset; exactly
// the ones that held the lock commit, the rest get 409 or 423, and the
// file is one writer's bytes.
func TestConcurrentPatches(t *testing.T) {
	e := newEnv(t, nil)
	const n = 16
	p := e.create(4096)
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.patch(p, 0, bytes.Repeat([]byte{byte('a' + i)}, 4096)).StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case 204:
			ok++
		case 409, 423, 403:
		default:
			t.Fatalf("status %d", c)
		}
	}
	dp, _ := e.store.DataPath(path.Base(p))
	got, _ := os.ReadFile(dp)
	if ok != 1 || len(got) != 4096 || !bytes.Equal(got, bytes.Repeat(got[:1], 4096)) {
		t.Fatalf("%d successes, file of %d bytes", ok, len(got))
	}
}

func rawPatch(t *testing.T, e *env, p string, off, length int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n", p, off, length)
	return conn
}
