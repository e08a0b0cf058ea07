package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
)

// The fleet: 200 devices, the i-th by i%10 (and i%7 for the heartbeat).
const (
	fleetSize     = 200
	fleetPageSize = 30 // 7 pages
)

func fleetReported(now time.Time) func(i int) map[string]any {
	return func(i int) map[string]any {
		if i%10 == 9 {
			return nil // 20 never reported
		}
		hb := now.Add(-10 * time.Minute)
		if i%7 == 0 {
			hb = now.Add(-3 * time.Hour) // 26 stale (29 multiples of 7, 3 of them never report)
		}
		fail := func(id, sev, status string) map[string]any {
			return map[string]any{"id": id, "module": "m", "severity": sev, "status": status, "msg": "x"}
		}
		s := map[string]any{"schemaVersion": "1", "heartbeat": hb.UTC().Format(time.RFC3339), "lastRun": hb.UTC().Format(time.RFC3339),
			"counts": map[string]any{"total": 60}, "failing": []any{}, "failingOmitted": 0}
		switch i % 10 {
		case 0, 1, 2, 3: // 80 ready
			s["status"], s["score"] = "ready", 95
		case 4: // 20 degraded
			s["status"], s["score"] = "degraded", 70
			s["failing"] = []any{fail("log-rotation", "warning", "fail")}
		case 5: // 20 degraded, one check in error
			s["status"], s["score"] = "degraded", 65
			s["failing"] = []any{fail("log-rotation", "warning", "fail"), fail("time-sync", "warning", "error")}
		case 6: // 20 notReady
			s["status"], s["score"] = "notReady", 30
			s["failing"] = []any{fail("docker-socket-mounts", "critical", "fail")}
		case 7: // 20 notReady, one failing check known only from checks (newer modules)
			s["status"], s["score"] = "notReady", 25
			s["failing"] = []any{fail("docker-socket-mounts", "critical", "fail")}
			s["failingOmitted"] = 1
			s["checks"] = map[string]any{"docker-socket-mounts": "fail", "clock-skew": "fail", "log-rotation": "pass"}
		case 8: // 20 notReady
			s["status"], s["score"] = "notReady", 10
			s["failing"] = []any{fail("docker-socket-mounts", "critical", "fail"), fail("module-resource-limits", "critical", "fail")}
		}
		return map[string]any{"readiness": s, "policy": map[string]any{"version": 1, "status": "applied"}}
	}
}

// fleetEmulator starts an emulator with the HTTPS service API and the
// seeded fleet, without the fixed MQTT port, and writes its CA to a file.
func fleetEmulator(t *testing.T) (emu *emulator.Emulator, caFile string) {
	t.Helper()
	return serviceEmulator(t, fleetPageSize, func(e *emulator.Emulator) error {
		return e.SeedFleet("readiness", fleetSize, fleetReported(time.Now()))
	})
}

// serviceEmulator starts an emulator with the HTTPS service API (query
// pages of pageSize devices; 0: the emulator's default), without the fixed
// MQTT port, seeds its twins with seed and writes its CA to a file.
func serviceEmulator(t *testing.T, pageSize int, seed func(*emulator.Emulator) error) (emu *emulator.Emulator, caFile string) {
	t.Helper()
	emu, err := emulator.New(emulator.Config{StateDir: t.TempDir(), MQTTAddr: "127.0.0.1:0", ServiceAddr: "127.0.0.1:0",
		ServiceTLSAddr: "127.0.0.1:0", QueryPageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	if err := seed(emu); err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "edge-ca.pem")
	if err := os.WriteFile(caFile, emu.TrustBundlePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return emu, caFile
}

// runFleet runs the fleet command with IOTHUB_CONNECTION_STRING = cs.
func runFleet(t *testing.T, cs string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{Args: append([]string{"fleet"}, args...), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string {
			if k == cli.EnvConnectionString {
				return cs
			}
			return ""
		},
		Environ: func() []string { return nil }}
	code = cli.Main(context.Background(), env)
	return code, out.String(), errOut.String()
}

func key(cs string) string { return cs[strings.Index(cs, "SharedAccessKey=")+len("SharedAccessKey="):] }

// fleetJSON is the part of the JSON view the test checks.
type fleetJSON struct {
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"byStatus"`
	Failing  []struct {
		ID        string   `json:"id"`
		Devices   int      `json:"devices"`
		Errored   int      `json:"errored"`
		Severity  string   `json:"severity"`
		DeviceIDs []string `json:"deviceIds"`
	} `json:"failingChecks"`
	Truncated int `json:"truncatedSummaries"`
	Stale     []struct {
		DeviceID  string `json:"deviceId"`
		Freshness string `json:"freshness"`
	} `json:"stale"`
	Devices []json.RawMessage `json:"devices"`
}

// Expected ranking: devices, then severity, then id.
var wantRanking = []string{
	"docker-socket-mounts 60 0 critical",
	"log-rotation 40 0 warning",
	"module-resource-limits 20 0 critical",
	"time-sync 20 20 warning",
	"clock-skew 20 0 ",
}

func TestFleetAgainstEmulator(t *testing.T) {
	emu, caFile := fleetEmulator(t)
	cs := emu.ServiceConnectionString()
	if cs == "" {
		t.Fatal("no service connection string")
	}
	k := key(cs)
	noKey := func(what, s string) {
		t.Helper()
		if strings.Contains(s, k) || strings.Contains(s, "SharedAccessKey=") {
			t.Errorf("%s holds the key or the connection string:\n%s", what, s)
		}
	}

	t.Run("json", func(t *testing.T) {
		before := emu.QueryPages()
		code, out, errOut := runFleet(t, cs, "--format", "json", "--ca-file", caFile)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		noKey("stdout", out)
		noKey("stderr", errOut)
		if pages := emu.QueryPages() - before; pages != 7 {
			t.Errorf("pages = %d, want 7 (200 twins, %d a page)", pages, fleetPageSize)
		}
		var v fleetJSON
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if v.Total != 200 || len(v.Devices) != 200 || v.Truncated != 20 {
			t.Errorf("total %d, devices %d, truncated %d", v.Total, len(v.Devices), v.Truncated)
		}
		if want := map[string]int{"ready": 80, "degraded": 40, "notReady": 60, "unknown": 20}; fmt.Sprint(v.ByStatus) != fmt.Sprint(want) {
			t.Errorf("by status = %v, want %v", v.ByStatus, want)
		}
		var ranking []string
		for _, c := range v.Failing {
			ranking = append(ranking, fmt.Sprintf("%s %d %d %s", c.ID, c.Devices, c.Errored, c.Severity))
			if len(c.DeviceIDs) != c.Devices {
				t.Errorf("%s: %d device ids for %d devices", c.ID, len(c.DeviceIDs), c.Devices)
			}
		}
		if strings.Join(ranking, "\n") != strings.Join(wantRanking, "\n") {
			t.Errorf("ranking =\n%s\nwant\n%s", strings.Join(ranking, "\n"), strings.Join(wantRanking, "\n"))
		}
		never, stale := 0, 0
		for i, d := range v.Stale {
			switch d.Freshness {
			case "never":
				never++
				if stale > 0 {
					t.Errorf("never-reported %s after a stale device", d.DeviceID)
				}
			case "stale":
				stale++
			default:
				t.Errorf("stale[%d] = %+v", i, d)
			}
		}
		if never != 20 || stale != 26 {
			t.Errorf("never %d, stale %d; want 20, 26", never, stale)
		}
		if len(v.Stale) > 0 && v.Stale[0].DeviceID != "fleet-0010" {
			t.Errorf("first never-reported device = %s, want fleet-0010 (i = 9)", v.Stale[0].DeviceID)
		}
	})

	t.Run("table", func(t *testing.T) {
		code, out, errOut := runFleet(t, "", "--connection-string", cs, "--ca-file", caFile, "--timeout", "20s")
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		noKey("stdout", out)
		for _, want := range []string{
			`Module "readiness" on 200 devices`,
			"ready     80\n", "degraded  40\n", "notReady  60\n", "unknown   20\n",
			"docker-socket-mounts    60       0        critical\n",
			"log-rotation            40       0        warning\n",
			"module-resource-limits  20       0        critical\n",
			"time-sync               20       20       warning\n",
			"clock-skew              20       0        -\n",
			"(20 devices left failing findings out of their twin summary",
			"Stale or silent: 46 devices (heartbeat older than twice the interval, default 1h0m0s; or never reported)",
			"fleet-0010  readiness  unknown  never reported",
			"fleet-0200  readiness  unknown  never reported",
			"... and 26 more (never reported first, then the oldest heartbeat: --format csv or json lists every device)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the table lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("csv", func(t *testing.T) {
		code, out, errOut := runFleet(t, cs, "--format", "csv", "--ca-file", caFile, "--heartbeat", "4h")
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 201 || strings.Join(recs[0], ",") != "deviceId,moduleId,status,score,heartbeat,heartbeatAgeSeconds,freshness,connectionState,failingChecks" {
			t.Fatalf("%d records, header %v", len(recs), recs[0])
		}
		status, fresh, checks := map[string]int{}, map[string]int{}, map[string]int{}
		for _, r := range recs[1:] {
			status[r[2]]++
			fresh[r[6]]++
			for _, id := range strings.Fields(r[8]) {
				checks[id]++
			}
		}
		if fmt.Sprint(status) != fmt.Sprint(map[string]int{"ready": 80, "degraded": 40, "notReady": 60, "unknown": 20}) {
			t.Errorf("status column: %v", status)
		}
		// With a 4h interval, 3 hours is no longer stale.
		if fmt.Sprint(fresh) != fmt.Sprint(map[string]int{"ok": 180, "never": 20}) {
			t.Errorf("freshness column: %v", fresh)
		}
		if fmt.Sprint(checks) != fmt.Sprint(map[string]int{"docker-socket-mounts": 60, "log-rotation": 40, "module-resource-limits": 20, "time-sync": 20, "clock-skew": 20}) {
			t.Errorf("failingChecks column: %v", checks)
		}
		if recs[1][0] != "fleet-0001" || recs[200][0] != "fleet-0200" {
			t.Errorf("rows are not in device order: %s … %s", recs[1][0], recs[200][0])
		}
	})
}

func TestFleetRefusals(t *testing.T) {
	emu, caFile := fleetEmulator(t)
	cs := emu.ServiceConnectionString()
	k := key(cs)
	host := strings.TrimPrefix(strings.Split(cs, ";")[0], "HostName=")
	wrongKey := base64.StdEncoding.EncodeToString([]byte("not the policy key of this hub!!"))

	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	for _, c := range []struct {
		name, cs string
		args     []string
		want     string
	}{
		{"no connection string", "", nil, "fleet: no connection string: set $IOTHUB_CONNECTION_STRING"},
		{"malformed", "HostName=" + host + ";SharedAccessKeyName=iothubowner", nil, "fleet: connection string: missing SharedAccessKey\n"},
		{"not base64", strings.Replace(cs, k, k[:10]+"!", 1), nil, "fleet: connection string: SharedAccessKey is not base64\n"},
		{"device connection string", "HostName=" + host + ";DeviceId=d1;SharedAccessKey=" + k, nil, "fleet: connection string: it names a DeviceId"},
		{"wrong key", strings.Replace(cs, k, wrongKey, 1), []string{"--ca-file", caFile},
			"fleet: IoT Hub " + host + " refused the credentials (401 Unauthorized): check the policy name and key of the connection string\n"},
		{"wrong policy", strings.Replace(cs, "iothubowner", "registryRead", 1), []string{"--ca-file", caFile}, "refused the credentials (401 Unauthorized)"},
		{"unreachable", strings.Replace(cs, host, closed, 1), []string{"--ca-file", caFile}, "fleet: cannot reach IoT Hub " + closed + ": dial tcp " + closed + ": connect: connection refused\n"},
		{"untrusted CA", cs, nil, "fleet: TLS: the certificate of " + host + " is not signed by a trusted authority"},
		{"missing CA file", cs, []string{"--ca-file", filepath.Join(t.TempDir(), "none.pem")}, "fleet: CA file: open "},
		{"bad format", cs, []string{"--format", "xml"}, `fleet: --format must be table, json, csv or html, got "xml"`},
		{"bad module", cs, []string{"--module", "it's"}, "fleet: --module: module id"},
		{"short heartbeat", cs, []string{"--heartbeat", "1s"}, "fleet: --heartbeat must be at least 1m0s"},
	} {
		code, out, errOut := runFleet(t, c.cs, c.args...)
		if code != cli.ExitUsage {
			t.Errorf("%s: exit %d, want 2\n%s%s", c.name, code, out, errOut)
		}
		if !strings.Contains(errOut, c.want) {
			t.Errorf("%s: stderr %q, want %q", c.name, errOut, c.want)
		}
		for _, secret := range []string{k, wrongKey, k[:10]} {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("%s: the output holds a key:\n%s%s", c.name, out, errOut)
			}
		}
		if out != "" {
			t.Errorf("%s: stdout %q, want nothing", c.name, out)
		}
	}
}
