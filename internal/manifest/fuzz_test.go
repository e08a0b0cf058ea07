package manifest

import (
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// FuzzParse: whatever the bytes, reading a manifest and turning it into
// facts never panics; an error names a place or says what the file is not;
// a manifest read has named modules at real lines. Seeds: testdata/fuzz/FuzzParse
// (real manifests of testdata/manifests) and the cases below.
func FuzzParse(f *testing.F) {
	f.Add([]byte(template))
	f.Add([]byte("\ufeff" + `{"modulesContent":{"$edgeAgent":{"properties.desired.modules.m":{"settings":{"image":"${MODULES.m}","createOptions01":"x"}}}}}`))
	f.Add([]byte(`{"content":{"moduleContent":{"$edgeHub":{"properties.desired":{"routes":{"r":{"route":"FROM /* INTO $upstream"}}}}}}}`))
	f.Add([]byte(`{"modulesContent":{"$edgeAgent":{"properties":{"desired":{"modules":{"m":{"settings":{"createOptions":{"HostConfig":{"Memory":$M}}}}}}}}}}`))
	f.Add([]byte(`{"modulesContent":{"$edgeAgent":{"properties.desired":{"modules":{"m":{"env":{"A":"b"}}}}}}}`))
	vars := Vars{"M": "1", "EDGE_VERSION": "1.5.21"}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "fuzz.json", Options{Vars: vars})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, mod := range m.Modules {
			if mod.Line < 1 || mod.Line > lines {
				t.Fatalf("module %q at line %d of %d", mod.Name, mod.Line, lines)
			}
		}
		for _, r := range m.Routes {
			if r.Line < 1 || r.Line > lines {
				t.Fatalf("route %q at line %d of %d", r.Name, r.Line, lines)
			}
		}
		s := Snapshot(m, time.Unix(0, 0))
		if len(s.Containers) != len(m.Modules) || s.Fact(facts.FactManifest).Status != facts.StatusOK {
			t.Fatalf("%d containers for %d modules", len(s.Containers), len(m.Modules))
		}
	})
}
