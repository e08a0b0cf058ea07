package fix

import (
	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// Rotation the fix gives json-file logs: the values of Microsoft's
// "Set up default logging driver" example.
const (
	rotateMaxSize = "10m"
	rotateMaxFile = "3"
)

// fixLogRotation adds the missing max-size and max-file to a module that
// logs with json-file; another driver (or none, the engine's default) is
// the owner's choice.
func fixLogRotation(c *Context, f *checks.Finding) Outcome {
	ct := c.Container(f.Module)
	if ct == nil {
		return decision("no module %s in the manifest", f.Module)
	}
	if ct.LogConfig.Type != "json-file" {
		return decision("which log driver %s uses is the owner's choice (local, or json-file with max-size and max-file)", f.Module)
	}
	p, o := c.plan(f.Module)
	if o != nil {
		return *o
	}
	co, err := p.createOptions(c.file, c.run.majorityKind)
	if err != nil {
		return notEditable(err)
	}
	lc := co.d.resolve([]string{"HostConfig", "LogConfig"})
	if len(lc) != 2 {
		return decision("HostConfig.LogConfig is not where the fix can write it")
	}
	cfg := co.d.resolve(append(append([]string(nil), lc...), "Config"))
	if len(cfg) == 3 && !co.d.get(cfg).IsObject() {
		return placeholder("LogConfig.Config is not an object (%s)", co.d.get(cfg).Raw)
	}
	var added []string
	for _, o := range []struct{ key, value string }{{"max-size", rotateMaxSize}, {"max-file", rotateMaxFile}} {
		if ct.LogConfig.Config[o.key] != "" {
			continue
		}
		keys := append(append([]string(nil), lc...), "Config", o.key)
		if err := co.d.set(keys, o.value); err != nil {
			return decision("%v", err)
		}
		added = append(added, o.key+" "+o.value)
	}
	co.dirty = true
	return fixed("json-file with %s", joinAnd(added)).touching(facts.SettingCreateOptions)
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " and " + s[len(s)-1]
}
