package upload_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChildServer() // the fault test's server process; never returns
	}
	goleak.VerifyTestMain(m)
}
