package upload_test

import (
	"os"
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChildServer() // the fault test's server process; never returns
	}
	leakcheck.VerifyTestMain(m)
}
