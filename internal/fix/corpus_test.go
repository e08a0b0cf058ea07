package fix_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/fix"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// corpusPolicy is the default policy: its lifecycle table says 1.5 left
// servicing on 2026-11-10 and 1.6 is serviced through 2028-11-14.
const corpusPolicy = `{}`

// placeholderRE finds the placeholders a fix must keep.
var placeholderRE = regexp.MustCompile(`\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|#\{[^}]*\}#|\{\{[^}]*\}\}|<[A-Za-z_][^<>"]*>`)

// TestCorpus fixes the 36 public manifests of testdata/manifests: every
// fixed manifest reads back, passes every check whose fix was applied,
// gains no failing finding, keeps every placeholder, carries a patch and
// changes that reproduce it, and is unchanged by a second fix. -v prints
// the figures: fixes applied per check, findings left unfixed per reason.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("../../testdata/manifests/*.json")
	if err != nil || len(files) < 36 {
		t.Fatalf("want the 36 manifests of testdata/manifests, found %d (%v)", len(files), err)
	}
	pol, err := policy.Decode([]byte(corpusPolicy), checks.Specs(checks.All()))
	if err != nil {
		t.Fatal(err)
	}
	opts := fix.Options{Policy: pol, Self: "readiness", Now: now}
	fixedBy, left := map[string]int{}, map[fix.Reason]int{}
	unreadable, changed, schemaValid := 0, 0, 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			input, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := fix.Run(input, file, opts)
			if _, perr := manifest.Parse(input, file, manifest.Options{}); perr != nil {
				if err == nil {
					t.Fatalf("fix read a manifest check --manifest refuses (%v)", perr)
				}
				unreadable++
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed() {
				changed++
			}
			out, err := manifest.Parse(res.Output, file, manifest.Options{})
			if err != nil {
				t.Fatalf("the fixed manifest does not read: %v", err)
			}
			after := map[string]checks.Finding{}
			for _, f := range checks.Run(checks.All(), checks.Input{Snap: manifest.Snapshot(out, now()), Self: "readiness"}, pol) {
				after[f.Key()] = f
			}
			before := map[string]bool{}
			for _, it := range res.Items {
				before[it.Finding.Key()] = true
				if it.Fixed {
					fixedBy[it.Finding.ID]++
					if f := after[it.Finding.Key()]; f.Status == checks.Fail || f.Status == checks.Error {
						t.Errorf("%s of %s was fixed but still fails: %s", it.Finding.ID, it.Finding.Module, f.Message)
					}
				} else {
					left[it.Reason]++
				}
			}
			for k, f := range after {
				if (f.Status == checks.Fail || f.Status == checks.Error) && !before[k] {
					t.Errorf("the fix made %s of %s fail: %s", f.ID, f.Module, f.Message)
				}
			}
			for _, ph := range placeholderRE.FindAllString(string(input), -1) {
				if strings.Count(string(res.Output), ph) < strings.Count(string(input), ph) {
					t.Errorf("the placeholder %s is lost", ph)
				}
			}
			checkInvariants(t, input, res, opts)
			if checkSchemas(t, input, res.Output) {
				schemaValid++
			}
		})
	}
	var byCheck []string
	for id, n := range fixedBy {
		byCheck = append(byCheck, id+" "+strconv.Itoa(n))
	}
	sort.Strings(byCheck)
	t.Logf("%d manifests, %d unreadable (as check --manifest), %d changed, %d valid against the az CLI's schemas before and after; fixes applied per check: %s; left unfixed: %d owner's decision, %d placeholder",
		len(files), unreadable, changed, schemaValid, strings.Join(byCheck, ", "), left[fix.Decision], left[fix.Placeholder])
	if schemaValid < 10 {
		t.Errorf("only %d manifests passed the az CLI's schemas: the schema check is not exercised", schemaValid)
	}
	if len(fixedBy) < 6 {
		t.Errorf("the corpus exercises %d fixes, want at least 6", len(fixedBy))
	}
}

// azSchemas compiles the az CLI's bundled edgeAgent and edgeHub schemas
// (testdata/schemas, from Azure/azure-iot-cli-extension azext_iot/assets),
// by file name.
var azSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	files, err := filepath.Glob("../../testdata/schemas/azure-iot-edge*-deployment-*.json")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no schemas in testdata/schemas: %w", err)
	}
	c := jsonschema.NewCompiler()
	out := map[string]*jsonschema.Schema{}
	for _, f := range files {
		s, err := c.Compile(f)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(f)] = s
	}
	return out, nil
})

// azValidate validates a deployment as `az iot edge set-modules` does
// (_validate_payload_schema): $edgeAgent and $edgeHub of modulesContent,
// each against the schema of its properties.desired.schemaVersion when
// the CLI has one; the sections it would not validate are left out.
// It returns what it validated and the first error.
func azValidate(t *testing.T, data []byte) (checked []string, err error) {
	t.Helper()
	schemas, serr := azSchemas()
	if serr != nil {
		t.Fatal(serr)
	}
	var doc struct {
		ModulesContent map[string]map[string]any `json:"modulesContent"`
	}
	if uerr := json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &doc); uerr != nil {
		return nil, nil //nolint:nilerr // a file that is no JSON is not validated, as az would refuse it before
	}
	for sys, name := range map[string]string{"$edgeAgent": "edgeagent", "$edgeHub": "edgehub"} {
		desired, _ := doc.ModulesContent[sys]["properties.desired"].(map[string]any)
		ver, _ := desired["schemaVersion"].(string)
		s := schemas[fmt.Sprintf("azure-iot-%s-deployment-%s.json", name, ver)]
		if s == nil {
			continue
		}
		raw, _ := json.Marshal(map[string]any{sys: doc.ModulesContent[sys]})
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		checked = append(checked, sys+" "+ver)
		if verr := s.Validate(inst); verr != nil && err == nil {
			err = fmt.Errorf("%s: %w", sys, verr)
		}
	}
	sort.Strings(checked)
	return checked, err
}

// checkSchemas: a manifest that passed the az CLI's schemas still does.
func checkSchemas(t *testing.T, input, output []byte) bool {
	t.Helper()
	checked, err := azValidate(t, input)
	if err != nil || len(checked) == 0 {
		return false
	}
	if _, err := azValidate(t, output); err != nil {
		t.Errorf("the input passed the az CLI's schemas (%v), the fixed manifest does not: %v", checked, err)
	}
	return true
}
