package checks_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
)

// sectionFiles is the file of each catalog section: a check is defined in the
// file of its section, so that the catalog's headings are a map of the
// package. README's "Adding a check" names the same files.
var sectionFiles = map[string]string{
	checks.SecDevice:     "device.go",
	checks.SecDeployment: "deployment.go",
	checks.SecContainers: "containers.go",
	checks.SecNetworking: "networking.go",
	checks.SecSolution:   "solution.go",
	checks.SecSecurity:   "security.go",
	checks.SecOperations: "operations.go",
	checks.SecManifest:   "manifest.go",
	checks.SecReported:   "reported.go",
}

// catalogVars reads All() in catalog.go: the name of each check's variable,
// in the order All returns them.
func catalogVars(t *testing.T, fset *token.FileSet) []string {
	t.Helper()
	f, err := parser.ParseFile(fset, "catalog.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "All" {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if lit, ok := n.(*ast.CompositeLit); ok {
				for _, e := range lit.Elts {
					id, ok := e.(*ast.Ident)
					if !ok {
						t.Fatalf("All() lists %T, want the name of a check's variable", e)
					}
					names = append(names, id.Name)
				}
				return false
			}
			return true
		})
	}
	return names
}

// packageVars maps each package-level variable of the package's own files to
// the file declaring it.
func packageVars(t *testing.T, fset *token.FileSet) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				for _, id := range s.(*ast.ValueSpec).Names {
					out[id.Name] = name
				}
			}
		}
	}
	return out
}

// TestCheckFilesBySection fails when a check is defined outside the file of
// its catalog section: its variable must be declared there, and its Eval
// written there or in a helper file that builds checks of several sections
// (counterCheck in counters.go), never in another section's file.
func TestCheckFilesBySection(t *testing.T) {
	fset := token.NewFileSet()
	names := catalogVars(t, fset)
	all := checks.All()
	if len(names) != len(all) {
		t.Fatalf("read %d names in All() of catalog.go, All() returns %d checks", len(names), len(all))
	}
	declared := packageVars(t, fset)
	isSectionFile := map[string]bool{}
	for _, f := range sectionFiles {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("section file: %v", err)
		}
		isSectionFile[f] = true
	}
	for i, c := range all {
		want, ok := sectionFiles[c.Section]
		if !ok {
			t.Errorf("%s: section %q has no file in sectionFiles", c.ID, c.Section)
			continue
		}
		if got := declared[names[i]]; got != want {
			t.Errorf("%s (%s) is declared in %s, want %s, the file of its section %q", c.ID, names[i], orNone(got), want, c.Section)
		}
		fn := runtime.FuncForPC(reflect.ValueOf(c.Eval).Pointer())
		if fn == nil {
			t.Errorf("%s: cannot find the function of its Eval", c.ID)
			continue
		}
		path, _ := fn.FileLine(fn.Entry())
		if got := filepath.Base(path); got != want && isSectionFile[got] {
			t.Errorf("%s's Eval is written in %s, the file of another section; want %s (%q)", c.ID, got, want, c.Section)
		}
	}
}

// TestReadmeNamesSectionFiles keeps README's guide to adding a check true: it
// names the file of each section, after the section's name.
func TestReadmeNamesSectionFiles(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	secs := make([]string, 0, len(sectionFiles))
	for sec := range sectionFiles {
		secs = append(secs, sec)
	}
	sort.Strings(secs)
	for _, sec := range secs {
		f := sectionFiles[sec]
		if !strings.Contains(readme, sec+" `"+f+"`") {
			t.Errorf("README does not say that %q is in %s (write %q)", sec, f, sec+" `"+f+"`")
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "no file of the package"
	}
	return s
}
