package fleet

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

func sampleView() View {
	return Aggregate("readiness", []Twin{
		{DeviceID: "d1", ModuleID: "readiness", Summary: &sink.Readiness{Status: "ready", Score: score(97), Heartbeat: ago(time.Minute)}},
		{DeviceID: "d2", ModuleID: "readiness", ConnectionState: "Disconnected", Summary: &sink.Readiness{Status: "notReady", Score: score(12), Heartbeat: ago(5 * time.Hour),
			Failing: []sink.ReadinessFailing{{ID: "docker-socket-mounts", Severity: "critical", Status: "fail"}, {ID: "log-rotation", Severity: "warning", Status: "error"}}}},
		{DeviceID: "d3", ModuleID: "readiness"},
	}, now, time.Hour)
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleView()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`Module "readiness" on 3 devices, 2026-03-01T12:00:00Z`,
		"STATUS    DEVICES\nready     1\ndegraded  0\nnotReady  1\nunknown   1\n",
		"FAILING CHECK         DEVICES  ERRORED  SEVERITY",
		"docker-socket-mounts  1        0        critical",
		"log-rotation          1        1        warning",
		"Stale or silent: 2 devices (heartbeat older than twice the interval, default 1h0m0s; or never reported)",
		"d3      readiness  unknown   never reported        -       -",
		"d2      readiness  notReady  2026-03-01T07:00:00Z  5h0m0s  Disconnected",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "d3 ") > strings.Index(out, "d2 ") {
		t.Errorf("never-reported devices come first:\n%s", out)
	}

	b.Reset()
	if err := WriteTable(&b, Aggregate("readiness", nil, now, time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No check fails on any device.", "Every device reported within twice its heartbeat interval (default 1h0m0s)."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the empty table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleView()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Module      string         `json:"module"`
		GeneratedAt time.Time      `json:"generatedAt"`
		Truncated   int            `json:"truncatedSummaries"`
		Heartbeat   string         `json:"heartbeatInterval"`
		Total       int            `json:"total"`
		ByStatus    map[string]int `json:"byStatus"`
		Failing     []struct {
			ID        string   `json:"id"`
			Devices   int      `json:"devices"`
			Errored   int      `json:"errored"`
			Severity  string   `json:"severity"`
			DeviceIDs []string `json:"deviceIds"`
		} `json:"failingChecks"`
		Stale []struct {
			DeviceID   string  `json:"deviceId"`
			ModuleID   string  `json:"moduleId"`
			Status     string  `json:"status"`
			Score      *int    `json:"score"`
			Failing    []any   `json:"failing"`
			Connection string  `json:"connectionState"`
			Heartbeat  *string `json:"heartbeat"`
			Age        string  `json:"heartbeatAge"`
			StaleAfter string  `json:"staleAfter"`
			Freshness  string  `json:"freshness"`
		} `json:"stale"`
		Devices []map[string]any `json:"devices"`
	}
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Module != "readiness" || !got.GeneratedAt.Equal(now) || got.Heartbeat != "1h0m0s" || got.Total != 3 ||
		!reflect.DeepEqual(got.ByStatus, map[string]int{"ready": 1, "degraded": 0, "notReady": 1, "unknown": 1}) {
		t.Errorf("head: %+v", got)
	}
	if len(got.Failing) != 2 || got.Failing[0].ID != "docker-socket-mounts" || got.Failing[1].Errored != 1 || got.Failing[1].DeviceIDs[0] != "d2" {
		t.Errorf("failing: %+v", got.Failing)
	}
	if len(got.Stale) != 2 || got.Stale[0].DeviceID != "d3" || got.Stale[0].Heartbeat != nil || got.Stale[0].Freshness != "never" ||
		*got.Stale[1].Heartbeat != "2026-03-01T07:00:00Z" || got.Stale[1].Age != "5h0m0s" || got.Stale[1].StaleAfter != "2h0m0s" {
		t.Errorf("stale: %+v", got.Stale)
	}
	if len(got.Devices) != 3 || got.Devices[2]["score"] != nil || len(got.Devices[2]["failing"].([]any)) != 0 {
		t.Errorf("devices: %v", got.Devices)
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleView()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		CSVHeader,
		{"d1", "readiness", "ready", "97", "2026-03-01T11:59:00Z", "60", "ok", "", ""},
		{"d2", "readiness", "notReady", "12", "2026-03-01T07:00:00Z", "18000", "stale", "Disconnected", "docker-socket-mounts log-rotation"},
		{"d3", "readiness", "unknown", "", "", "", "never", "", ""},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("csv =\n%q\nwant\n%q", recs, want)
	}
}
