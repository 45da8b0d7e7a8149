package wt_test

import (
	"testing"

	"github.com/wirespeed/wirespeed/wt"
)

// FuzzParseFrame feeds arbitrary messages to the fallback's frame
// decoder: it never panics, refuses what is malformed, and what it
// accepts re-encodes to the same bytes.
func FuzzParseFrame(f *testing.F) {
	f.Add(hello(100, 100, 1<<18, 1<<14, 1100))
	f.Add(idFrame(0x01, 4))
	f.Add(idFrame(0x02, 4, 'h', 'i'))
	f.Add(idFrame(0x03, 4))
	f.Add(idFrame(0x04, 4, u32(7)...))
	f.Add(idFrame(0x05, 4, u32(7)...))
	f.Add(idFrame(0x06, 4, u32(4096)...))
	f.Add([]byte{0x07, 1, 0, 0, 0, 9})
	f.Add([]byte{0x08, 'd'})
	f.Add(append([]byte{0x09, 0, 0, 0x0f, 0xa1}, "bye"...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		enc, err := wt.ParseAndEncode(b, 1<<14, 1100)
		if err != nil {
			return
		}
		if string(enc) != string(b) {
			t.Fatalf("re-encoded %x as %x", b, enc)
		}
	})
}
