package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// want is what a finding must be.
type want struct {
	status   checks.Status
	severity policy.Severity // empty: the check's default
	contains []string        // substrings of the message
	// or lists other acceptable outcomes, for facts the tests do not
	// control (the engine's other images).
	or []want
}

// key names a finding: check id and module (or subject for device-wide ones).
type key struct{ id, module string }

func (k key) String() string { return k.id + "/" + k.module }

// perModule lists the checks that give one finding per module.
var perModule = []string{"no-debug-images", "modules-running", "image-tags-pinned", "container-engine-logrotate",
	"module-resource-limits"}

// systemOnly lists the checks that give one finding for each of edgeAgent and edgeHub.
var systemOnly = map[string][]string{
	"runtime-version-supported":            {"edgeAgent", "edgeHub"},
	"edge-agent-storage-mounted-from-host": {"edgeAgent"},
	"edge-hub-storage-mounted-from-host":   {"edgeHub"},
	"edgehub-optimize-for-performance":     {"edgeHub"},
	"metrics-endpoints":                    {"edgeHub", "edgeAgent"},
}

// offline lists the checks a simulated device cannot pass, whatever its
// configuration: it has no Edge CA (edgeHub is busybox, without TLS) and no
// network beyond the machine (testenv isolates DNS and the containers'
// network on purpose).
var offline = map[string]want{
	"production-certificates": {status: checks.Error, contains: []string{"cannot read the Edge CA"}},
	"edge-ca-expiry":          {status: checks.Error, contains: []string{"cannot read the Edge CA"}},
	"upstream-connectivity":   {status: checks.Fail, contains: []string{"cannot be resolved"}},
	"registry-connectivity":   {status: checks.Fail, contains: []string{"cannot be resolved"}},
	"clock-skew":              {status: checks.Error, contains: []string{"cannot read the reference time"}},
}

// undecided lists the checks a simulated device in its first cycle leaves
// undecided, saying why: a message rate needs two cycles, the daemon
// (aziot-edged, or the simulated page) does not report how the device was
// provisioned, and no metrics-collector runs.
var undecided = map[string]want{
	"store-and-forward-capacity":  {status: checks.Skip, contains: []string{"needs two cycles"}, or: []want{{status: checks.Pass}}},
	"offline-boot":                {status: checks.Skip, contains: []string{"does not report how the device was provisioned"}},
	"metrics-collector-ingestion": {status: checks.Skip, contains: []string{"no metrics-collector module runs"}},
}

// baseline is what every finding of a correctly configured simulated device
// is on this engine (Debian's docker.io, which is not Moby): everything
// passes, except
//   - container-engine-moby, which fails naming the engine's version;
//   - edgehub-optimize-for-performance, which skips: the host is not constrained;
//   - the offline checks (certificates, connectivity, clock), which a
//     simulated device cannot pass;
//   - runtime-images-private-registry and observability-module (info): the
//     device runs the runtime from mcr.microsoft.com and ships no metrics;
//   - image-garbage-collection, which depends on the engine's other images;
//   - the checks a first cycle leaves undecided (see undecided), which skip.
func baseline(engineVersion string) func(f checks.Finding) want {
	return func(f checks.Finding) want {
		if w, ok := offline[f.ID]; ok {
			return w
		}
		if w, ok := undecided[f.ID]; ok {
			return w
		}
		switch f.ID {
		case "container-engine-moby":
			return want{status: checks.Fail, severity: policy.Critical,
				contains: []string{engineVersion, "not Microsoft's Moby"}}
		case "edgehub-optimize-for-performance":
			return want{status: checks.Skip, contains: []string{"not constrained"}}
		case "runtime-images-private-registry":
			return want{status: checks.Fail, severity: policy.Info, contains: []string{"comes from mcr.microsoft.com"}}
		case "observability-module":
			return want{status: checks.Fail, severity: policy.Info, contains: []string{"no module ships logs or metrics"}}
		case "image-garbage-collection":
			return want{status: checks.Pass, or: []want{{status: checks.Fail, contains: []string{"could be reclaimed"}}}}
		}
		return want{status: checks.Pass}
	}
}

// simulatedPolicy turns off what a simulated device cannot pass besides the
// engine (see offline) and tolerates the engine's other images, so that a
// correctly configured device is ready when container-engine-moby is off too.
func simulatedPolicy(extra string) string {
	var b strings.Builder
	b.WriteString(`{"schemaVersion": "1", "checks": {`)
	b.WriteString(`"image-garbage-collection": {"params": {"maxReclaimableBytes": 1099511627776}}`)
	for _, id := range []string{"production-certificates", "edge-ca-expiry", "upstream-connectivity", "registry-connectivity", "clock-skew"} {
		fmt.Fprintf(&b, `, %q: {"severity": "off"}`, id)
	}
	if extra != "" {
		b.WriteString(", " + extra)
	}
	b.WriteString("}}")
	return b.String()
}

// expectAll asserts every finding of rep: those named in special as said
// there (each must exist), the others as base says. modules are the device's
// module names, each of which must have its per-module findings.
func expectAll(t *testing.T, rep *report.Report, modules []string, base func(checks.Finding) want, special map[key]want) {
	t.Helper()
	defaults := map[string]checks.Meta{}
	for _, c := range checks.All() {
		defaults[c.ID] = c.Meta
	}
	seen := map[key]bool{}
	ids := map[string]bool{}
	for _, f := range rep.Findings {
		k := key{f.ID, f.Module}
		if f.Module == "" {
			k.module = f.Subject
		}
		ids[f.ID] = true
		if seen[k] {
			t.Errorf("two findings for %s", k)
		}
		seen[k] = true
		w, ok := special[k]
		if !ok {
			w = base(f)
			if defaults[f.ID].Section == checks.SecManifest { // decided from a deployment manifest, never on a device
				w = want{status: checks.Skip, contains: []string{facts.NotOnDevice}}
			}
		}
		var problems []string
		for _, alt := range append([]want{w}, w.or...) {
			if problems = mismatch(f, alt, defaults[f.ID].Severity); len(problems) == 0 {
				break
			}
		}
		for _, p := range problems {
			t.Errorf("%s: %s", k, p)
		}
	}
	for k := range special {
		if !seen[k] {
			t.Errorf("no finding for %s", k)
		}
	}
	for id := range defaults {
		if !ids[id] {
			t.Errorf("no finding of check %s", id)
		}
	}
	for _, id := range perModule {
		for _, m := range modules {
			if !seen[key{id, m}] {
				t.Errorf("no finding for %s/%s", id, m)
			}
		}
	}
	for id, mods := range systemOnly {
		for _, m := range mods {
			if !seen[key{id, m}] {
				t.Errorf("no finding for %s/%s", id, m)
			}
		}
	}
	if t.Failed() {
		t.Logf("findings:\n%s", dump(rep))
	}
}

// mismatch says how f differs from w (nothing when it matches).
func mismatch(f checks.Finding, w want, defaultSeverity policy.Severity) []string {
	var out []string
	sev := w.severity
	if sev == "" {
		sev = defaultSeverity
	}
	if f.Status != w.status || f.Severity != sev {
		out = append(out, fmt.Sprintf("%s/%s (%s), want %s/%s", f.Status, f.Severity, f.Message, w.status, sev))
	}
	for _, s := range w.contains {
		if !strings.Contains(f.Message, s) {
			out = append(out, fmt.Sprintf("message %q does not name %q", f.Message, s))
		}
	}
	return out
}

// engineVersion returns the engine's server version.
func engineVersion(t *testing.T) string {
	t.Helper()
	cli := testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// engineMemory returns the engine's memory.
func engineMemory(t *testing.T) int64 {
	t.Helper()
	cli := testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := cli.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.MemTotal
}

// moduleNames lists the device's module names.
func moduleNames(d *testenv.Device) []string {
	var out []string
	for _, m := range d.All() {
		out = append(out, m.Name)
	}
	return out
}

// inventoryNames lists the report's modules.
func inventoryNames(rep *report.Report) []string {
	var out []string
	for _, m := range rep.Inventory.Modules {
		out = append(out, m.Name)
	}
	return out
}
