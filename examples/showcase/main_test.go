package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeBinary()
	if code == 0 {
		if err := leakcheck.Find(nil); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

// showcaseBinary builds the showcase once per test run, without the race
// detector, so that the tests that start it as a user would do not wait
// for a race-instrumented SQLite to fill the paginate demo's table.
func showcaseBinary(t *testing.T) string {
	t.Helper()
	goBin := testenv.NeedProgram(t, "go")
	binaryOnce.Do(func() {
		binaryDir, binaryErr = os.MkdirTemp("", "showcase-test-")
		if binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "showcase")
		if out, err := exec.Command(goBin, "build", "-o", binaryPath, ".").CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

func removeBinary() {
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
}

// TestShowcaseServesAndStops builds the showcase, starts it on free ports as
// a user would, fetches the page over HTTP/2 and the stats over HTTP/1.1,
// then sends SIGTERM and expects a clean exit.
func TestShowcaseServesAndStops(t *testing.T) {
	bin := showcaseBinary(t)
	httpsAddr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	cmd := exec.Command(bin, "-https", httpsAddr, "-http", httpAddr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	// Read what the showcase prints: the URLs and the certificate hash.
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var httpsURL, httpURL string
	deadline := time.After(time.Minute)
	for httpsURL == "" || httpURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("showcase exited before printing its URLs")
			}
			t.Log(l)
			if u, ok := strings.CutPrefix(l, "showcase: serving "); ok {
				if strings.HasPrefix(u, "https://") {
					httpsURL = u
				} else {
					httpURL = u
				}
			}
		case <-deadline:
			t.Fatal("showcase printed no URLs within a minute")
		}
	}

	// The page, over HTTP/2 with TLS. The test trusts any certificate
	// because the showcase makes a fresh one per start; the page itself
	// shows its hash, which the test checks against the served one.
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := client.Get(httpsURL)
	if err != nil {
		t.Fatalf("GET %s: %v", httpsURL, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Fatalf("GET %s: %s over %s, want 200 over HTTP/2.0", httpsURL, resp.Status, resp.Proto)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Fatalf("served certificate: %v", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	if p := x509.NewCertPool(); !p.AppendCertsFromPEM(certPEM) {
		t.Fatal("served certificate does not round-trip through PEM")
	}
	for _, want := range []string{"wirespeed showcase", "/debug/stats", `id="demo-pool"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	checkHTTP3(t, httpsURL, resp.Header.Get("Alt-Svc"), leaf.Raw)
	if resp, err := client.Get(httpsURL + "readyz"); err != nil {
		t.Errorf("readyz: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("readyz before shutdown: %s", resp.Status)
		}
	}

	// The stats, over plain HTTP, as the page's script fetches them.
	resp, err = client.Get(httpURL + "debug/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		UptimeSeconds float64                    `json:"uptime_seconds"`
		Goroutines    int                        `json:"goroutines"`
		Demos         map[string]json.RawMessage `json:"demos"`
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("stats JSON: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("stats Content-Type %q", ct)
	}
	if stats.Goroutines == 0 {
		t.Error("stats report no goroutines")
	}
	checkDemoStats(t, client, httpsURL, stats.Demos)
	if raw, ok := stats.Demos["httpx"]; ok {
		checkHTTPXStats(t, raw)
	} else {
		t.Log("the httpx demo is not in demos (page.go); its own test covers it")
	}

	// SIGTERM drains and exits 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	select {
	case err := <-exited:
		exited <- err // for the deferred cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("showcase exited with %v after SIGTERM; output %q", err, rest)
		}
	case <-time.After(time.Minute):
		t.Fatal("showcase did not exit within a minute of SIGTERM")
	}
	if !strings.Contains(strings.Join(rest, "\n"), "showcase: stopped") {
		t.Errorf("output after SIGTERM %q lacks the stop line", rest)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{name: "defaults", args: nil},
		{name: "custom", args: []string{"-https", "127.0.0.1:0", "-http", ""}},
		{name: "nothing to serve", args: []string{"-https", "", "-http", ""}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseFlags(%q) error %v, wantErr %v", tc.args, err, tc.wantErr)
			}
		})
	}
	c, _ := parseFlags(nil, io.Discard)
	if c.httpsAddr != "localhost:8443" || c.httpAddr != "localhost:8080" {
		t.Fatalf("default addresses %q, %q", c.httpsAddr, c.httpAddr)
	}
}
