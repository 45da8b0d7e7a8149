package paginate_test

import (
	"testing"

	"github.com/wirespeed/wirespeed/paginate"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newSigner(t testing.TB) *paginate.Signer {
	t.Helper()
	s, err := paginate.NewSigner([][]byte{testKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
