package fix

import (
	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// fixModuleUpdateMode sets edgeAgent's ModuleUpdateMode to WaitForAllPulls
// when it is unset; a mode the owner chose stays.
func fixModuleUpdateMode(c *Context, f *checks.Finding) Outcome {
	mod := c.Module(facts.EdgeAgent)
	if mod == nil {
		return decision("no edgeAgent in the manifest")
	}
	if v := envVar(mod, "ModuleUpdateMode"); v != nil && v.Raw != "" {
		if hasVariable(v.Raw) {
			return placeholder("ModuleUpdateMode is a variable (%s)", v.Raw)
		}
		return decision("ModuleUpdateMode is set to %s: the owner chose it", v.Raw)
	}
	p, o := c.plan(facts.EdgeAgent)
	if o != nil {
		return *o
	}
	name := "ModuleUpdateMode"
	if v := envVar(mod, name); v != nil {
		name = v.Name
	}
	p.setEnv(name, "WaitForAllPulls")
	return fixed("ModuleUpdateMode=WaitForAllPulls").touching(facts.SettingEnv)
}
