package upload_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/testenv"
	"github.com/wirespeed/wirespeed/upload"
)

// nodeTus uploads argv[2] to the endpoint argv[1] with tus-js-client,
// resuming argv[3] when given; it prints "progress <sent> <url>" lines and
// "done <url>".
const nodeTus = `
const tus = require('tus-js-client');
const fs = require('fs');
const [endpoint, file, resume] = process.argv.slice(1);
const data = fs.readFileSync(file);
const up = new tus.Upload(data, {
  endpoint,
  uploadUrl: resume || null,
  chunkSize: 256 * 1024,
  retryDelays: [0, 100, 500],
  overridePatchMethod: !!resume,
  metadata: { filename: 'résumé.bin', filetype: 'application/octet-stream' },
  onProgress: (sent) => console.log('progress ' + sent + ' ' + up.url),
  onSuccess: () => { console.log('done ' + up.url); process.exit(0); },
  onError: (e) => { console.error('error ' + e); process.exit(1); },
});
up.start();
`

// TestTusJSClient: tus-js-client in Node uploads a file, is killed in the
// middle, and a new process resumes the upload (tunnelling PATCH through
// POST with X-HTTP-Method-Override); the stored file's sha256 matches.
func TestTusJSClient(t *testing.T) {
	node := testenv.NeedProgram(t, "node")
	modules := testenv.NodeModules(t, "tus-js-client")
	e := newEnv(t, nil)
	data := randBytes(4 << 20)
	src := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(resume string, killAt int) (url string, done bool) {
		cmd := exec.CommandContext(ctx, node, "-e", nodeTus, e.srv.URL+"/files/", src, resume)
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "done":
				return f[1], true
			case "progress":
				sent, _ := strconv.Atoi(f[1])
				if killAt > 0 && sent >= killAt && len(f) == 3 {
					_ = cmd.Process.Kill()
					return f[2], false
				}
			}
		}
		t.Fatalf("node ended without finishing")
		return "", false
	}
	url, done := run("", len(data)*2/5)
	if done || url == "" {
		t.Fatalf("first run: done=%v url=%q", done, url)
	}
	testenv.WaitFor(t, 20*time.Second, "the killed client's request to end", func() bool { return e.h.Stats().Active == 0 })
	off := e.offset(strings.TrimPrefix(url, e.srv.URL))
	if off == 0 || off >= len(data) {
		t.Fatalf("offset after the kill: %d of %d", off, len(data))
	}
	url2, done := run(url, 0)
	if !done || url2 != url {
		t.Fatalf("resume: done=%v url=%q, want %q", done, url2, url)
	}
	dp, _ := e.store.DataPath(path.Base(url))
	got, err := os.ReadFile(dp)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("stored file's sha256 differs (%v)", err)
	}
	if st := e.h.Stats(); st.Created != 1 || st.Completed != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestCurlRangeAndResume: curl downloads a byte range, two ranges
// (multipart/byteranges) and resumes a partial file with -C -.
func TestCurlRangeAndResume(t *testing.T) {
	curl := testenv.NeedProgram(t, "curl")
	e := newEnv(t, &upload.Options{Download: func(*http.Request, upload.Info) error { return nil }})
	data := randBytes(300_000)
	p := e.create(len(data), "Upload-Metadata: filename "+b64("data set.bin"))
	e.patch(p, 0, data)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	curlRun := func(args ...string) string {
		b, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--fail"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return string(b)
	}
	curlRun("-r", "1000-1999", "-o", out, e.srv.URL+p)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data[1000:2000]) {
		t.Fatalf("range: %d bytes", len(got))
	}
	multi := curlRun("-r", "0-9,100-109", e.srv.URL+p)
	if !strings.Contains(multi, string(data[100:110])) || !strings.Contains(multi, "Content-Range: bytes 0-9/300000") {
		t.Fatalf("multi-range response lacks its parts")
	}
	if err := os.WriteFile(out, data[:123_456], 0o600); err != nil {
		t.Fatal(err)
	}
	curlRun("-C", "-", "-o", out, e.srv.URL+p)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatalf("resumed file differs (%d bytes)", len(got))
	}
	headers := curlRun("-D", "-", "-o", os.DevNull, "-r", "0-0", e.srv.URL+p) // HEAD is the tus offset request
	if !strings.Contains(headers, `filename="data set.bin"`) || !strings.Contains(headers, "Accept-Ranges: bytes") {
		t.Fatalf("headers:\n%s", headers)
	}
}
