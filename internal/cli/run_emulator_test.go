package cli_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lastLogs returns the module's recent logs for failure messages.
var lastLogs = func() string { return "" }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\nmodule logs:\n%s", timeout, what, lastLogs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// workloadDir is the one workload API folder of every emulator this test
// binary starts: the IoT Hub client library signs through one workload
// client per process, kept from the first module that connected, so a second
// emulator with sockets elsewhere would never be reached.
var workloadDir = sync.OnceValue(func() string {
	dir, err := os.MkdirTemp("", "cli-workload-")
	if err != nil {
		panic(err)
	}
	return dir
})

// edgeHubHosts is each test's loopback address for edgeHub's port 8883
// (hostlock.EdgeHubHost), kept across the emulator's restarts in the test:
// the module reconnects to the gateway it was given.
var edgeHubHosts sync.Map // *testing.T -> string

// startEmulator starts the emulator on port 8883 of the test's own loopback
// address, which the module's IOTEDGE_GATEWAYHOSTNAME names.
func startEmulator(t *testing.T, stateDir string) *emulator.Emulator {
	t.Helper()
	h, ok := edgeHubHosts.Load(t)
	if !ok {
		h = hostlock.EdgeHubHost(t)
		edgeHubHosts.Store(t, h)
		t.Cleanup(func() { edgeHubHosts.Delete(t) })
	}
	host := h.(string)
	addr := net.JoinHostPort(host, hostlock.EdgeHubPort)
	waitFor(t, "port 8883 to be free", 60*time.Second, func() bool {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		l.Close()
		return true
	})
	emu, err := emulator.New(emulator.Config{StateDir: stateDir, WorkloadDir: workloadDir(), MQTTAddr: addr, GatewayHostname: host,
		ServiceAddr: "127.0.0.1:0", Modules: map[string]emulator.ModuleIdentity{"readiness": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return emu
}

func reported(t *testing.T, emu *emulator.Emulator) map[string]any {
	tw, err := emu.GetTwin("readiness")
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as a service client sees it (numbers are float64).
	b, _ := json.Marshal(tw.Properties.Reported)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func policyAck(t *testing.T, emu *emulator.Emulator) map[string]any {
	ack, _ := reported(t, emu)["policy"].(map[string]any)
	return ack
}

func messages(emu *emulator.Emulator, kind string) []emulator.Message {
	var out []emulator.Message
	for _, m := range emu.Messages(emulator.MessageFilter{ModuleID: "readiness", OutputName: "readiness"}) {
		if m.Properties["messageType"] == kind {
			out = append(out, m)
		}
	}
	return out
}

// TestRunAgainstEmulator runs module mode against the edgeHub emulator: the
// real MQTT client, workload API signing and trust bundle, twin and methods.
// The emulator listens on port 8883 (of a loopback address of the test's
// own), so the test belongs to the engine tier: skipped with -short.
func TestRunAgainstEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("engine tier only (the fixed port 8883): skipped with -short; run `make test-e2e`")
	}
	state := t.TempDir()
	emu := startEmulator(t, state)
	defer func() { emu.Close() }()
	envList, err := emu.ModuleEnv("readiness")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RuntimeLogLevel": "debug"}
	for _, kv := range envList {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if _, err := emu.UpdateDesired("readiness", map[string]any{"interval": "10s"}, false, ""); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	lastLogs = func() string {
		tw, _ := emu.GetTwin("readiness")
		twin, _ := json.Marshal(tw.Properties)
		s := stdout.String() + stderr.String() + "\ntwin: " + string(twin)
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, "cycle done") {
				keep = append(keep, l[:min(len(l), 600)])
			}
		}
		s = strings.Join(keep, "\n")
		return s
	}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, cli.Env{Args: []string{"run", "--docker-host", "unix:///nonexistent/docker.sock", "--no-probes"},
			Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
	}()

	// The policy is acknowledged, the summary and a report arrive.
	waitFor(t, "the policy ack", 60*time.Second, func() bool {
		ack := policyAck(t, emu)
		return ack["status"] == "applied" && ack["version"] == float64(2)
	})
	waitFor(t, "the readiness summary", 30*time.Second, func() bool { return reported(t, emu)["readiness"] != nil })
	sum := reported(t, emu)["readiness"].(map[string]any)
	if sum["status"] != report.NotReady { // no Docker engine here: critical checks error
		t.Errorf("summary status = %v", sum["status"])
	}
	waitFor(t, "a report message", 30*time.Second, func() bool { return len(messages(emu, "report")) > 0 })
	m := messages(emu, "report")[0]
	// Report bodies are gzip-compressed JSON by default; routing properties stay readable.
	if m.ContentType != "application/json" || m.ContentEncoding != "gzip" || m.Properties["status"] != report.NotReady ||
		m.Properties["messageType"] != "report" {
		t.Errorf("report message metadata = %q %q %v", m.ContentType, m.ContentEncoding, m.Properties)
	}
	zr, err := gzip.NewReader(bytes.NewReader(m.Payload()))
	if err != nil {
		t.Fatalf("report body is not gzip: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(plain, &rep); err != nil || rep.SchemaVersion != report.SchemaVersion || len(rep.Findings) == 0 {
		t.Fatalf("report body: %v (%d findings)", err, len(rep.Findings))
	}
	if !strings.Contains(fmt.Sprint(rep.Inventory.SourceErrors), "nonexistent/docker.sock") {
		t.Errorf("the report does not say the engine is unreachable: %v", rep.Inventory.SourceErrors)
	}

	// A policy change that changes a finding: a change message and a new ack.
	if _, err := emu.UpdateDesired("readiness", map[string]any{"checks": map[string]any{"disk-space": map[string]any{"severity": "off"}}}, false, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a change message for disk-space", 30*time.Second, func() bool {
		for _, c := range messages(emu, "change") {
			if c.Properties["checkId"] == "disk-space" && c.Properties["findingStatus"] == "skip" {
				return true
			}
		}
		return false
	})

	// A bad policy is rejected, naming the field; the last good one stays.
	if _, err := emu.UpdateDesired("readiness", map[string]any{"checks": map[string]any{"disk-space": map[string]any{"params": map[string]any{"criticalFreeRatio": 2}}}}, false, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rejection", 30*time.Second, func() bool { return policyAck(t, emu)["status"] == "rejected" })
	ack := policyAck(t, emu)
	if errs := fmt.Sprint(ack["errors"]); !strings.Contains(errs, "checks.disk-space.params.criticalFreeRatio: must be between 0 and 1, got 2") ||
		ack["appliedVersion"] != float64(3) {
		t.Errorf("rejection ack = %v", ack)
	}

	// Direct methods.
	res, err := emu.InvokeMethod(ctx, "readiness", emulator.MethodRequest{MethodName: "runChecks", Payload: json.RawMessage(`{}`)})
	if err != nil || res.Status != 200 || !strings.Contains(string(res.Payload), `"status":"notReady"`) {
		t.Fatalf("runChecks = %+v, %v", res, err)
	}
	res, err = emu.InvokeMethod(ctx, "readiness", emulator.MethodRequest{MethodName: "getReport", Payload: json.RawMessage(`{}`)})
	if err != nil || res.Status != 200 || !strings.Contains(string(res.Payload), `"schemaVersion":"1.0"`) {
		t.Fatalf("getReport = status %d, %v", res.Status, err)
	}
	// An unknown method is answered 404 at once, not left to the caller's timeout.
	res, err = emu.InvokeMethod(ctx, "readiness", emulator.MethodRequest{MethodName: "nope", Payload: json.RawMessage(`{}`)})
	if err != nil || res.Status != 404 || !strings.Contains(string(res.Payload), "unknown method nope") {
		t.Fatalf("nope = %+v, %v", res, err)
	}

	// edgeHub restarts: the module reconnects, re-reads the twin and applies what changed meanwhile.
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	emu = startEmulator(t, state)
	if _, err := emu.UpdateDesired("readiness", map[string]any{"checks": map[string]any{"disk-space": map[string]any{"params": nil, "severity": "warning"}}}, false, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ack after edgeHub restarted", 90*time.Second, func() bool {
		ack := policyAck(t, emu)
		return ack["status"] == "applied" && ack["version"] == float64(5)
	})

	// SIGTERM (context cancelled): the module stops within a few seconds.
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d; stderr: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15 s")
	}
	logs := stdout.String()
	id, _ := emu.ModuleIdentity("readiness")
	if id.Key == "" || strings.Contains(logs, id.Key) || strings.Contains(logs, "SharedAccessSignature") {
		t.Errorf("the module key or a SAS token reached the logs")
	}
	for _, want := range []string{`"message":"policy applied"`, `"message":"policy rejected; the last good policy stays in force"`, `"message":"reconnected to edgeHub"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}
