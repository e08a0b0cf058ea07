package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// TestHardeningOnRealEngine creates modules that break the security checks.
// Where a privileged or host-namespace container may not start here, one
// created with the flags and not started is inspected like any other.
func TestHardeningOnRealEngine(t *testing.T) {
	testenv.RequireDocker(t)
	d := testenv.NewDevice(t)
	created := func(name string, f func(m *testenv.Module)) {
		m := testenv.CustomModule(name, "myregistry.azurecr.io/"+name+":1.0.0")
		m.NoStart = true
		f(m)
		d.Modules = append(d.Modules, m)
	}
	created("priv", func(m *testenv.Module) { m.Privileged = true })
	created("sysadmin", func(m *testenv.Module) { m.CapAdd = []string{"SYS_ADMIN"} })
	created("hostpid", func(m *testenv.Module) { m.PidMode = "host"; m.IpcMode = "host" })
	created("sockuser", func(m *testenv.Module) { m.Binds = []string{hostSocket(t) + ":/var/run/docker.sock"} })
	created("etcrw", func(m *testenv.Module) { m.Binds = []string{"/etc:/host-etc"} })
	created("mqttplain", func(m *testenv.Module) { m.Ports = []string{"1883/tcp"} })
	created("hubimage", func(m *testenv.Module) { m.Image = "someone/tool:2.0.0" })
	d.Start(t)

	rep := jsonReport(t, run(t, "check", "--format", "json", "--self", "readiness"))
	cases := []struct {
		id, module, status, contains string
	}{
		{"privileged-containers", "priv", "fail", "runs privileged"},
		{"privileged-containers", "sysadmin", "fail", "SYS_ADMIN"},
		{"privileged-containers", "filter", "pass", "not privileged"},
		{"host-namespaces", "hostpid", "fail", "shares the host's PID, IPC namespace"},
		{"host-namespaces", "sensor", "pass", "shares no host namespace"},
		{"docker-socket-mounts", "sockuser", "fail", "mounts the engine socket"},
		{"docker-socket-mounts", "filter", "pass", "does not mount the engine socket"},
		{"sensitive-host-mounts", "etcrw", "fail", "binds /etc read-write"},
		{"sensitive-host-mounts", "edgeHub", "pass", "binds no sensitive host directory"},
		{"exposed-ports", "mqttplain", "fail", "plain MQTT 1883/tcp"},
		{"exposed-ports", "edgeHub", "pass", "publishes no port on all interfaces"},
		{"private-registry", "hubimage", "fail", "comes from Docker Hub"},
		{"private-registry", "filter", "pass", "comes from myregistry.azurecr.io"},
		{"modules-running", "priv", "fail", "is not running: status created"},
	}
	for _, c := range cases {
		f := one(t, rep, c.id, c.module)
		if string(f.Status) != c.status || !strings.Contains(f.Message, c.contains) {
			t.Errorf("%s/%s = %s %q, want %s containing %q", c.id, c.module, f.Status, f.Message, c.status, c.contains)
		}
	}
}

// TestPolicyFeaturesEndToEnd runs check --policy with the development
// profile, an exemption that applies, one that expired, and a severity
// override, on a real engine.
func TestPolicyFeaturesEndToEnd(t *testing.T) {
	testenv.RequireDocker(t)
	d := testenv.NewDevice(t)
	d.Module("filter").Memory = 0 // module-resource-limits fails for filter
	d.Module("sensor").Memory = 0 // and for sensor
	d.Start(t)

	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	nextYear := time.Now().UTC().AddDate(1, 0, 0).Format("2006-01-02")
	pol := writeFile(t, "policy.json", `{
  "profile": "development",
  "checks": {"container-engine-moby": {"severity": "warning"}, "module-resource-limits": {"severity": "critical"}},
  "exemptions": {
    "filter-vendor": {"checks": ["module-resource-limits"], "modules": ["fil*"], "reason": "vendor image sized by the vendor", "expires": "`+nextYear+`"},
    "sensor-old": {"checks": ["module-resource-limits"], "modules": ["sensor"], "reason": "was being fixed", "expires": "`+yesterday+`"}
  }
}`)
	r := run(t, "check", "--format", "json", "--policy", pol, "--no-probes")
	rep := jsonReport(t, r)

	// Development profile: a helpful check reports as info.
	if f := one(t, rep, "unused-volumes", ""); f.Severity != "info" {
		t.Errorf("unused-volumes severity under development = %s, want info", f.Severity)
	}
	// Severity override: moby is a warning now, not critical.
	if f := one(t, rep, "container-engine-moby", ""); f.Severity != "warning" || f.Status != checks.Fail {
		t.Errorf("container-engine-moby = %s %s, want fail at warning", f.Status, f.Severity)
	}
	// The explicit critical beats the profile, the live exemption applies, the expired one does not.
	if f := one(t, rep, "module-resource-limits", "filter"); f.Status != checks.Skip || f.Exemption != "filter-vendor" ||
		!strings.Contains(f.Message, "vendor image sized by the vendor") || f.Evidence["statusWithoutExemption"] != "fail" {
		t.Errorf("module-resource-limits/filter = %+v, want skipped by filter-vendor", f)
	}
	if f := one(t, rep, "module-resource-limits", "sensor"); f.Status != checks.Fail || f.Severity != "critical" ||
		!strings.Contains(f.Message, "exemption no longer applies: sensor-old (expired") {
		t.Errorf("module-resource-limits/sensor = %s %s %q, want a critical failure saying the exemption expired", f.Status, f.Severity, f.Message)
	}
	if rep.Summary.Status != "notReady" || r.code != 1 {
		t.Errorf("status %s exit %d, want notReady and 1 (sensor has no memory limit, critical by policy)", rep.Summary.Status, r.code)
	}
	if rep.Policy.Source != "file" || rep.Policy.Profile != "development" || rep.Policy.Exemptions != 2 {
		t.Errorf("policy info = %+v", rep.Policy)
	}
}
