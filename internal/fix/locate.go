package fix

import (
	"strings"

	"github.com/tidwall/gjson"
)

// locateModules finds each module's object in the file, by the keys that
// lead to it as written: modulesContent (or content.modulesContent, or the
// legacy moduleContent), $edgeAgent, then "properties" and "desired" or a
// layered key that joins them with dots ("properties.desired",
// "properties.desired.modules.filter"), then systemModules or modules and
// the module's name. A module whose keys go deeper in one dotted key
// ("properties.desired.modules.filter.settings") is not located: it is not
// fixed.
func locateModules(d *doc) map[string][]string {
	out := map[string][]string{}
	for _, content := range [][]string{{"modulesContent"}, {"moduleContent"}, {"content", "modulesContent"}, {"content", "moduleContent"}} {
		if !d.get(content).IsObject() {
			continue
		}
		entry := append(append([]string(nil), content...), "$edgeAgent")
		agent := d.get(entry)
		if !agent.IsObject() {
			return out
		}
		agent.ForEach(func(k, v gjson.Result) bool {
			parts := strings.Split(k.Str, ".")
			if parts[0] != "properties" || !v.IsObject() {
				return true
			}
			walk(d, append(append([]string(nil), entry...), k.Str), parts[1:], v, out)
			return true
		})
		return out
	}
	return out
}

// walk descends from a value whose place in the desired properties is
// logical (["desired", "modules"], ...) and whose keys in the file are keys.
func walk(d *doc, keys, logical []string, v gjson.Result, out map[string][]string) {
	switch len(logical) {
	case 3:
		if strings.EqualFold(logical[0], "desired") && (strings.EqualFold(logical[1], "modules") || strings.EqualFold(logical[1], "systemModules")) && v.IsObject() {
			out[logical[2]] = keys
		}
		return
	case 0, 1, 2:
		if len(logical) >= 1 && !strings.EqualFold(logical[0], "desired") {
			return
		}
		if len(logical) == 2 && !strings.EqualFold(logical[1], "modules") && !strings.EqualFold(logical[1], "systemModules") {
			return
		}
		v.ForEach(func(k, child gjson.Result) bool {
			if child.IsObject() {
				walk(d, append(append([]string(nil), keys...), k.Str), append(append([]string(nil), logical...), k.Str), child, out)
			}
			return true
		})
	}
}
