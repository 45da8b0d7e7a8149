package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirespeed/wirespeed/httpx"
	"github.com/wirespeed/wirespeed/internal/integration/browser"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// startShowcase starts the built showcase with args, as a user would,
// and returns what it printed up to the end of its start-up; it is
// stopped with SIGTERM when the test ends.
func startShowcase(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command(showcaseBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 256)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads any more
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("showcase exited with %v after SIGTERM", err)
			}
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-exited
			t.Error("showcase did not exit within a minute of SIGTERM")
		}
	})
	var out []string
	deadline := time.After(time.Minute)
	for {
		select {
		case l := <-lines:
			t.Log(l)
			out = append(out, l)
			// The plain-HTTP URL is printed last.
			if strings.HasPrefix(l, "showcase: serving http://") {
				return out
			}
		case err := <-exited:
			exited <- err
			t.Fatalf("the showcase exited at start: %v; printed %q", err, out)
		case <-deadline:
			t.Fatalf("the showcase did not start within a minute; printed %q", out)
		}
	}
}

// chromiumLine returns the flags and the URL of the Chromium command line
// the showcase printed.
func chromiumLine(t *testing.T, lines []string) (flags map[string]string, url string) {
	t.Helper()
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "chromium" {
			continue
		}
		flags = map[string]string{}
		for _, a := range f[1 : len(f)-1] {
			name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !ok || !strings.HasPrefix(a, "--") {
				t.Fatalf("flag %q in %q", a, l)
			}
			flags[name] = value
		}
		return flags, f[len(f)-1]
	}
	t.Fatalf("no chromium command line in %q", lines)
	return nil, ""
}

// pageProtocols waits until the page has run its measurements and returns
// its requests' protocols as Resource Timing saw them, and the navigation's.
const pageProtocols = `new Promise((resolve) => {
	const id = setInterval(() => {
		if (window.showcaseMeasured !== true) return;
		clearInterval(id);
		const nav = performance.getEntriesByType('navigation')[0];
		resolve(JSON.stringify({all: window.showcaseProtocols, navigation: nav ? nav.nextHopProtocol : '',
			headlines: [...document.querySelectorAll('section[data-measure] .headline .value')].map(e => e.textContent),
			shown: document.getElementById('protocols').textContent}));
	}, 50);
})`

// TestHTTP3InChromium starts the showcase as a user would, starts
// Chromium with exactly the flags the showcase printed (the SPKI hash of
// the development certificate and the origin forced onto QUIC), and
// checks that the page's own requests, the page included, went over h3,
// that the page says so, and that every measurement filled its headline.
func TestHTTP3InChromium(t *testing.T) {
	lines := startShowcase(t, "-https", testenv.FreeAddr(t), "-http", testenv.FreeAddr(t))
	flags, url := chromiumLine(t, lines)
	if flags["ignore-certificate-errors-spki-list"] == "" || flags["origin-to-force-quic-on"] == "" || flags["user-data-dir"] == "" {
		t.Fatalf("printed flags %v lack the SPKI hash, the QUIC origin or the profile", flags)
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.Flag("disable-quic", false)} // browser.Chromium disables QUIC by default
	for name, value := range flags {
		if name == "user-data-dir" {
			continue // browser.Chromium gives each test its own profile
		}
		opts = append(opts, chromedp.Flag(name, value))
	}
	b := browser.Chromium(t, opts...)
	ctx, cancel := context.WithTimeout(b, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	js, err := chromedp.Run(ctx, chromedp.Evaluate[string](pageProtocols, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		All        map[string]int `json:"all"`
		Navigation string         `json:"navigation"`
		Headlines  []string       `json:"headlines"`
		Shown      string         `json:"shown"`
	}
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	if got.Navigation != "h3" || got.All["h3"] < 2 || len(got.All) != 1 {
		t.Fatalf("protocols: navigation %q, all %v; want h3 only", got.Navigation, got.All)
	}
	if !strings.Contains(got.Shown, "h3") {
		t.Errorf("the page shows %q", got.Shown)
	}
	if len(got.Headlines) < 4 {
		t.Errorf("headlines %q", got.Headlines)
	}
	for _, h := range got.Headlines {
		if !strings.ContainsAny(h, "0123456789") {
			t.Errorf("headline %q has no number", h)
		}
	}

	// An HTML answer opens as a page, not as source in a result box.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#demo-paginate a[href="/paginate/browse"]').click(), true`)); err != nil {
		t.Fatal(err)
	}
	// Evaluated afresh each time: a poll inside the page ends with it.
	testenv.WaitFor(t, 30*time.Second, "browse products to open as a page", func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.pathname === '/paginate/browse' && document.querySelector('table') !== null`))
		return err == nil && ok
	})
}

// TestUserCertificate: with -cert and -key the showcase serves the user's
// certificate, prints its hash, and prints no SPKI flag (a trusted
// certificate needs none).
func TestUserCertificate(t *testing.T) {
	dev, err := httpx.NewDevCert() // stands in for a certificate from mkcert
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(dev.Certificate().PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, dev.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	httpsAddr := testenv.FreeAddr(t)
	lines := startShowcase(t, "-https", httpsAddr, "-http", testenv.FreeAddr(t), "-cert", certFile, "-key", keyFile)
	if !strings.Contains(strings.Join(lines, "\n"), dev.CertHashHex()) {
		t.Errorf("output %q lacks the certificate's hash", lines)
	}
	flags, _ := chromiumLine(t, lines)
	if _, ok := flags["ignore-certificate-errors-spki-list"]; ok || flags["origin-to-force-quic-on"] == "" {
		t.Errorf("flags for a trusted certificate: %v", flags)
	}
	tr := &http.Transport{TLSClientConfig: dev.ClientTLS()} // trusts only the user's certificate
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("https://" + httpsAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(resp.TLS.PeerCertificates[0].Raw)
	if hex.EncodeToString(sum[:]) != dev.CertHashHex() || !strings.Contains(string(page), dev.CertHashHex()) {
		t.Errorf("served a certificate other than -cert, or the page does not show its hash")
	}
	if strings.Contains(string(page), dev.SPKIHash()) {
		t.Error("the page offers an SPKI flag for a trusted certificate")
	}
}

// TestCertFlags: -cert and -key come together, from flags or environment.
func TestCertFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-cert", "c.pem"}, io.Discard); err == nil {
		t.Error("-cert without -key accepted")
	}
	t.Setenv(envCertFile, "c.pem")
	t.Setenv(envKeyFile, "k.pem")
	c, err := parseFlags(nil, io.Discard)
	if err != nil || c.certFile != "c.pem" || c.keyFile != "k.pem" {
		t.Errorf("from the environment: %+v, %v", c, err)
	}
	if err := run(context.Background(), []string{"-https", "127.0.0.1:0", "-http", "", "-cert", "missing.pem", "-key", "missing.pem"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-cert") {
		t.Errorf("missing files: %v", err)
	}
}
