package compress_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirespeed/wirespeed/internal/testenv"
)

// TestCurl has curl --compressed (which sends "deflate, gzip, br, zstd"
// when built with those decoders, as Debian's is) fetch JSON and stream
// Server-Sent Events through the middleware for every coding.
func TestCurl(t *testing.T) {
	curl := testenv.NeedProgram(t, "curl")
	features, err := exec.Command(curl, "-V").Output()
	if err != nil {
		t.Fatalf("curl -V: %v", err)
	}
	app := newConformanceApp(t)
	srv := httptest.NewServer(app)
	defer srv.Close()
	for _, v := range conformanceVariants {
		t.Run(v.name, func(t *testing.T) {
			feature := map[string]string{"gzip": "libz", "br": "brotli", "zstd": "zstd"}[v.encoding]
			if !bytes.Contains(features, []byte(" "+feature)) {
				testenv.Unavailable(t, "this curl lacks "+feature)
			}
			ctx := safetyContext(t)

			out := filepath.Join(t.TempDir(), "body")
			path := "/" + v.name + "/data.json"
			headers, err := exec.CommandContext(ctx, curl, "--compressed", "-sS", "-D", "-", "-o", out, srv.URL+path).Output()
			if err != nil {
				t.Fatalf("curl: %v", err)
			}
			app.expectSent(t, path, v.encoding)
			if !bytes.Contains(bytes.ToLower(headers), []byte("content-encoding: "+v.encoding+"\r\n")) {
				t.Fatalf("response head lacks Content-Encoding %s:\n%s", v.encoding, headers)
			}
			if body, _ := os.ReadFile(out); !bytes.Equal(body, json16) {
				t.Fatalf("curl decoded %d bytes that differ from the %d sent", len(body), len(json16))
			}

			// -N: curl writes each chunk as it decodes it; each event must
			// arrive before the server writes the next.
			cmd := exec.CommandContext(ctx, curl, "--compressed", "-sS", "-N", srv.URL+"/"+v.name+"/events")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stdout)
			for i := range 3 {
				var event strings.Builder
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						t.Fatalf("event %d: %v after %q", i, err, event.String())
					}
					event.WriteString(line)
					if line == "\n" {
						break
					}
				}
				want := fmt.Sprintf("id: %d\ndata: event %d of %s\n\n", i, i, v.name)
				if i == 0 {
					want = "retry: 60000\n" + want
				}
				if event.String() != want {
					t.Fatalf("event %d = %q, want %q", i, event.String(), want)
				}
				select {
				case app.acks <- struct{}{}:
				case <-ctx.Done():
					t.Fatal("the server stopped waiting for acknowledgements")
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("curl: %v", err)
			}
			app.expectSent(t, "/"+v.name+"/events", v.encoding)
		})
	}
}
