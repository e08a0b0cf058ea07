package fix

import (
	"path"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// fixStorage gives edgeAgent or edgeHub a host directory for its state, as
// Microsoft's "access host storage" page shows: the StorageFolder variable
// at /tmp/<module> and a bind /srv/<module>:/tmp/<module>; a storageFolder
// already set gets the bind at its path. IoT Edge 1.4 and later set the
// host directory's owner themselves.
func fixStorage(c *Context, f *checks.Finding) Outcome {
	mod := c.Module(f.Module)
	if mod == nil {
		return decision("no module %s in the manifest", f.Module)
	}
	folder := "/tmp/" + f.Module
	setEnv := true
	if v := envVar(mod, "storageFolder"); v != nil && v.Raw != "" {
		if hasVariable(v.Raw) {
			return placeholder("storageFolder is a variable (%s): bind a host directory at its value", v.Raw)
		}
		if !path.IsAbs(v.Raw) {
			return decision("storageFolder %q is not an absolute path", v.Raw)
		}
		folder, setEnv = path.Clean(v.Raw), false
	}
	p, o := c.plan(f.Module)
	if o != nil {
		return *o
	}
	co, err := p.createOptions(c.file, c.run.majorityKind)
	if err != nil {
		return notEditable(err)
	}
	bind := "/srv/" + f.Module + ":" + folder
	if out := appendBind(co, bind); out != nil {
		return *out
	}
	if setEnv {
		name := "StorageFolder"
		if v := envVar(mod, "storageFolder"); v != nil {
			name = v.Name
		}
		p.setEnv(name, folder)
		return fixed("%s=%s and bind %s (create /srv/%s on the host)", name, folder, bind, f.Module).touching(facts.SettingEnv, facts.SettingCreateOptions)
	}
	return fixed("bind %s for storageFolder %s (create /srv/%s on the host)", bind, folder, f.Module).touching(facts.SettingCreateOptions)
}

// appendBind adds a bind to HostConfig.Binds.
func appendBind(co *createOptions, bind string) *Outcome {
	binds := co.d.resolve([]string{"HostConfig", "Binds"})
	switch v := co.d.get(binds); {
	case len(binds) == 2 && v.IsArray():
		if err := co.d.appendElem(binds, bind); err != nil {
			o := decision("%v", err)
			return &o
		}
	case len(binds) == 2 && strings.Contains(v.Raw, "$"):
		o := placeholder("HostConfig.Binds is a variable (%s)", v.Raw)
		return &o
	case len(binds) == 2:
		o := decision("HostConfig.Binds is not a list (see create-options-valid)")
		return &o
	default:
		if err := co.d.set([]string{"HostConfig", "Binds"}, []string{bind}); err != nil {
			o := decision("%v", err)
			return &o
		}
	}
	co.dirty = true
	return nil
}
