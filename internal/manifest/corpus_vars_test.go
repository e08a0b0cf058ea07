package manifest_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// varSkipsBefore is the number of findings that skipped only because of an
// unresolved variable over the whole corpus (no --env-file, no environment)
// when any variable in a module's createOptions skipped every check reading
// createOptions for that module: measured on the code before createOptions
// variables were located by their JSON path.
const varSkipsBefore = 36

// TestCorpusVariableSkips counts, over the corpus, the findings that skip
// only because of a variable, and asserts they are at most half of what the
// whole-createOptions rule skipped.
func TestCorpusVariableSkips(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Default(checks.Specs(checks.All()))
	all, n, byCheck := 0, 0, map[string]int{}
	for _, f := range files {
		m, err := manifest.Load(f, manifest.Options{})
		if err != nil {
			continue // refused manifests are judged by TestCorpus
		}
		fs := checks.Run(checks.All(), checks.Input{Snap: manifest.Snapshot(m, time.Now()), Self: "readiness"}, pol)
		for _, f := range fs {
			if f.Status != checks.Skip || len(f.Unresolved) == 0 {
				continue
			}
			all++
			if field, _ := f.Evidence["field"].(string); strings.HasPrefix(field, "settings.") {
				n++ // a variable in createOptions (settings.createOptions, createOptions01, ...)
				byCheck[f.ID]++
			}
		}
	}
	t.Logf("findings skipped for a variable in createOptions: %d (before: %d); by check: %v; for any variable: %d", n, varSkipsBefore, byCheck, all)
	if 2*n > varSkipsBefore {
		t.Errorf("%d findings skip for a variable, want at most half of %d", n, varSkipsBefore)
	}
}
