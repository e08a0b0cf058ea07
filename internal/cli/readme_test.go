package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeMap keeps README's map of the house true: every package (a
// folder holding Go files) under internal/ and module/ has its row in the
// package map and every row names a package; every path the Development
// section names exists; and each worked example quoted in the README is,
// to the character, part of the Go example test that runs it.
func TestReadmeMap(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	at := strings.Index(readme, "## Development")
	if at < 0 {
		t.Fatal("README has no Development section")
	}
	dev := readme[at:]

	mapped := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^  \\| `([a-z0-9/_-]+)` \\|").FindAllStringSubmatch(dev, -1) {
		mapped[m[1]] = true
	}
	packages := map[string]bool{}
	for _, top := range []string{"internal", "module"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") {
				rel, _ := filepath.Rel(root, filepath.Dir(p))
				packages[filepath.ToSlash(rel)] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for p := range packages {
		// A package has its own row; a sub-package may be named in its parent's.
		sub := strings.Count(p, "/") > 1
		if !mapped[p] && (!sub || !strings.Contains(dev, "`"+p+"`")) {
			t.Errorf("package %s has no row in README's package map", p)
		}
	}
	for p := range mapped {
		if !packages[p] {
			t.Errorf("README's package map names %s, which holds no Go package", p)
		}
	}

	// Every path named in the Development section exists (placeholders aside).
	for _, m := range regexp.MustCompile("`((?:internal|module|examples|testdata|docs)/[^`<>*{} ]*)`").FindAllStringSubmatch(dev, -1) {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("README names %s, which does not exist", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`([a-z_]+\\.go)`").FindAllStringSubmatch(dev, -1) {
		in1, _ := filepath.Glob(filepath.Join(root, "internal", "*", m[1]))
		in2, _ := filepath.Glob(filepath.Join(root, "internal", "*", "*", m[1]))
		if len(in1)+len(in2) == 0 {
			t.Errorf("README names the file %s, found in no package", m[1])
		}
	}

	// The worked examples are the code that runs.
	examples := regexp.MustCompile("(?s)<!-- example: ([^ ]+) -->\n```go\n(.*?)```").FindAllStringSubmatch(dev, -1)
	if len(examples) < 3 {
		t.Fatalf("README quotes %d worked examples, want one each for a check, a source and a sink", len(examples))
	}
	for _, m := range examples {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m[1])))
		if err != nil {
			t.Errorf("worked example: %v", err)
			continue
		}
		if !strings.Contains(string(src), m[2]) {
			t.Errorf("README's worked example differs from %s: copy the code from the file", m[1])
		}
	}
}
