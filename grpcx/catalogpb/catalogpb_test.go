package catalogpb_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/grpcx/catalogpb"
	"github.com/wirespeed/wirespeed/internal/leakcheck"
	"github.com/wirespeed/wirespeed/internal/testenv"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m)
}

// protocVersion matches the lines naming protoc's version, which differ
// between Debian releases without changing the code.
var protocVersion = regexp.MustCompile(`(?m)^//.*protoc +v[0-9.]+$`)

// TestGenerated regenerates the code from catalog.proto into a temporary
// directory and compares it with the checked-in files: go generate must
// reproduce them.
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs protoc and builds the plugins; skipped with -short")
	}
	testenv.NeedProgram(t, "protoc")
	goBin := testenv.NeedProgram(t, "go")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", "../internal/protogen", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protogen: %v\n%s", err, b)
	}
	for _, name := range []string{"catalog.pb.go", "catalog_grpc.pb.go"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got = protocVersion.ReplaceAll(got, nil)
		want = protocVersion.ReplaceAll(want, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what go generate produces: run go generate ./grpcx/catalogpb", name)
		}
	}
}

func TestDemo(t *testing.T) {
	d := catalogpb.NewDemo(3)
	ctx := context.Background()
	if it, err := d.Get(ctx, &catalogpb.GetRequest{Id: "item-00002"}); err != nil || it.GetName() != "Widget 2" {
		t.Errorf("Get = %v, %v", it, err)
	}
	for _, tc := range []struct {
		id   string
		code codes.Code
	}{{"", codes.InvalidArgument}, {"nope", codes.NotFound}} {
		if _, err := d.Get(ctx, &catalogpb.GetRequest{Id: tc.id}); status.Code(err) != tc.code {
			t.Errorf("Get(%q) = %v, want %v", tc.id, err, tc.code)
		}
	}
}
