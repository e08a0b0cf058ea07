package fix

import (
	"fmt"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// fixResourceLimits gives a module without limits the policy's defaults
// (module-resource-limits' fixMemoryBytes and fixNanoCpus), to be sized
// from the module's observed use: the table marks them for review.
func fixResourceLimits(c *Context, f *checks.Finding) Outcome {
	ct := c.Container(f.Module)
	if ct == nil {
		return decision("no module %s in the manifest", f.Module)
	}
	params := c.Params("module-resource-limits")
	mem, cpu := int64(params.Int("fixMemoryBytes")), int64(params.Int("fixNanoCpus"))
	p, o := c.plan(f.Module)
	if o != nil {
		return *o
	}
	co, err := p.createOptions(c.file, c.run.majorityKind)
	if err != nil {
		return notEditable(err)
	}
	var added []string
	if ct.Memory <= 0 && mem > 0 {
		if swap := co.d.resolve([]string{"HostConfig", "MemorySwap"}); len(swap) == 2 {
			return decision("HostConfig.MemorySwap is set: choose a memory limit that fits it")
		}
		if err := co.d.set([]string{"HostConfig", "Memory"}, mem); err != nil {
			return decision("%v", err)
		}
		added = append(added, fmt.Sprintf("Memory %d (%d MiB)", mem, mem>>20))
	}
	if ct.NanoCPUs <= 0 && ct.CPUQuota <= 0 && cpu > 0 {
		if period := co.d.resolve([]string{"HostConfig", "CpuPeriod"}); len(period) == 2 {
			return decision("HostConfig.CpuPeriod is set: choose a CpuQuota for it")
		}
		if err := co.d.set([]string{"HostConfig", "NanoCpus"}, cpu); err != nil {
			return decision("%v", err)
		}
		added = append(added, fmt.Sprintf("NanoCpus %d (%.2f CPU)", cpu, float64(cpu)/1e9))
	}
	if len(added) == 0 {
		return decision("the policy's fixMemoryBytes and fixNanoCpus are 0: no default to give")
	}
	co.dirty = true
	o2 := fixed("%s: a default, size it from the module's use (edgeAgent_used_memory_bytes)", joinAnd(added)).touching(facts.SettingCreateOptions)
	o2.Review = true
	return o2
}
