package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

const emulatorImage = "er-test/edgehub-emulator:e2e"

// buildEmulatorImage builds the emulator as a static binary on the host and
// puts it in a FROM scratch image.
func buildEmulatorImage(t testenv.TB, root string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "er-e2e-emulator-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "edgehub-emulator"), "./internal/emulator/cmd/edgehub-emulator")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the emulator: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY edgehub-emulator /edgehub-emulator\nENTRYPOINT [\"/edgehub-emulator\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.BuildImage(t, dir, "Dockerfile", emulatorImage, nil)
}

// serviceClient opens a connection per request: a kept-alive connection can
// go stale while a test waits, and a failed POST is not retried.
var serviceClient = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// service talks to the emulator's IoT Hub service side.
type service struct {
	t    *testing.T
	base string
}

func (s *service) do(method, path string, body any, out any) int {
	s.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := serviceClient.Do(req)
	if err != nil {
		s.t.Logf("%s %s: %v", method, path, err)
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (s *service) patchDesired(desired map[string]any) {
	s.t.Helper()
	if code := s.do(http.MethodPatch, "/twins/box-device/modules/readiness", map[string]any{"properties": map[string]any{"desired": desired}}, nil); code != 200 {
		s.t.Fatalf("patching desired properties: HTTP %d", code)
	}
}

func (s *service) reported() map[string]any {
	var tw struct {
		Properties struct {
			Desired  map[string]any `json:"desired"`
			Reported map[string]any `json:"reported"`
		} `json:"properties"`
	}
	s.do(http.MethodGet, "/twins/box-device/modules/readiness", nil, &tw)
	return tw.Properties.Reported
}

func (s *service) messages(kind string) []emulator.Message {
	var out struct {
		Messages []emulator.Message `json:"messages"`
	}
	s.do(http.MethodGet, "/emulator/messages?moduleId=readiness&output=readiness", nil, &out)
	var sel []emulator.Message
	for _, m := range out.Messages {
		if m.Properties["messageType"] == kind {
			sel = append(sel, m)
		}
	}
	return sel
}

func (s *service) method(name string) (int, string) {
	var res struct {
		Status  int             `json:"status"`
		Payload json.RawMessage `json:"payload"`
	}
	code := s.do(http.MethodPost, "/twins/box-device/modules/readiness/methods",
		// As on edgeHub, a method subscription takes effect seconds after each
		// (re)connection: wait for it like an IoT Hub caller should.
		map[string]any{"methodName": name, "payload": map[string]any{}, "responseTimeoutInSeconds": 60, "connectTimeoutInSeconds": 30}, &res)
	if code != 200 {
		return code, ""
	}
	return res.Status, string(res.Payload)
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool, debug func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, debug())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestDeviceInABox runs the module as IoT Edge would: the emulator plays
// edgeHub (and IoT Hub behind it) as the edgeHub container, next to
// edgeAgent and custom modules on the azure-iot-edge network; the module is
// the image built from Dockerfile.amd64 with the engine socket and its
// workload socket mounted as IoT Edge mounts them. Everything is driven
// through the emulator's IoT Hub service side, as an operator would.
func TestDeviceInABox(t *testing.T) {
	testenv.RequireDocker(t)
	t.Parallel() // after the other tests: its images are built meanwhile (TestMain)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	buildEmulatorImage(t, root)
	buildImage(t, root)

	d := testenv.NewDevice(t)
	d.DeviceID = "box-device"

	// The module's identity: created once, kept in the emulator's state dir,
	// which the edgeHub container then loads.
	state := filepath.Join(d.HostDir, "edgehub-state")
	emu, err := emulator.New(emulator.Config{StateDir: state, DeviceID: d.DeviceID, IoTHubHostname: d.IoTHub,
		GatewayHostname: d.Hostname, Modules: map[string]emulator.ModuleIdentity{"readiness": {}}})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := emu.ModuleIdentity("readiness")
	emu.Close()

	hub := d.EdgeHub
	hub.RunImage = emulatorImage
	hub.Cmd = []string{"-state-dir", "/state", "-device-id", d.DeviceID, "-iothub-hostname", d.IoTHub,
		"-gateway-hostname", d.Hostname, "-module", "readiness", "-mqtt-addr", ":8883", "-service-addr", ":8080",
		"-metrics-addr", ":9600", "-metrics-file", "/www/metrics"}
	hub.Binds = append(hub.Binds, state+":/state")

	readiness := testenv.CustomModule("readiness", "myregistry.azurecr.io/edge-readiness:0.1.0-amd64")
	readiness.RunImage = imageTag
	readiness.Cmd = []string{"run", "--no-probes"}
	readiness.Env = map[string]string{
		"IOTEDGE_WORKLOADURI":        "unix:///var/run/iotedge/readiness.sock",
		"IOTEDGE_MODULEGENERATIONID": id.GenerationID,
		"IOTEDGE_GATEWAYHOSTNAME":    d.Hostname,
		"RuntimeLogLevel":            "info",
	}
	readiness.Binds = []string{hostSocket(t) + ":/var/run/docker.sock:ro", filepath.Join(state, "workload") + ":/var/run/iotedge"}
	readiness.GroupAdd = []string{socketGroup(t)} // the image runs as 65532:65532
	readiness.Memory = 64 << 20
	readiness.NanoCPUs = 250_000_000
	readiness.CapDrop = []string{"ALL"}
	readiness.ReadonlyRootfs = true
	readiness.StartLast = true
	d.Modules = append(d.Modules, readiness)

	// The policy is in the twin before the module starts, as a deployment puts it.
	d.Start(t)
	ip := d.Inspect(t, "edgeHub").NetworkSettings.Networks["azure-iot-edge"].IPAddress
	svc := &service{t: t, base: "http://" + ip + ":8080"}
	logs := func() string {
		out, errOut := d.Logs(t, "readiness")
		return "readiness logs:\n" + tail(string(out)+string(errOut), 3000)
	}
	eventually(t, "the emulator's service API", 30*time.Second, func() bool {
		return svc.do(http.MethodGet, "/emulator/health", nil, nil) == 200
	}, logs)
	svc.patchDesired(map[string]any{"interval": "30s", "checks": map[string]any{"container-engine-moby": map[string]any{"severity": "info"}}})

	// 1. The policy is acknowledged; the summary and a report arrive.
	ack := func() map[string]any { a, _ := svc.reported()["policy"].(map[string]any); return a }
	eventually(t, "the policy ack", 90*time.Second, func() bool { return ack()["status"] == "applied" && ack()["version"] == float64(2) }, logs)
	eventually(t, "a report message", 60*time.Second, func() bool { return len(svc.messages("report")) > 0 }, logs)
	sum, _ := svc.reported()["readiness"].(map[string]any)
	b, _ := json.Marshal(svc.reported())
	t.Logf("reported properties: %d bytes; summary status %v, score %v", len(b), sum["status"], sum["score"])
	rep := svc.messages("report")[0]
	t.Logf("report message: %d bytes, properties %v", rep.Size, rep.Properties)
	var r report.Report
	body, err := rep.Decoded() // report bodies are gzip-compressed JSON
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Device.RuntimeMode != "module" || r.Device.ModuleID != "readiness" {
		t.Fatalf("report: %v, device %+v", err, r.Device)
	}
	if got := len(r.Inventory.Modules); got != len(d.All()) {
		t.Errorf("the module sees %d modules, want %d", got, len(d.All()))
	}
	if f := findByKey(&r, "production-certificates", ""); f == nil || f.Status != "fail" || !strings.Contains(f.Message, "quickstart") {
		t.Errorf("production-certificates on the emulator's quickstart-like Edge CA: %+v", f)
	}

	// 2. Break a module: stop sensor. runChecks runs a cycle now.
	if err := d.Client().ContainerStop(context.Background(), "sensor", container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	code, payload := svc.method("runChecks")
	if code != 200 || !strings.Contains(payload, `"id":"modules-running","module":"sensor"`) {
		t.Fatalf("runChecks = %d %s", code, payload)
	}
	eventually(t, "a change message for sensor", 30*time.Second, func() bool {
		for _, m := range svc.messages("change") {
			if m.Properties["checkId"] == "modules-running" && strings.Contains(string(m.Payload()), `"module":"sensor"`) && m.Properties["findingStatus"] == "fail" {
				return true
			}
		}
		return false
	}, logs)
	eventually(t, "the summary to list sensor", 30*time.Second, func() bool {
		b, _ := json.Marshal(svc.reported()["readiness"])
		return bytes.Contains(b, []byte(`"module":"sensor"`))
	}, logs)

	// 3. A bad policy is rejected; the old one stays in force.
	svc.patchDesired(map[string]any{"checks": map[string]any{"disk-space": map[string]any{"params": map[string]any{"criticalFreeRatio": 2}}}})
	eventually(t, "the rejection", 60*time.Second, func() bool { return ack()["status"] == "rejected" }, logs)
	if a := ack(); a["appliedVersion"] != float64(2) || !strings.Contains(fmt.Sprint(a["errors"]), "checks.disk-space.params.criticalFreeRatio: must be between 0 and 1, got 2") {
		t.Errorf("rejection ack = %v", a)
	}

	// 4. edgeHub restarts: the module reconnects, re-reads the twin and
	// publishes only what IoT Hub lacks (the report it has is not resent).
	if err := d.Client().ContainerRestart(context.Background(), "edgeHub", container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	// The restarted container may have a new address.
	svc.base = "http://" + d.Inspect(t, "edgeHub").NetworkSettings.Networks["azure-iot-edge"].IPAddress + ":8080"
	eventually(t, "the emulator back", 60*time.Second, func() bool { return svc.do(http.MethodGet, "/emulator/health", nil, nil) == 200 }, logs)
	svc.patchDesired(map[string]any{"checks": map[string]any{"disk-space": map[string]any{"params": nil, "severity": "warning"}}})
	eventually(t, "the ack after edgeHub restarted", 120*time.Second, func() bool { return ack()["status"] == "applied" && ack()["version"] == float64(4) }, logs)
	eventually(t, "the summary after edgeHub restarted", 60*time.Second, func() bool {
		sum, _ := svc.reported()["readiness"].(map[string]any)
		return sum["status"] != nil && sum["checks"] != nil
	}, logs)
	code, payload = svc.method("runChecks")
	if code != 200 || !strings.Contains(payload, `"status"`) {
		t.Fatalf("runChecks after restart = %d %s", code, payload)
	}
	out, _ := d.Logs(t, "readiness")
	if !bytes.Contains(out, []byte("reconnected to edgeHub")) {
		t.Errorf("the module did not log its reconnection:\n%s", tail(string(out), 2000))
	}
	if bytes.Contains(out, []byte(id.Key)) {
		t.Error("the module key reached the logs")
	}
	t.Logf("messages: %d reports, %d changes", len(svc.messages("report")), len(svc.messages("change")))
}

func findByKey(r *report.Report, id, module string) *checks.Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id && r.Findings[i].Module == module {
			return &r.Findings[i]
		}
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
