package pubsub_test

import (
	"testing"

	"github.com/wirespeed/wirespeed/pubsub"
)

// FuzzIDs feeds untrusted IDs (an SSE client's Last-Event-ID) to the ID
// parser: no panic, a valid ID equals itself, and the order is
// antisymmetric.
func FuzzIDs(f *testing.F) {
	for _, s := range []string{"0", "0-0", "1700000000000-5", "18446744073709551615-18446744073709551615", "18446744073709551616-0", "1-", "-1", "a-b", "", "1-2-3", "+1-0", " 1-0"} {
		f.Add(s, "1-1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if pubsub.ValidID(a) && pubsub.CompareIDs(a, a) != 0 {
			t.Fatalf("%q != itself", a)
		}
		if pubsub.CompareIDs(a, b) != -pubsub.CompareIDs(b, a) {
			t.Fatalf("order of %q and %q not antisymmetric", a, b)
		}
	})
}
