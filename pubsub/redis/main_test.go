package redis_test

import (
	"context"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/wirespeed/wirespeed/internal/leakcheck"
)

// quiet drops go-redis's log lines (dial failures while the fault test has
// Redis down are expected).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	goredis.SetLogger(quiet{})
	leakcheck.VerifyTestMain(m)
}
