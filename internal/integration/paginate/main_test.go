package paginate_test

import (
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(closeAfter{m})
}

// closeAfter closes the databases benchmarks share across the process
// before leakcheck looks for goroutines.
type closeAfter struct{ m *testing.M }

func (c closeAfter) Run() int {
	code := c.m.Run()
	closeBenchDBs()
	return code
}
