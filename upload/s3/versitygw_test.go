package s3_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// versitygwModule is the S3 gateway the tests run against: a real S3
// server (posix backend) that verifies SigV4 and enforces multipart rules.
const (
	versitygwModule  = "github.com/versity/versitygw/cmd/versitygw"
	versitygwVersion = "v1.8.0"
)

const (
	accessKey = "wirespeed-test"
	secretKey = "wirespeed-test-secret"
)

var gw struct {
	once sync.Once
	path string
	err  error
	// unavailable is set when the failure is the machine's (no go, no
	// module proxy), not the build's.
	unavailable bool
}

// versitygwBin returns the pinned versitygw binary, building it once per
// machine into the user cache directory (later runs reuse it).
func versitygwBin(t testing.TB) string {
	t.Helper()
	gw.once.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "wirespeed", "versitygw-"+versitygwVersion)
		gw.path = filepath.Join(dir, "versitygw")
		if _, err := os.Stat(gw.path); err == nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			gw.err, gw.unavailable = errors.New("go not found in PATH to build "+versitygwModule), true
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			gw.err = err
			return
		}
		// Install into a private directory, then rename: a concurrent or
		// interrupted build never leaves a half-written binary in place.
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			gw.err = err
			return
		}
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "install", versitygwModule+"@"+versitygwVersion)
		cmd.Dir = tmp // outside the module: go install module@version
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			msg := strings.TrimSpace(string(out))
			gw.err = errors.New("go install " + versitygwModule + "@" + versitygwVersion + ": " + err.Error() + ": " + msg)
			low := strings.ToLower(msg)
			gw.unavailable = strings.Contains(low, "proxy") || strings.Contains(low, "dial tcp") || strings.Contains(low, "no such host")
			return
		}
		gw.err = os.Rename(filepath.Join(tmp, "versitygw"), gw.path)
	})
	if gw.err != nil {
		if gw.unavailable {
			testenv.Unavailable(t, gw.err.Error())
		}
		t.Fatal(gw.err)
	}
	return gw.path
}

// gateway is a running versitygw.
type gateway struct {
	endpoint string // host:port
	dir      string // posix backend root: one directory per bucket
}

// startGateway runs versitygw with its posix backend in a temporary
// directory on a free loopback port, waits until it answers, and stops it
// (and waits for it) at the test's cleanup.
func startGateway(t testing.TB) *gateway {
	t.Helper()
	if testing.Short() {
		t.Skip("runs versitygw (built once with go install); skipped with -short")
	}
	bin := versitygwBin(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "versitygw.log")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		log, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--access", accessKey, "--secret", secretKey, "--port", addr, "--quiet", "posix", root)
		cmd.Stdout, cmd.Stderr = log, log // files: no copying goroutines
		if err := cmd.Start(); err != nil {
			log.Close()
			t.Fatalf("start versitygw: %v", err)
		}
		log.Close()
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if lastErr = waitReady(addr, exited); lastErr == nil {
			t.Cleanup(stop)
			return &gateway{endpoint: addr, dir: root}
		}
		stop()
		out, _ := os.ReadFile(logPath)
		lastErr = errors.New(lastErr.Error() + ": " + strings.TrimSpace(string(out)))
	}
	t.Fatalf("versitygw did not start: %v", lastErr)
	return nil
}

// waitReady waits until the gateway answers HTTP (any status: it refuses
// unsigned requests), or exits, or a generous deadline passes.
func waitReady(addr string, exited <-chan struct{}) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("versitygw exited")
		default:
		}
		if resp, err := c.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("versitygw did not answer on " + addr + " within 30s")
}

// client returns a minio client for the gateway whose requests go through
// rt (nil: a plain transport); its idle connections are closed at cleanup.
func (g *gateway) client(t testing.TB, rt http.RoundTripper) *minio.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	if rt == nil {
		rt = tr
	}
	if r, ok := rt.(*recorder); ok {
		r.next = tr
	}
	c, err := minio.New(g.endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(accessKey, secretKey, ""), BucketLookup: minio.BucketLookupPath,
		Region: "us-east-1", Transport: rt, Secure: false,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
