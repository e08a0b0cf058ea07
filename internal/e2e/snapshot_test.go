package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

var updateExample = flag.Bool("update-example", false, "rewrite examples/gateway.snapshot.json from the simulated gateway")

// exampleSnapshot is the saved snapshot the README's first command runs on.
const exampleSnapshot = "examples/gateway.snapshot.json"

// gatewayDevice is a small gateway with a few of the classic mistakes: a
// module without memory limit or log rotation, a module that mounts the
// engine socket and publishes a port on every interface, a rolling image tag, an exited
// module, and a connection string in a module's env. With tls, edgeHub is the
// project's emulator, which serves MQTT over TLS on 8883 with a server
// certificate from its quickstart-like Edge CA (and edgeHub's real metrics
// page on 9600), so that the certificates are read as on a device.
func gatewayDevice(t *testing.T, tls bool) *testenv.Device {
	d := testenv.NewDevice(t)
	d.Hostname, d.DeviceID, d.IoTHub = "gateway-01", "gateway-01", "contoso-hub.azure-devices.net"
	if tls {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		buildEmulatorImage(t, root)
		state := filepath.Join(d.HostDir, "edgehub-state")
		emu, err := emulator.New(emulator.Config{StateDir: state, DeviceID: d.DeviceID, IoTHubHostname: d.IoTHub,
			GatewayHostname: d.Hostname, Modules: map[string]emulator.ModuleIdentity{"readiness": {}}})
		if err != nil {
			t.Fatal(err)
		}
		emu.Close()
		hub := d.EdgeHub
		hub.RunImage = emulatorImage
		hub.Cmd = []string{"-state-dir", "/state", "-device-id", d.DeviceID, "-iothub-hostname", d.IoTHub,
			"-gateway-hostname", d.Hostname, "-module", "readiness", "-mqtt-addr", ":8883", "-service-addr", ":8080",
			"-metrics-addr", ":9600", "-metrics-file", "/www/metrics"}
		hub.Binds = append(hub.Binds, state+":/state")
	}
	opc := testenv.CustomModule("opcPublisher", "contoso.azurecr.io/opc-publisher:latest")
	opc.Memory, opc.NanoCPUs = 0, 0
	opc.LogConfig = container.LogConfig{Type: "json-file"}
	opc.Env["IotHubConnectionString"] = "HostName=contoso-hub.azure-devices.net;DeviceId=gateway-01;SharedAccessKey=c2VjcmV0LWtleS1ub3QtcmVhbC0wMTIzNDU2Nzg5"
	modbus := testenv.CustomModule("modbus", "contoso.azurecr.io/modbus:2.1.0")
	modbus.Binds = append(modbus.Binds, "/var/run/docker.sock:/var/run/docker.sock")
	modbus.Ports = []string{"502/tcp"}
	filter := testenv.CustomModule("filter", "contoso.azurecr.io/filter:1.0.4")
	filter.Cmd = testenv.ExitCmd(137)
	filter.WaitExit = true
	d.Modules = []*testenv.Module{opc, modbus, filter}
	d.Start(t)
	return d
}

// findingsKey lists a report's findings as comparable lines (time and
// durations aside).
func findingsKey(rep *report.Report) []string {
	out := make([]string, len(rep.Findings))
	for i, f := range rep.Findings {
		ev, _ := json.Marshal(f.Evidence)
		out[i] = fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s", f.ID, f.Module, f.Subject, f.Severity, f.Status, f.Message, ev)
	}
	return out
}

// saveAndReplay runs check on the device with --save-snapshot, then check
// --snapshot with no engine at all, and asserts identical findings. It
// returns the saved file's bytes.
func saveAndReplay(t *testing.T, extra ...string) ([]byte, *report.Report) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device.snapshot.json")
	live := run(t, append([]string{"check", "--format", "json", "--save-snapshot", path}, extra...)...)
	liveRep := jsonReport(t, live)
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("check --save-snapshot wrote no file: %v\nstderr: %s", err, live.stderr)
	}
	replay := runEnv(t, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"},
		append([]string{"check", "--format", "json", "--snapshot", path}, extra...)...)
	replayRep := jsonReport(t, replay)
	a, b := findingsKey(liveRep), findingsKey(replayRep)
	if len(a) != len(b) {
		t.Fatalf("%d findings live, %d from the snapshot", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("finding %d differs:\n live:     %s\n snapshot: %s", i, a[i], b[i])
		}
	}
	if live.code != replay.code || liveRep.Summary.Score != replayRep.Summary.Score || liveRep.Summary.Status != replayRep.Summary.Status {
		t.Errorf("live: exit %d, %s %d; snapshot: exit %d, %s %d", live.code, liveRep.Summary.Status, liveRep.Summary.Score,
			replay.code, replayRep.Summary.Status, replayRep.Summary.Score)
	}
	return saved, liveRep
}

// TestSnapshotSameFindings: check --save-snapshot then check --snapshot (no
// engine) give the same findings on the gateway, and the saved file holds no
// secret. With -update-example it rewrites the example the README uses.
func TestSnapshotSameFindings(t *testing.T) {
	d := gatewayDevice(t, true)
	saved, rep := saveAndReplay(t, "--no-probes")
	secret := d.Module("opcPublisher").Env["IotHubConnectionString"]
	for _, s := range []string{secret, "c2VjcmV0LWtleS1ub3QtcmVhbC0wMTIzNDU2Nzg5", "SharedAccessKey=c2Vj"} {
		if bytes.Contains(saved, []byte(s)) {
			t.Errorf("the saved snapshot carries a secret: %q", s)
		}
	}
	for _, id := range []string{"module-resource-limits", "docker-socket-mounts", "exposed-ports", "image-tags-pinned", "modules-running"} {
		failing := false
		for _, f := range findings(rep, id, "*") {
			failing = failing || f.Status == checks.Fail
		}
		if !failing {
			t.Errorf("the gateway should fail %s:\n%s", id, dump(rep))
		}
	}
	// The certificates were read, as on a device: no "connection refused"
	// from a test rig in the example the Quick start shows.
	for _, id := range []string{"production-certificates", "edge-ca-expiry"} {
		for _, f := range findings(rep, id, "*") {
			if f.Status == checks.Error {
				t.Errorf("%s could not decide on the gateway: %s", id, f.Message)
			}
		}
	}
	if *updateExample {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, exampleSnapshot), saved, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", exampleSnapshot, len(saved))
	}
}

// TestExampleSnapshot runs the README's first command on the shipped
// example: a real report of a not-ready gateway, with no engine.
func TestExampleSnapshot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	r := runEnv(t, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, "check", "--snapshot", filepath.Join(root, exampleSnapshot))
	out := string(r.stdout)
	if r.code != 1 || !strings.Contains(out, "status: NOTREADY") || !strings.Contains(out, "docker-socket-mounts") {
		t.Errorf("check --snapshot %s: exit %d\n%s\n%s", exampleSnapshot, r.code, out, r.stderr)
	}
	if strings.Contains(out, "nonexistent") {
		t.Errorf("a run on a snapshot touched the engine:\n%s", out)
	}
}

// TestNoRuntimeSaysSo: on an engine without IoT Edge, check says so in one
// line and points at the example instead of listing forty errors; JSON
// keeps the whole report and carries the line as a note.
func TestNoRuntimeSaysSo(t *testing.T) {
	testenv.RequireDocker(t)
	// No device on the engine meanwhile: another test's, of this process
	// or another package's, would be a runtime (seen under load).
	hostlock.Modules(t)
	r := run(t, "check", "--no-probes")
	lines := strings.Split(strings.TrimSpace(string(r.stdout)), "\n")
	if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "no IoT Edge runtime on this Docker engine") ||
		!strings.Contains(lines[0], "check --snapshot "+exampleSnapshot) {
		t.Errorf("check on an engine without IoT Edge: exit %d\n%s", r.code, r.stdout)
	}
	rep := jsonReport(t, run(t, "check", "--no-probes", "--format", "json"))
	if len(rep.Findings) == 0 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "no IoT Edge runtime") {
		t.Errorf("JSON: %d findings, notes %q", len(rep.Findings), rep.Notes)
	}
}
