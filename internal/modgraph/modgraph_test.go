package modgraph_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// heavy are modules the nested modules use that no program importing a
// package of the root module should see.
var heavy = []string{
	"github.com/chromedp/",
	"github.com/jackc/",
	"github.com/redis/",
	"github.com/minio/",
	"go.uber.org/goleak",
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
	"modernc.org/",
}

// TestRootRequiresOnlyWhatItBuilds: every requirement in the root go.mod
// provides a package that a non-test package of the root module imports,
// so no test-only module reaches a user's module graph.
func TestRootRequiresOnlyWhatItBuilds(t *testing.T) {
	root := moduleRoot(t)
	built := map[string]bool{}
	for _, m := range lines(t, run(t, root, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./...")) {
		built[m] = true
	}
	var gomod struct{ Require []struct{ Path string } }
	if err := json.Unmarshal([]byte(run(t, root, "mod", "edit", "-json")), &gomod); err != nil {
		t.Fatal(err)
	}
	if len(gomod.Require) == 0 {
		t.Fatal("the root go.mod requires nothing: the test is not reading it")
	}
	for _, r := range gomod.Require {
		if !built[r.Path] {
			t.Errorf("go.mod requires %s, which no non-test package of the root module imports: move the code that needs it to a nested module", r.Path)
		}
	}
}

// TestPoolConsumer: a program importing only pool downloads nothing but
// wirespeed (its go.sum stays empty), and its module graph holds nothing
// but the root module's own requirements.
func TestPoolConsumer(t *testing.T) {
	root := moduleRoot(t)
	dir := consumer(t, root, "github.com/wirespeed/wirespeed/pool")
	if sum := sumModules(t, dir); len(sum) > 0 {
		t.Errorf("go mod tidy for a program importing pool recorded %v in go.sum, want nothing", sum)
	}
	var gomod struct{ Require []struct{ Path string } }
	if err := json.Unmarshal([]byte(run(t, root, "mod", "edit", "-json")), &gomod); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"example.com/consumer": true, "github.com/wirespeed/wirespeed": true}
	for _, r := range gomod.Require {
		allowed[r.Path] = true
	}
	graph := lines(t, run(t, dir, "list", "-m", "-f", "{{.Path}}", "all"))
	for _, m := range graph {
		if !allowed[m] {
			t.Errorf("go list -m all shows %s for a program importing pool", m)
		}
		for _, h := range heavy {
			if strings.HasPrefix(m, h) {
				t.Errorf("go list -m all shows %s for a program importing pool", m)
			}
		}
	}
	if !slices.Contains(graph, "github.com/wirespeed/wirespeed") {
		t.Fatalf("go list -m all does not show wirespeed itself: %v", graph)
	}
}

// TestEachPackageConsumer: for a program importing any one package of the
// root module, neither its module graph nor its go.sum (which also covers
// the tests of the packages it imports) mentions a heavy module.
func TestEachPackageConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod tidy once per package; skipped with -short")
	}
	root := moduleRoot(t)
	pkgs := lines(t, run(t, root, "list", "-f", `{{if ne .Name "main"}}{{.ImportPath}}{{end}}`, "./..."))
	checked := 0
	for _, pkg := range pkgs {
		if strings.Contains(pkg, "/internal/") {
			continue
		}
		checked++
		t.Run(strings.TrimPrefix(pkg, "github.com/wirespeed/wirespeed/"), func(t *testing.T) {
			dir := consumer(t, root, pkg)
			seen := append(sumModules(t, dir), lines(t, run(t, dir, "list", "-m", "-f", "{{.Path}}", "all"))...)
			for _, m := range seen {
				for _, h := range heavy {
					if strings.HasPrefix(m, h) {
						t.Errorf("a program importing %s finds %s in its module graph or go.sum", pkg, m)
					}
				}
			}
		})
	}
	if checked < 8 {
		t.Fatalf("checked %d packages; the listing is not seeing the module", checked)
	}
}

// TestNestedModuleConsumers: a program importing one of the heavy clients
// finds that client's dependencies and the root's, and none of the other
// heavy modules.
func TestNestedModuleConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod tidy once per module; skipped with -short")
	}
	root := moduleRoot(t)
	for _, tc := range []struct {
		dir  string   // the nested module, from the root
		pkg  string   // the package the program imports
		owns []string // the heavy modules it brings, itself or through its client library
	}{
		{"pubsub/redis", "pubsub/redis", []string{"github.com/redis/"}},
		{"upload/s3", "upload/s3", []string{"github.com/minio/", "google.golang.org/protobuf"}}, // minio-go's go.mod requires protobuf
		{"grpcx", "grpcx", []string{"google.golang.org/grpc", "google.golang.org/protobuf"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			mod := "github.com/wirespeed/wirespeed/" + tc.dir
			dir := consumer(t, root, "github.com/wirespeed/wirespeed/"+tc.pkg, mod+" => "+filepath.Join(root, tc.dir))
			seen := append(sumModules(t, dir), lines(t, run(t, dir, "list", "-m", "-f", "{{.Path}}", "all"))...)
			if !slices.Contains(seen, mod) {
				t.Fatalf("the program's graph does not show %s: %v", mod, seen)
			}
			for _, m := range seen {
				for _, h := range heavy {
					if strings.HasPrefix(m, h) && !slices.ContainsFunc(tc.owns, func(o string) bool { return strings.HasPrefix(m, o) }) {
						t.Errorf("a program importing %s finds %s in its module graph or go.sum", tc.pkg, m)
					}
				}
			}
		})
	}
}

// consumer makes a module that imports pkg and uses this checkout for
// wirespeed (and replaces, "module => dir", for nested modules), runs go
// mod tidy in it and returns its directory.
func consumer(t *testing.T, root, pkg string, replaces ...string) string {
	t.Helper()
	dir := t.TempDir()
	gomod := "module example.com/consumer\n\ngo 1.26.0\n\nrequire github.com/wirespeed/wirespeed v0.0.0\n\nreplace github.com/wirespeed/wirespeed => " + root + "\n"
	for _, r := range replaces {
		gomod += "\nreplace " + r + "\n"
	}
	main := "package main\n\nimport _ \"" + pkg + "\"\n\nfunc main() {}\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "mod", "tidy")
	return dir
}

// sumModules returns the module paths in dir's go.sum.
func sumModules(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "go.sum"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, _, ok := strings.Cut(sc.Text(), " "); ok && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// run runs the go command in dir outside the workspace, as a user's
// module would, and returns its output.
func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go %s in %s: %s", strings.Join(args, " "), dir, msg)
	}
	return string(out)
}

func lines(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/wirespeed/wirespeed\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no root go.mod above the test's directory")
		}
		dir = parent
	}
}
