package checks

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files (docs, golden outputs)")

const (
	catalogStart = "<!-- catalog:start (generated: go test ./internal/checks -run TestCatalogDocs -update) -->\n"
	catalogEnd   = "<!-- catalog:end -->"
)

// TestCatalogDocs fails when README.md's catalog or docs/checks.md drift from
// the check metadata.
func TestCatalogDocs(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, catalogStart), strings.Index(s, catalogEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the catalog markers %q ... %q", catalogStart, catalogEnd)
	}
	wantReadme := s[:i+len(catalogStart)] + CatalogTable(All()) + s[j:]
	wantPage := CatalogPage(All())
	page, _ := os.ReadFile("../../docs/checks.md")
	if *update {
		if err := os.WriteFile("../../README.md", []byte(wantReadme), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../../docs/checks.md", []byte(wantPage), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s != wantReadme {
		t.Error("README.md's check catalog is out of date: run go test ./internal/checks -run TestCatalogDocs -update")
	}
	if string(page) != wantPage {
		t.Error("docs/checks.md is out of date: run go test ./internal/checks -run TestCatalogDocs -update")
	}
	for _, c := range All() {
		if !strings.Contains(wantPage, "### "+c.ID+"\n") || !strings.Contains(wantReadme, "`"+c.ID+"`") {
			t.Errorf("check %s is missing from the docs", c.ID)
		}
	}
}
