package cli_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// twinRecorder is the module twin as the twin sink patches it: it applies
// each patch to the reported properties, as IoT Hub does.
type twinRecorder struct{ reported map[string]any }

func (r *twinRecorder) PatchReported(_ context.Context, patch map[string]any) error {
	r.reported = sink.ApplyMergePatch(r.reported, patch)
	return nil
}

// moduleReported is what module mode leaves in its twin's reported
// properties after a cycle over the example gateway's snapshot under
// policyFile ("" for none): the report of `check --format json` (the
// catalog and the policy's compiled rules, run by the same runner),
// published to the twin sink through the Publisher with the policy's
// acknowledgement.
func moduleReported(t *testing.T, policyFile string, now time.Time) map[string]any {
	t.Helper()
	args := []string{"check", "--snapshot", "../../examples/gateway.snapshot.json", "--format", "json"}
	if policyFile != "" {
		args = append(args, "--policy", policyFile)
	}
	code, out, stderr := runCLI(t, args...)
	if code != cli.ExitOK && code != cli.ExitNotReady {
		t.Fatalf("check %s: exit %d\n%s", policyFile, code, stderr)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("check %s: %v", policyFile, err)
	}
	rec := &twinRecorder{reported: map[string]any{}}
	ev := sink.Event{Time: now, Report: &r, Changed: true, Heartbeat: true,
		Policy: &sink.PolicyAck{Version: 1, Status: "applied", Errors: []string{}, AppliedVersion: 1}}
	if err := sink.NewPublisher(nil, sink.NewTwin(rec)).Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return rec.reported
}

// TestFleetListsRules: a user rule failing on devices is ranked by `fleet`
// like a catalog check, from twin summaries the module's own code wrote:
// in the JSON view, the table, the CSV and the HTML page, with the devices
// it fails on and its worst severity. The approved-registry rule of the
// policies in testdata/rules wants fabrikam.azurecr.io: on the gateway it
// fails filter, modbus and opcPublisher; the example's (contoso.azurecr.io)
// passes them.
func TestFleetListsRules(t *testing.T) {
	now := time.Now()
	// The devices, fleet-0001 to fleet-0004: each one's policy, and the
	// status and the severity of the rule in the twin summary it writes.
	devices := []struct{ policy, status, severity string }{
		{"testdata/rules/approved-registry.policy.json", "fail", "critical"},
		{"../../examples/rules/approved-registry.policy.json", "pass", ""},
		{"testdata/rules/approved-registry-warning.policy.json", "fail", "warning"}, // checks.<id>.severity
		{"", "", ""}, // no rules
	}
	docs := make([]map[string]any, len(devices))
	for i, d := range devices {
		docs[i] = moduleReported(t, d.policy, now)
		sum := sink.ReadReadiness(docs[i]["readiness"])
		if sum == nil {
			t.Fatalf("%s: no readiness summary in %v", emulator.FleetDeviceID(i), docs[i])
		}
		if sum.Checks["approved-registry"] != d.status {
			t.Fatalf("%s: the twin summary gives approved-registry %q, want %q", emulator.FleetDeviceID(i), sum.Checks["approved-registry"], d.status)
		}
		for _, f := range sum.Failing {
			if f.ID == "approved-registry" && f.Severity != d.severity {
				t.Errorf("%s: the twin summary's failing %+v, want severity %q", emulator.FleetDeviceID(i), f, d.severity)
			}
		}
	}
	emu, caFile := serviceEmulator(t, 0, func(e *emulator.Emulator) error {
		return e.SeedFleetTwins("readiness", len(docs), func(i int) emulator.FleetTwin {
			return emulator.FleetTwin{Reported: docs[i]}
		})
	})
	cs := emu.ServiceConnectionString()
	failingOn := []string{"fleet-0001", "fleet-0003"}

	for _, c := range []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"json", func(t *testing.T, out string) {
			var v struct {
				fleetJSON // its devices, decoded here
				Devices   []struct {
					DeviceID string   `json:"deviceId"`
					Failing  []string `json:"failing"`
				} `json:"devices"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			found := false
			for _, r := range v.Failing {
				if r.ID != "approved-registry" {
					continue
				}
				found = true
				if r.Devices != 2 || r.Errored != 0 || r.Severity != "critical" || !slices.Equal(r.DeviceIDs, failingOn) {
					t.Errorf("failingChecks: %+v, want 2 devices %v, 0 errored, critical", r, failingOn)
				}
			}
			if !found {
				t.Errorf("failingChecks lacks approved-registry:\n%s", out)
			}
			if len(v.Devices) != len(devices) {
				t.Fatalf("%d devices, want %d", len(v.Devices), len(devices))
			}
			for _, d := range v.Devices {
				if want := slices.Contains(failingOn, d.DeviceID); slices.Contains(d.Failing, "approved-registry") != want {
					t.Errorf("%s: failing %v; approved-registry listed should be %v", d.DeviceID, d.Failing, want)
				}
			}
		}},
		{"table", func(t *testing.T, out string) {
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 0 && f[0] == "approved-registry" {
					if strings.Join(f, " ") != "approved-registry 2 0 critical" {
						t.Errorf("the table's line of the rule: %q, want approved-registry 2 0 critical", line)
					}
					return
				}
			}
			t.Errorf("the table lists no failing check approved-registry:\n%s", out)
		}},
		{"csv", func(t *testing.T, out string) {
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(recs) != len(devices)+1 {
				t.Fatalf("%d records, %v\n%s", len(recs), err, out)
			}
			for _, r := range recs[1:] {
				if want := slices.Contains(failingOn, r[0]); slices.Contains(strings.Fields(r[8]), "approved-registry") != want {
					t.Errorf("%s: failingChecks %q; approved-registry listed should be %v", r[0], r[8], want)
				}
			}
		}},
		{"html", func(t *testing.T, out string) {
			want := `<tr><td><code>approved-registry</code><td><span class="st s-critical">critical</span>` +
				`<td class="n" data-l="devices">2<td class="n" data-l="errored">0` +
				`<td><details><summary>2 devices</summary>fleet-0001, fleet-0003</details>`
			if !strings.Contains(out, want) {
				t.Errorf("the page's failing checks lack the rule's row %q", want)
			}
		}},
	} {
		t.Run(c.format, func(t *testing.T) {
			code, out, errOut := runFleet(t, cs, "--format", c.format, "--ca-file", caFile)
			if code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			c.check(t, out)
		})
	}
}
