package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/cli"
)

// TestRunRulesThroughTheTwin: module mode against the edgeHub emulator
// takes user rules from the twin's desired properties, acknowledges them,
// reports their findings in the twin summary (checks.<id>) and the report
// and change messages, and rejects a rule that does not compile, naming the
// rule, the position and the reason, with the last good policy kept. There
// is no Docker engine here: a rule that reads the modules is an error, one
// that reads only the time decides.
func TestRunRulesThroughTheTwin(t *testing.T) {
	if testing.Short() {
		t.Skip("engine tier only (the fixed port 8883): skipped with -short; run `make test-e2e`")
	}
	emu := startEmulator(t, t.TempDir())
	defer func() { emu.Close() }()
	envList, err := emu.ModuleEnv("readiness")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RuntimeLogLevel": "info"}
	for _, kv := range envList {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	rules := map[string]any{
		"clock-set": map[string]any{"title": "The clock is set", "severity": "warning", "scope": "device",
			"expression": "device.now > timestamp('2020-01-01T00:00:00Z')"},
		"approved-registry": map[string]any{"title": "Images come from our registry", "severity": "critical", "scope": "module",
			"expression": "module.system || module.image.registry == 'contoso.azurecr.io'"},
	}
	if _, err := emu.UpdateDesired("readiness", map[string]any{"interval": "10s", "rules": rules}, false, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	lastLogs = func() string { return stdout.String() + stderr.String() }
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, cli.Env{Args: []string{"run", "--docker-host", "unix:///nonexistent/docker.sock", "--no-probes"},
			Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
	}()
	waitFor(t, "the policy with rules applied", 60*time.Second, func() bool {
		ack := policyAck(t, emu)
		return ack["status"] == "applied" && ack["version"] == float64(2)
	})
	summaryChecks := func() map[string]any {
		r, _ := reported(t, emu)["readiness"].(map[string]any)
		c, _ := r["checks"].(map[string]any)
		return c
	}
	waitFor(t, "the rules in the twin summary", 30*time.Second, func() bool {
		c := summaryChecks()
		return c["clock-set"] != nil && c["approved-registry"] != nil
	})
	if c := summaryChecks(); c["clock-set"] != "pass" || c["approved-registry"] != "error" {
		t.Errorf("twin summary: clock-set %v, approved-registry %v; want pass and error (no engine)", c["clock-set"], c["approved-registry"])
	}

	// A rule change that changes a finding sends a change message for it.
	rules["clock-set"].(map[string]any)["expression"] = "device.now < timestamp('2020-01-01T00:00:00Z')"
	if _, err := emu.UpdateDesired("readiness", map[string]any{"rules": rules}, false, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a change message for clock-set", 30*time.Second, func() bool {
		for _, c := range messages(emu, "change") {
			if c.Properties["checkId"] == "clock-set" && c.Properties["findingStatus"] == "fail" {
				return true
			}
		}
		return false
	})

	// A rule that does not compile: rejected naming rule, position and
	// reason; the last good policy (version 3) stays in force.
	rules["approved-registry"].(map[string]any)["expression"] = "module.system ||\n  module.image.registy == 'contoso.azurecr.io'"
	if _, err := emu.UpdateDesired("readiness", map[string]any{"rules": rules}, false, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rejection", 30*time.Second, func() bool { return policyAck(t, emu)["status"] == "rejected" })
	ack := policyAck(t, emu)
	want := "rules.approved-registry.expression: line 2, column 15: undefined field 'registy'"
	if errs := fmt.Sprint(ack["errors"]); !strings.Contains(errs, want) || ack["appliedVersion"] != float64(3) {
		t.Errorf("rejection ack = %v, want %q and appliedVersion 3", ack, want)
	}
	time.Sleep(11 * time.Second) // a cycle under the last good policy
	if c := summaryChecks(); c["clock-set"] != "fail" || c["approved-registry"] != "error" {
		t.Errorf("after the rejection: clock-set %v, approved-registry %v; want the last good policy's fail and error", c["clock-set"], c["approved-registry"])
	}
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15 s")
	}
}
