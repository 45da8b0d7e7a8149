package testenv_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/wirespeed/wirespeed/internal/testenv"
)

func TestStartPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(pg.Port))
	if err != nil {
		t.Fatalf("postgres not listening: %v", err)
	}
	c.Close()
	if pg.DSN == "" {
		t.Fatal("empty DSN")
	}
}
