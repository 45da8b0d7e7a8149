package paginate_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(closeAfter{m})
}

// closeAfter closes the databases benchmarks share across the process
// before goleak looks for goroutines.
type closeAfter struct{ m *testing.M }

func (c closeAfter) Run() int {
	code := c.m.Run()
	closeBenchDBs()
	return code
}
