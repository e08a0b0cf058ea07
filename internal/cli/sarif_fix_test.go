package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sarifFixes is what a SARIF log says of its fixes.
type sarifFixes struct {
	Runs []struct {
		ColumnKind string `json:"columnKind"`
		Results    []struct {
			RuleID string `json:"ruleId"`
			Fixes  []struct {
				Description struct {
					Text string `json:"text"`
				} `json:"description"`
				ArtifactChanges []struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Replacements []struct {
						DeletedRegion struct {
							CharOffset int `json:"charOffset"`
							CharLength int `json:"charLength"`
						} `json:"deletedRegion"`
						InsertedContent *struct {
							Text string `json:"text"`
						} `json:"insertedContent"`
					} `json:"replacements"`
				} `json:"artifactChanges"`
			} `json:"fixes"`
		} `json:"results"`
	} `json:"runs"`
}

type replacement struct {
	off, n int
	text   string
}

// TestSARIFFixesGiveFixOutput: check --manifest --format sarif carries, in
// each fixed result, the change fix makes (artifactChanges, replacements in
// Unicode code points), valid against the SARIF 2.1.0 schema; applying the
// log's replacements to the input gives exactly the file fix -o writes
// (a template of objects, a generated deployment with CRLF line endings,
// a createOptions split in chunks, a layered deployment).
func TestSARIFFixesGiveFixOutput(t *testing.T) {
	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("..", "sink", "testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	withFixes := 0
	for _, name := range []string{"azure-iotedge-quickstart.template.json", "blobstorage.template.json",
		"azure-iotedge-metrics-collector-example.json", "iotedgedev-invalid-createoptions.json", "lorawan-observability.layered.template.json",
		"azcli-nested-top-layer.json"} {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join("..", "..", "testdata", "manifests", name)
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			_, out, errs := runCheck(t, "--manifest", in, "--format", "sarif")
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
			if err != nil {
				t.Fatalf("not JSON: %v\n%s", err, errs)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("not valid SARIF 2.1.0: %v", err)
			}
			var log sarifFixes
			if err := json.Unmarshal([]byte(out), &log); err != nil {
				t.Fatal(err)
			}
			// The same change repairs every finding of its module: each
			// result carries it; applied once, they give the file.
			seen := map[replacement]bool{}
			var reps []replacement
			fixed := 0
			for _, res := range log.Runs[0].Results {
				for _, fx := range res.Fixes {
					fixed++
					if !strings.HasPrefix(fx.Description.Text, "edge-readiness fix: "+res.RuleID) {
						t.Errorf("%s: description %q", res.RuleID, fx.Description.Text)
					}
					for _, ch := range fx.ArtifactChanges {
						if ch.ArtifactLocation.URI != filepath.ToSlash(in) {
							t.Errorf("%s: the change is to %s", res.RuleID, ch.ArtifactLocation.URI)
						}
						for _, r := range ch.Replacements {
							rp := replacement{r.DeletedRegion.CharOffset, r.DeletedRegion.CharLength, ""}
							if r.InsertedContent != nil {
								rp.text = r.InsertedContent.Text
							}
							if !seen[rp] {
								seen[rp] = true
								reps = append(reps, rp)
							}
						}
					}
				}
			}
			if fixed > 0 {
				withFixes++
			}
			if fixed > 0 && log.Runs[0].ColumnKind != "unicodeCodePoints" {
				t.Errorf("columnKind %q", log.Runs[0].ColumnKind)
			}
			want := filepath.Join(t.TempDir(), "fixed.json")
			if code, _, errs := runFix(t, "--manifest", in, "-o", want); code != 0 {
				t.Fatalf("fix: exit %d: %s", code, errs)
			}
			wantData, _ := os.ReadFile(want)
			if fixed == 0 {
				if !bytes.Equal(wantData, input) {
					t.Fatal("SARIF carries no fix but fix changed the file")
				}
				return
			}
			if got := applyReplacements(t, input, reps); got != string(wantData) {
				t.Errorf("SARIF's replacements applied to the input differ from fix's output:\n%s", got)
			}
		})
	}
	if withFixes < 5 {
		t.Errorf("only %d of the manifests carry fixes in SARIF", withFixes)
	}
}

// applyReplacements applies non-overlapping replacements counted in code points.
func applyReplacements(t *testing.T, input []byte, reps []replacement) string {
	t.Helper()
	sort.Slice(reps, func(i, j int) bool { return reps[i].off < reps[j].off })
	runes := []rune(string(input))
	var b strings.Builder
	at := 0
	for _, r := range reps {
		if r.off < at || r.off+r.n > len(runes) {
			t.Fatalf("replacements overlap or run past the file: %+v", r)
		}
		b.WriteString(string(runes[at:r.off]))
		b.WriteString(r.text)
		at = r.off + r.n
	}
	b.WriteString(string(runes[at:]))
	return b.String()
}
