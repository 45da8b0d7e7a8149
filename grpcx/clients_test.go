package grpcx_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/grpcx"
	"github.com/wirespeed/wirespeed/internal/testenv"
)

// TestNodeClient calls all four method kinds from Node's @grpc/grpc-js.
func TestNodeClient(t *testing.T) {
	node := testenv.NeedProgram(t, "node")
	modules := testenv.NodeModules(t, "@grpc/grpc-js", "@grpc/proto-loader")
	srv := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	proto, _ := filepath.Abs(filepath.Join("catalogpb", "catalog.proto"))
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "node_client.js"), proto, srv.addr)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		"get item-00003 Widget 3 202",
		"notfound 5",
		"list item-00001,item-00002,item-00003,item-00004,item-00005",
		"upload 3 30",
		"chat 1:echo: hi 1|2:echo: hi 2|3:echo: hi 3",
	}, "\n") + "\n"
	if string(out) != want {
		t.Errorf("node printed:\n%s\nwant:\n%s", out, want)
	}
	if st := srv.Stats(); len(st.Methods) != 4 {
		t.Errorf("server saw %d methods: %+v", len(st.Methods), st.Methods)
	}
}

// grpcurlModule is the grpcurl release the test runs with go run.
const grpcurlModule = "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"

// TestGrpcurl lists services through reflection and calls the unary and
// server-streaming methods with grpcurl, which knows nothing of the
// .proto but what reflection tells it.
func TestGrpcurl(t *testing.T) {
	if testing.Short() {
		t.Skip("builds grpcurl with go run; skipped with -short")
	}
	goBin := testenv.NeedProgram(t, "go")
	srv := startServer(t, &grpcx.ServerOptions{Reflection: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, goBin, append([]string{"run", grpcurlModule, "-plaintext"}, args...)...)
		cmd.Dir = t.TempDir() // outside the module: go run module@version
		out, err := cmd.CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "proxy") || strings.Contains(string(out), "dial tcp") {
				testenv.Unavailable(t, "cannot fetch "+grpcurlModule+": "+strings.TrimSpace(string(out)))
			}
			t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	list := run(srv.addr, "list")
	for _, svc := range []string{"wirespeed.catalog.v1.Catalog", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !strings.Contains(list, svc+"\n") {
			t.Errorf("grpcurl list lacks %s:\n%s", svc, list)
		}
	}
	get := run("-d", `{"id":"item-00042"}`, srv.addr, "wirespeed.catalog.v1.Catalog/Get")
	if !strings.Contains(get, `"name": "Widget 42"`) {
		t.Errorf("grpcurl Get:\n%s", get)
	}
	ls := run("-d", `{"limit":3}`, srv.addr, "wirespeed.catalog.v1.Catalog/List")
	if strings.Count(ls, `"id": "item-`) != 3 {
		t.Errorf("grpcurl List:\n%s", ls)
	}
	desc := run(srv.addr, "describe", "wirespeed.catalog.v1.Catalog")
	if !strings.Contains(desc, "rpc Chat ( stream .wirespeed.catalog.v1.ChatMessage ) returns ( stream .wirespeed.catalog.v1.ChatMessage );") {
		t.Errorf("grpcurl describe:\n%s", desc)
	}
	// Without the option, reflection is off.
	plain := startServer(t, nil)
	cmd := exec.CommandContext(ctx, goBin, "run", grpcurlModule, "-plaintext", plain.addr, "list")
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "server does not support the reflection API") {
		t.Errorf("grpcurl list without Reflection: %v\n%s", err, out)
	}
}
