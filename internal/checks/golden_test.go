package checks_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
)

// The -update flag is shared with the package's own tests (catalogdoc_test.go
// defines it there, and package checks is initialized before checks_test);
// it is defined here only when they do not.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite generated files (docs, golden outputs)")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestGolden runs the whole catalog on the good and the bad device and
// compares the findings with testdata/golden. After a deliberate change, run
// `go test ./internal/checks/ -run TestGolden -update` and review the diff:
// every message must make sense to an operator who has not read the code.
func TestGolden(t *testing.T) {
	for _, name := range []string{"good-device", "bad-device"} {
		t.Run(name, func(t *testing.T) {
			fs := runAll(loadSnapshot(t, name+".json"), decodePolicy(t, ""))
			got, err := json.MarshalIndent(fs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if updating() {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("findings differ from %s (run with -update, then review the diff):\n%s", path, firstDiff(want, got))
			}
		})
	}
}

// firstDiff shows the first differing line with a little context.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}

// TestGoodDevice: on the good device nothing counts against readiness and
// every check passes, but for the constrained-device check, which does not apply.
func TestGoodDevice(t *testing.T) {
	fs := runAll(goodDevice(t), decodePolicy(t, ""))
	for _, f := range fs {
		switch {
		case f.ID == "edgehub-optimize-for-performance":
			if f.Status != checks.Skip {
				t.Errorf("%s: %s %q, want skip", f.ID, f.Status, f.Message)
			}
		case f.Status != checks.Pass:
			t.Errorf("%s %s%s: %s %q, want pass", f.ID, f.Module, f.Subject, f.Status, f.Message)
		}
	}
	for _, c := range checks.All() {
		if len(byID(fs, c.ID)) == 0 {
			t.Errorf("%s: no finding", c.ID)
		}
	}
}

// TestBadDevice: every check of the catalog finds something on the bad device.
func TestBadDevice(t *testing.T) {
	fs := runAll(loadSnapshot(t, "bad-device.json"), decodePolicy(t, ""))
	for _, c := range checks.All() {
		counted := false
		for _, f := range byID(fs, c.ID) {
			counted = counted || (f.Status == checks.Fail && f.Counts())
		}
		if !counted {
			t.Errorf("%s: nothing fails on the bad device:\n%s", c.ID, dump(byID(fs, c.ID)))
		}
	}
}
