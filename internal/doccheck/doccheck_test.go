// Package doccheck_test keeps the quick starts in the package docs honest:
// every code block under a "# Quick start" heading in a doc.go must appear,
// line by line and in order, inside one Example function of the same
// package, so the snippet a user pastes is code the compiler has seen.
package doccheck_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuickStartsAreCompiledExamples(t *testing.T) {
	root := moduleRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bench") {
				return filepath.SkipDir // bench is a module of its own
			}
			return nil
		}
		if d.Name() != "doc.go" {
			return nil
		}
		snippet := quickStart(t, path)
		if len(snippet) == 0 {
			return nil
		}
		checked++
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		bodies := exampleBodies(t, filepath.Dir(path))
		if len(bodies) == 0 {
			t.Errorf("%s: the quick start has no Example function to compile it", rel)
			return nil
		}
		best, bestAt := "", -1
		for name, body := range bodies {
			n := matchInOrder(snippet, body)
			if n == len(snippet) {
				return nil
			}
			if n > bestAt {
				best, bestAt = name, n
			}
		}
		t.Errorf("%s: quick start line %q is not in any Example in order (closest: %s, which matches the first %d of %d lines)",
			rel, snippet[bestAt], best, bestAt, len(snippet))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("found %d quick starts; the walk is not seeing the packages", checked)
	}
}

// TestMatchInOrder pins the matcher: a drifted snippet must not pass.
func TestMatchInOrder(t *testing.T) {
	body := []string{"a := 1", "setup()", "b := a", "use(b)"}
	if n := matchInOrder([]string{"a := 1", "b := a", "use(b)"}, body); n != 3 {
		t.Errorf("in-order subset matched %d of 3", n)
	}
	if n := matchInOrder([]string{"b := a", "a := 1"}, body); n != 1 {
		t.Errorf("out-of-order lines matched %d, want 1", n)
	}
	if n := matchInOrder([]string{"a := 2"}, body); n != 0 {
		t.Errorf("changed line matched %d, want 0", n)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// quickStart returns the code lines (trimmed, blank lines dropped) of the
// first indented block after "# Quick start" in the package comment.
func quickStart(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		return nil
	}
	lines := strings.Split(f.Doc.Text(), "\n")
	var out []string
	in := false
	for _, l := range lines {
		switch {
		case strings.TrimSpace(l) == "# Quick start":
			in = true
		case !in:
		case strings.HasPrefix(l, "# "):
			return out
		case strings.HasPrefix(l, "\t"):
			if l = normalize(l); l != "" && l != "…" && l != "..." { // an elision stands for any code
				out = append(out, l)
			}
		case strings.TrimSpace(l) == "":
		default:
			if len(out) > 0 {
				return out // prose after the block ends it
			}
		}
	}
	return out
}

// exampleBodies returns, per Example function in the directory's test
// files, the normalized lines of its body.
func exampleBodies(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Example") {
				continue
			}
			start := fset.Position(fn.Body.Lbrace).Offset + 1
			end := fset.Position(fn.Body.Rbrace).Offset
			var body []string
			for _, l := range strings.Split(string(src[start:end]), "\n") {
				if l = normalize(l); l != "" {
					body = append(body, l)
				}
			}
			out[fn.Name.Name] = body
		}
	}
	return out
}

// matchInOrder reports how many leading lines of snippet occur in body in
// order (other lines may sit between them).
func matchInOrder(snippet, body []string) int {
	n := 0
	for _, l := range body {
		if n < len(snippet) && l == snippet[n] {
			n++
		}
	}
	return n
}

// normalize drops a line's comment (code is what must match; the prose
// may differ) and collapses white space.
func normalize(l string) string {
	if strings.HasPrefix(strings.TrimSpace(l), "//") {
		return ""
	}
	if i := strings.Index(l, " // "); i >= 0 {
		l = l[:i]
	}
	return strings.Join(strings.Fields(l), " ")
}
