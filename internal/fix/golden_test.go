package fix_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/fix"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// now is the tests' clock: the day the facts were checked.
var now = func() time.Time { return time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) }

// caseOptions is a golden case's options.json: the checks to fix and the
// policy (as check --policy reads it).
type caseOptions struct {
	Checks []string        `json:"checks"`
	Policy json.RawMessage `json:"policy"`
}

func loadOptions(t *testing.T, dir string) fix.Options {
	t.Helper()
	var co caseOptions
	data, err := os.ReadFile(filepath.Join(dir, "options.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &co); err != nil {
		t.Fatalf("%s/options.json: %v", dir, err)
	}
	pol := policy.Default(checks.Specs(checks.All()))
	if len(co.Policy) > 0 {
		if pol, err = policy.Decode(co.Policy, checks.Specs(checks.All())); err != nil {
			t.Fatalf("%s/options.json: %v", dir, err)
		}
	}
	return fix.Options{Policy: pol, Checks: co.Checks, Self: "readiness", Now: now}
}

// itemsText is one line per failing finding: what became of it.
func itemsText(res *fix.Result) string {
	var b strings.Builder
	for _, it := range res.Items {
		result := "not fixed (" + string(it.Reason) + ")"
		if it.Fixed {
			result = "fixed"
			if it.Review {
				result += ", review"
			}
		}
		fmt.Fprintf(&b, "%s %s: %s: %s\n", it.Finding.ID, it.Finding.Module, result, it.Note)
	}
	return b.String()
}

// TestGolden runs each case of testdata/golden (Polaris' shape: an input,
// the expected output and the expected patch, and what became of each
// finding), then checks what every fix must keep: the patch applied to the
// input gives the output, the changes (SARIF's replacements) applied to the
// input give the output, and fixing the output changes nothing.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/golden/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			opts := loadOptions(t, dir)
			input, err := os.ReadFile(filepath.Join(dir, "input.json"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := fix.Run(input, filepath.Join(dir, "input.json"), opts)
			if err != nil {
				t.Fatal(err)
			}
			patch, err := json.MarshalIndent(res.Patch, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := map[string][]byte{"output.json": res.Output, "patch.json": append(patch, '\n'), "items.txt": []byte(itemsText(res))}
			for name, got := range golden {
				path := filepath.Join(dir, name)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
				}
			}
			checkInvariants(t, input, res, opts)
		})
	}
}

// checkInvariants asserts what holds for every fixed manifest.
func checkInvariants(t *testing.T, input []byte, res *fix.Result, opts fix.Options) {
	t.Helper()
	if got := fix.ApplyChanges(input, res.Changes); !bytes.Equal(got, res.Output) {
		t.Errorf("the changes applied to the input do not give the output:\n%s", got)
	}
	if res.Changed() {
		raw, _ := json.Marshal(res.Patch)
		p, err := jsonpatch.DecodePatch(raw)
		if err != nil {
			t.Fatalf("the patch is not RFC 6902: %v", err)
		}
		patched, err := p.Apply(bytes.TrimPrefix(input, []byte("\xef\xbb\xbf")))
		if err != nil {
			t.Fatalf("applying the patch: %v", err)
		}
		if !jsonpatch.Equal(patched, bytes.TrimPrefix(res.Output, []byte("\xef\xbb\xbf"))) {
			t.Errorf("the patch applied to the input does not give the output:\n%s", patched)
		}
	} else if len(res.Patch) != 0 {
		t.Errorf("an unchanged manifest has a patch of %d operations", len(res.Patch))
	}
	again, err := fix.Run(res.Output, "again.json", opts)
	if err != nil {
		t.Fatalf("fixing the output: %v", err)
	}
	if again.Changed() {
		t.Errorf("fixing the fixed manifest changed it again:\n%s", again.Output)
	}
	for _, it := range again.Items {
		if it.Fixed {
			t.Errorf("the second fix fixed %s of %s again", it.Finding.ID, it.Finding.Module)
		}
	}
}
