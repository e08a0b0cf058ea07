package checks_test

import (
	"fmt"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// fiftyModules is the good device grown to 50 modules: edgeAgent, edgeHub,
// filter, sensor and 46 copies of filter, each with its own volume and
// expected by edgeAgent.
func fiftyModules(tb testing.TB) *facts.Snapshot {
	s := goodDevice(tb)
	base := *mod(s, "filter")
	for i := len(s.Modules()); i < 50; i++ {
		c := base
		c.Name = fmt.Sprintf("module%02d", i)
		c.ID = fmt.Sprintf("%064x", i)
		c.Labels = map[string]string{}
		for k, v := range base.Labels {
			c.Labels[k] = v
		}
		vol := c.Name + "-state"
		c.Mounts = []facts.Mount{workloadSocket(c.Name), {Type: "volume", Name: vol, Destination: "/app/state", RW: true}}
		s.Containers = append(s.Containers, c)
		s.Volumes = append(s.Volumes, facts.Volume{Name: vol, Driver: "local", Size: mib, RefCount: 1})
		addSample(s, facts.EdgeAgent, "edgeAgent_total_time_expected_running_seconds",
			map[string]string{"module_name": c.Name, "ms_telemetry": "False"}, 1000)
		addSample(s, facts.EdgeAgent, "edgeAgent_used_memory_bytes",
			map[string]string{"module_name": c.Name, "ms_telemetry": "False"}, 41943040)
	}
	if n := len(s.Modules()); n != 50 {
		tb.Fatalf("built %d modules, want 50", n)
	}
	return s
}

func TestFiftyModules(t *testing.T) {
	fs := runAll(fiftyModules(t), decodePolicy(t, ""))
	perModule := map[string]int{}
	for _, f := range fs {
		// In its first cycle a rate cannot be known; aziot-edged does not report provisioning.
		firstCycleSkip := f.ID == "store-and-forward-capacity" || f.ID == "offline-boot"
		if f.Status != checks.Pass && f.ID != "edgehub-optimize-for-performance" && f.Section != checks.SecManifest && !firstCycleSkip {
			t.Errorf("%s %s: %s %q", f.ID, f.Module, f.Status, f.Message)
		}
		if f.Module != "" {
			perModule[f.ID]++
		}
	}
	for _, id := range []string{"no-debug-images", "modules-running", "image-tags-pinned", "container-engine-logrotate", "module-resource-limits"} {
		if perModule[id] != 50 {
			t.Errorf("%s: %d module findings, want 50", id, perModule[id])
		}
	}
}

func BenchmarkRunAll(b *testing.B) {
	s := fiftyModules(b)
	pol := decodePolicy(b, "")
	all := checks.All()
	in := checks.Input{Snap: s, Self: "edgeReadiness"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if fs := checks.Run(all, in, pol); len(fs) == 0 {
			b.Fatal("no findings")
		}
	}
}
