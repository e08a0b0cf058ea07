package e2e

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// TestCorrectDevice runs `check` on the host against a correctly configured
// device: every finding passes except container-engine-moby (this engine is
// Debian's docker.io), so the device is not ready; with that check off by
// policy, it is ready.
func TestCorrectDevice(t *testing.T) {
	ver := engineVersion(t)
	d := testenv.NewDevice(t)
	d.Start(t)

	r := run(t, "check", "--format", "json")
	rep := jsonReport(t, r)
	expectAll(t, rep, moduleNames(d), baseline(ver), nil)

	// On the host the names edgeHub and edgeAgent do not resolve: the
	// metrics are read from the containers' addresses.
	for _, name := range []string{"edgeHub", "edgeAgent"} {
		f := one(t, rep, "metrics-endpoints", name)
		ep, _ := f.Evidence["endpoint"].(string)
		u, err := url.Parse(ep)
		if err != nil || net.ParseIP(u.Hostname()) == nil || u.Port() != "9600" || u.Path != "/metrics" {
			t.Errorf("metrics-endpoints/%s: endpoint %q is not http://<ip>:9600/metrics", name, ep)
			continue
		}
		ic := d.Inspect(t, name)
		if ip := ic.NetworkSettings.Networks["azure-iot-edge"].IPAddress; u.Hostname() != ip {
			t.Errorf("metrics-endpoints/%s: endpoint %s, want the container's address %s", name, ep, ip)
		}
	}
	disk := findings(rep, "disk-space", "*")
	if len(disk) != 1 || disk[0].Subject != testenv.DefaultDiskName || disk[0].Status != checks.Pass {
		t.Errorf("disk-space findings = %+v, want one passing finding for %s", disk, testenv.DefaultDiskName)
	}
	if want := moduleNames(d); !sameSet(inventoryNames(rep), want) {
		t.Errorf("inventory modules = %v, want %v", inventoryNames(rep), want)
	}
	if rep.Device.RuntimeMode != "host" {
		t.Errorf("runtimeMode = %q, want host", rep.Device.RuntimeMode)
	}
	if rep.Summary.Status != report.NotReady || r.code != 1 {
		t.Errorf("status %s, exit code %d; want notReady, 1", rep.Summary.Status, r.code)
	}

	// With container-engine-moby off, only the checks a simulated device
	// cannot pass (see offline) keep it from being ready.
	pol := writeFile(t, "moby-off.json", `{"schemaVersion": "1", "checks": {"container-engine-moby": {"severity": "off"}}}`)
	r = run(t, "check", "--format", "json", "--policy", pol)
	rep = jsonReport(t, r)
	expectAll(t, rep, moduleNames(d), baseline(ver), map[key]want{
		{"container-engine-moby", ""}: {status: checks.Skip, severity: policy.Off, contains: []string{"disabled by policy"}},
	})
	for _, f := range rep.Findings {
		if _, ok := offline[f.ID]; f.Counts() && !ok && f.ID != "image-garbage-collection" {
			t.Errorf("with container-engine-moby off, %s/%s%s still counts against readiness: %s", f.ID, f.Module, f.Subject, f.Message)
		}
	}

	// With container-engine-moby off, and the checks a simulated device
	// cannot pass (certificates, connectivity, clock) off, it is ready.
	pol = writeFile(t, "policy.json", simulatedPolicy(`"container-engine-moby": {"severity": "off"}`))
	r = run(t, "check", "--format", "json", "--policy", pol)
	rep = jsonReport(t, r)
	special := map[key]want{{"container-engine-moby", ""}: {status: checks.Skip, severity: policy.Off, contains: []string{"disabled by policy"}}}
	for _, f := range rep.Findings {
		if _, ok := offline[f.ID]; ok {
			special[key{f.ID, f.Module + f.Subject}] = want{status: checks.Skip, severity: policy.Off, contains: []string{"disabled by policy"}}
		}
	}
	expectAll(t, rep, moduleNames(d), baseline(ver), special)
	if rep.Summary.Status != report.Ready || r.code != 0 {
		t.Errorf("with container-engine-moby off: status %s, exit code %d; want ready, 0", rep.Summary.Status, r.code)
	}
	if rep.Policy.Source != "file" {
		t.Errorf("policy source = %q, want file", rep.Policy.Source)
	}

	// The table says the same.
	r = run(t, "check", "--format", "table")
	if r.code != 1 || !strings.Contains(string(r.stdout), "container-engine-moby") {
		t.Errorf("check --format table: exit code %d, stdout:\n%s", r.code, r.stdout)
	}
}

// TestMisconfigurations breaks one thing at a time on an otherwise correct
// device: the finding about it fails and names the problem, every other
// finding stays as on a correct device.
func TestMisconfigurations(t *testing.T) {
	ver := engineVersion(t)
	mem := engineMemory(t)
	constrained := fmt.Sprintf(`{"checks": {"edgehub-optimize-for-performance": {"params": {"constrainedMemoryBytes": %d}}}}`, 2*mem)
	type tc struct {
		name    string
		setup   func(d *testenv.Device)
		policy  string
		special map[key]want
		after   func(t *testing.T, d *testenv.Device, rep *report.Report)
	}
	fail := func(contains ...string) want { return want{status: checks.Fail, contains: contains} }
	cases := []tc{
		{
			name: "upstream protocols differ",
			setup: func(d *testenv.Device) {
				d.EdgeAgent.Env["UpstreamProtocol"] = "Mqtt"
				d.EdgeHub.Env["UpstreamProtocol"] = "Amqp"
			},
			special: map[key]want{{"upstream-protocol-consistent", ""}: fail("edgeAgent uses Mqtt but edgeHub uses Amqp")},
		},
		{
			name:    "edgeAgent storage not mounted",
			setup:   func(d *testenv.Device) { d.EdgeAgent.Binds = nil },
			special: map[key]want{{"edge-agent-storage-mounted-from-host", "edgeAgent"}: fail("/iotedge/storage/edgeAgent", "inside the container")},
		},
		{
			name:    "edgeHub storageFolder not mounted",
			setup:   func(d *testenv.Device) { d.EdgeHub.Env["storageFolder"] = "/data" },
			special: map[key]want{{"edge-hub-storage-mounted-from-host", "edgeHub"}: fail("/data/edgeHub", "inside the container")},
		},
		{
			name:   "constrained device, edgeHub optimized for performance",
			setup:  func(d *testenv.Device) {},
			policy: constrained,
			special: map[key]want{{"edgehub-optimize-for-performance", "edgeHub"}: fail("the device is constrained",
				"of memory", "OptimizeForPerformance is unset (defaults to true)")},
		},
		{
			name:   "constrained device, OptimizeForPerformance=false",
			setup:  func(d *testenv.Device) { d.EdgeHub.Env["OptimizeForPerformance"] = "false" },
			policy: constrained,
			special: map[key]want{{"edgehub-optimize-for-performance", "edgeHub"}: {status: checks.Pass,
				contains: []string{"OptimizeForPerformance=false on a constrained device"}}},
		},
		{
			name:    "debug image",
			setup:   func(d *testenv.Device) { d.Modules[0].Image = "myregistry.azurecr.io/filter:1.0.0-amd64.debug" },
			special: map[key]want{{"no-debug-images", "filter"}: fail("myregistry.azurecr.io/filter:1.0.0-amd64.debug is a debug build")},
		},
		{
			name:  "debugger port published",
			setup: func(d *testenv.Device) { d.Modules[0].Ports = []string{"5678/tcp"} },
			special: map[key]want{
				{"no-debug-images", "filter"}: fail("debugpy debugger port 5678/tcp on host port 5678"),
				{"exposed-ports", "filter"}:   fail("5678"),
			},
		},
		{
			name: "custom module stopped",
			setup: func(d *testenv.Device) {
				d.Modules[1].Cmd = testenv.ExitCmd(3)
				d.Modules[1].WaitExit = true
			},
			special: map[key]want{{"modules-running", "sensor"}: fail("sensor is not running", "status exited", "exit code 3")},
		},
		{
			name: "custom module restart-looping",
			setup: func(d *testenv.Device) {
				d.Modules[1].Cmd = testenv.ExitCmd(1)
				d.Modules[1].RestartPolicy = container.RestartPolicyAlways
				d.Modules[1].WaitRestarts = 4
			},
			special: map[key]want{{"modules-running", "sensor"}: fail("sensor is restart")},
			after: func(t *testing.T, d *testenv.Device, rep *report.Report) {
				f := one(t, rep, "modules-running", "sensor")
				if n, _ := f.Evidence["restartCount"].(float64); n < 4 {
					t.Errorf("restartCount evidence = %v, want at least 4", f.Evidence["restartCount"])
				}
			},
		},
		{
			name:    "edgeHub on a rolling tag",
			setup:   func(d *testenv.Device) { d.EdgeHub.Image = "mcr.microsoft.com/azureiotedge-hub:1.6" },
			special: map[key]want{{"image-tags-pinned", "edgeHub"}: fail(`edgeHub uses the rolling tag "1.6"`)},
		},
		{
			name:    "custom module tagged latest",
			setup:   func(d *testenv.Device) { d.Modules[0].Image = "myregistry.azurecr.io/filter:latest" },
			special: map[key]want{{"image-tags-pinned", "filter"}: fail("myregistry.azurecr.io/filter:latest has no version tag")},
		},
		{
			name:    "custom module untagged",
			setup:   func(d *testenv.Device) { d.Modules[0].Image = "myregistry.azurecr.io/filter" },
			special: map[key]want{{"image-tags-pinned", "filter"}: fail("myregistry.azurecr.io/filter has no version tag")},
		},
		{
			name:    "unused volume",
			setup:   func(d *testenv.Device) { d.UnusedVolumes = []string{"er-test-unused-volume"} },
			special: map[key]want{{"unused-volumes", ""}: fail("used by no container", "er-test-unused-volume")},
		},
		{
			name:  "named volume in use",
			setup: func(d *testenv.Device) { d.Modules[0].VolumeMounts = map[string]string{"er-test-used-volume": "/data"} },
		},
		{
			name: "no log rotation",
			setup: func(d *testenv.Device) {
				d.Modules[0].LogConfig = container.LogConfig{Type: "json-file"}
			},
			special: map[key]want{{"container-engine-logrotate", "filter"}: fail("filter logs with json-file without max-size and max-file")},
		},
		{
			name:    "no memory limit",
			setup:   func(d *testenv.Device) { d.Modules[0].Memory = 0 },
			special: map[key]want{{"module-resource-limits", "filter"}: fail("filter has no memory limit")},
		},
		{
			name:  "low disk, critical",
			setup: func(d *testenv.Device) { d.Agent.DiskFreeRatio = 0.05 },
			special: map[key]want{{"disk-space", testenv.DefaultDiskName}: {status: checks.Fail, severity: policy.Critical,
				contains: []string{"disk " + testenv.DefaultDiskName, "(5.0%)", "under the critical threshold of 10%"}}},
		},
		{
			name:  "low disk, warning",
			setup: func(d *testenv.Device) { d.Agent.DiskFreeRatio = 0.15 },
			special: map[key]want{{"disk-space", testenv.DefaultDiskName}: {status: checks.Fail, severity: policy.Warning,
				contains: []string{"disk " + testenv.DefaultDiskName, "(15.0%)", "under the warning threshold of 20%"}}},
		},
		{
			name:  "edgeHub metrics not served",
			setup: func(d *testenv.Device) { d.EdgeHub.ServeMetrics = false },
			special: map[key]want{
				{"metrics-endpoints", "edgeHub"}: fail("edgeHub metrics cannot be read", ":9600/metrics"),
				// The checks that read edgeHub's metrics cannot decide.
				{"edgehub-message-ttl", ""}:        {status: checks.Error, contains: []string{"edgeHub metrics"}},
				{"edgehub-queue-backlog", ""}:      {status: checks.Error, contains: []string{"edgeHub metrics"}},
				{"edgehub-messages-dropped", ""}:   {status: checks.Error, contains: []string{"edgeHub metrics"}},
				{"upstream-offline", ""}:           {status: checks.Error, contains: []string{"edgeHub metrics"}},
				{"store-and-forward-capacity", ""}: {status: checks.Error, contains: []string{"edgeHub metrics"}},
			},
		},
		{
			name: "runtime 1.4",
			setup: func(d *testenv.Device) {
				d.EdgeAgent.Image = "mcr.microsoft.com/azureiotedge-agent:1.4.27"
				d.EdgeHub.Image = "mcr.microsoft.com/azureiotedge-hub:1.4.27"
				// The whole device is on 1.4: its edgeAgent reports 1.4 for
				// itself and the daemon (no skew, only an ended release).
				d.Agent.RuntimeVersion = "1.4.27"
			},
			special: map[key]want{
				{"runtime-version-supported", "edgeAgent"}: fail("edgeAgent runs IoT Edge 1.4", "whose servicing ended on 2024-11-12", "move to 1.6"),
				{"runtime-version-supported", "edgeHub"}:   fail("edgeHub runs IoT Edge 1.4", "whose servicing ended on 2024-11-12", "move to 1.6"),
			},
		},
		{
			name:    "expected module has no container",
			setup:   func(d *testenv.Device) { d.ExpectedOnly = []string{"SimulatedTemperatureSensor"} },
			special: map[key]want{{"modules-running", "SimulatedTemperatureSensor"}: fail("edgeAgent expects module SimulatedTemperatureSensor but it has no container")},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := testenv.NewDevice(t)
			c.setup(d)
			d.Start(t)
			args := []string{"check", "--format", "json"}
			if c.policy != "" {
				args = append(args, "--policy", writeFile(t, "policy.json", c.policy))
			}
			r := run(t, args...)
			rep := jsonReport(t, r)
			expectAll(t, rep, moduleNames(d), baseline(ver), c.special)
			if r.code != 1 || rep.Summary.Status != report.NotReady {
				t.Errorf("exit code %d, status %s; want 1, notReady", r.code, rep.Summary.Status)
			}
			if c.after != nil {
				c.after(t, d, rep)
			}
		})
	}
}

// TestSecretsNeverPrinted gives a module secrets in its env and looks for
// them in every output of the binary.
func TestSecretsNeverPrinted(t *testing.T) {
	d := testenv.NewDevice(t)
	d.Modules[0].Env["SAS_KEY"] = "SharedAccessKey=c2VjcmV0LWtleS1kby1ub3QtbGVhaw=="
	d.Modules[0].Env["DB_PASSWORD"] = "hunter2-not-for-you"
	d.Modules[0].Env["IOTHUB_CONN"] = "HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=QWxzb1NlY3JldA=="
	d.Start(t)

	secrets := []string{
		"SharedAccessKey=c2VjcmV0LWtleS1kby1ub3QtbGVhaw==", "c2VjcmV0LWtleS1kby1ub3QtbGVhaw", "secret-key-do-not-leak",
		"hunter2-not-for-you", "hunter2",
		"HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=QWxzb1NlY3JldA==", "QWxzb1NlY3JldA", "AlsoSecret",
	}
	for _, args := range [][]string{
		{"check", "--format", "json"},
		{"check", "--format", "table"},
		{"check", "--format", "json", "--log-level", "debug"},
		{"check", "--format", "table", "--log-level", "debug"},
	} {
		r := run(t, args...)
		if r.code != 1 || !strings.Contains(string(r.stdout), "module-resource-limits") {
			t.Errorf("%v: exit code %d, no report on stdout:\n%s", args, r.code, r.stdout)
		}
		for _, s := range secrets {
			for stream, out := range map[string][]byte{"stdout": r.stdout, "stderr": r.stderr} {
				if strings.Contains(string(out), s) {
					t.Errorf("%v: %s holds the secret %q", args, stream, s)
				}
			}
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
