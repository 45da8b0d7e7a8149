package paginate_test

import (
	"testing"

	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

// The tests that need a database (SQLite and PostgreSQL, whose drivers are
// modules of their own) live in internal/integration/paginate, so that
// importing paginate adds no driver to a program's module graph.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
