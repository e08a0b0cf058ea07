package testenv

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestRepositoryPointsNowhereOutside: no file of the repository sends its
// reader to a place beside it (a folder of notes, the originals of
// testdata/): each names the public source of its facts instead, so a clone
// reads whole on its own. The patterns are built so that this file does not
// match them.
func TestRepositoryPointsNowhereOutside(t *testing.T) {
	root := RepoRoot(t)
	outside := regexp.MustCompile(`(?i)` + strings.Join([]string{
		"steer" + "ing",
		regexp.QuoteMeta(".." + "/shared"),
		`\b` + "shared" + "/",
		// The notes the facts were once gathered in, not in the repository
		// (the catalogs, CHECKS*.md, are: testdata/ keeps them).
		`\b(fleet-and-cost|edgehub-behaviour|support-bundle|iotedge|peers|style-anchors|STYLE)` + `\.md\b`,
		`\b` + "reference" + `/[a-z-]+\.md\b`,
		`\b` + "seeds" + "/",
	}, "|"))
	literals := []string{"steer" + "ing", ".." + "/shared", "shared" + "/", ".md", "seeds" + "/"}
	checked := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".git" || name == "bin" || name == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b, 0) >= 0 { // binary
			return nil
		}
		checked++
		// Each pattern holds one of these: most files hold none, and the
		// regular expression need not read them.
		lower := bytes.ToLower(b)
		if !slices.ContainsFunc(literals, func(l string) bool { return bytes.Contains(lower, []byte(l)) }) {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		for i, line := range strings.Split(string(b), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d points outside the repository (%q): name the public source instead", filepath.ToSlash(rel), i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("read only %d files of %s: the walk missed the repository", checked, root)
	}
}
