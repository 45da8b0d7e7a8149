package pool_test

import (
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m)
}
