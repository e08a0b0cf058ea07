package checks

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// unresolvedSkips turns the findings a check decided from a module setting
// that a deployment manifest leaves as a variable into skips that name the
// variable: the value the device would get is unknown. A finding about one
// module looks at that module; a device-wide one at every module the
// check's Reads cover.
func (c *Check) unresolvedSkips(fs []Finding, s *facts.Snapshot) []Finding {
	left := false
	for i := range s.Containers {
		left = left || len(s.Containers[i].Unresolved) > 0
	}
	if !left {
		return fs
	}
	for i := range fs {
		f := &fs[i]
		if f.Status == Skip {
			continue
		}
		m, u := c.unresolvedFor(s, f.Module)
		if u == nil {
			continue
		}
		f.Status = Skip
		f.Message = fmt.Sprintf("cannot decide for %s from the manifest: its %s holds %s, which is not resolved (%s)",
			m, u.Field, u.Var, ResolveHint(u.Var))
		f.Evidence = map[string]any{"module": m, "field": u.Field, "unresolved": u.Var}
		f.Unresolved = []string{u.Var}
	}
	return fs
}

// unresolvedFor returns the first module (of module, or of every module
// when it is "") with a variable left in a setting the check reads.
func (c *Check) unresolvedFor(s *facts.Snapshot, module string) (string, *facts.Unresolved) {
	for i := range s.Containers {
		ct := &s.Containers[i]
		if len(ct.Unresolved) == 0 || (module != "" && ct.Name != module) {
			continue
		}
		var settings []facts.Setting
		for _, r := range c.Reads {
			if mod, set := r.Split(); mod == "" || mod == ct.Name {
				settings = append(settings, set)
			}
		}
		if u := ct.UnresolvedIn(settings...); u != nil {
			return ct.Name, u
		}
	}
	return "", nil
}

// ResolveHint says how to give a variable its value.
func ResolveHint(v string) string {
	switch {
	case strings.HasPrefix(v, "${MODULES."):
		return "give --modules-dir, the folder of the modules' module.json"
	case strings.HasPrefix(v, "${MODULEDIR<"):
		return "no module.json resolves it for the platform"
	}
	return "set it in the environment or in the file given with --env-file"
}

// locate points the findings of a run on a deployment manifest at the
// manifest: at the line a result names, else at its module's key, else at
// the file (for SARIF).
func locate(fs []Finding, d *facts.Deployment) {
	uri := filepath.ToSlash(d.Path)
	for i := range fs {
		f := &fs[i]
		line := 0
		if f.Location != nil {
			line = f.Location.Line
		}
		if line == 0 && f.Module != "" {
			for _, m := range d.Modules {
				if m.Name == f.Module {
					line = m.Line
					break
				}
			}
		}
		f.Location = &Location{URI: uri, Line: line}
	}
}
