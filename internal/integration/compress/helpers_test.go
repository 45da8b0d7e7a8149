package compress_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/compress"
	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

// The compress middleware against real clients (curl and Chromium), which
// decode what it sends. The package's own tests are in compress/.

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// safety bounds every wait, so a hang ends in a failure.
const safety = 20 * time.Second

func safetyContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	t.Cleanup(cancel)
	return ctx
}

// json16 is 16 KiB of JSON records, as compressible as an API response.
var json16 = func() []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < 16<<10-100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"user-%d","active":%t,"score":%d}`, 1000+i, i*7919%100000, i%3 == 0, i*37%100)
	}
	b.WriteByte(']')
	return b.Bytes()
}()

// mustNew is compress.New for options a test knows are valid.
func mustNew(t testing.TB, opts *compress.Options) *compress.Compressor {
	t.Helper()
	c, err := compress.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
