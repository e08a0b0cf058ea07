package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/edgeenv"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// dayDevice serves snapshots of a device whose state the day's script sets.
type dayDevice struct {
	mu      sync.Mutex
	base    facts.Snapshot
	now     func() time.Time
	flapped bool // the flapping module is down
}

func (g *dayDevice) Gather(context.Context) *facts.Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.base
	s.Time = g.now()
	s.Containers = append([]facts.Container(nil), g.base.Containers...)
	if g.flapped {
		for i := range s.Containers {
			if s.Containers[i].Name == "filter" {
				s.Containers[i].State = facts.State{Status: "exited", ExitCode: 137, FinishedAt: s.Time.Add(-time.Minute)}
			}
		}
	}
	return &s
}

// loadDevice is the good device of the checks' tests (edgeAgent, edgeHub,
// filter, sensor, metricsCollector), with extra custom modules up to modules.
func loadDevice(t *testing.T, modules int) facts.Snapshot {
	t.Helper()
	b, err := os.ReadFile("../checks/testdata/snapshots/good-device.json")
	if err != nil {
		t.Fatal(err)
	}
	var s facts.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var sensor facts.Container
	n := 0
	for _, c := range s.Containers {
		if c.IsModule() {
			n++
		}
		if c.Name == "sensor" {
			sensor = c
		}
	}
	for i := 1; n < modules; i++ {
		c := sensor
		c.Name, c.ID = fmt.Sprintf("module%02d", i), fmt.Sprintf("%064d", i)
		s.Containers = append(s.Containers, c)
		n++
	}
	return s
}

// dayFigures is what a simulated day cost, by kind.
type dayFigures struct {
	name                    string
	billing                 emulator.BillingCounts
	changeMsgs, changeUnits int64
	reportMsgs, reportUnits int64
	largestReport           int
	lastReport              *report.Report // the last report message, decompressed
}

func (f dayFigures) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %4d billed/day:", f.name, f.billing.Total)
	for _, k := range emulator.BillingKinds {
		fmt.Fprintf(&b, " %s %d (%d ops)", k, f.billing.ByKind[k], f.billing.Operations[k])
	}
	return b.String()
}

// tokenAge is how long the emulator lets a connection's token live here:
// the simulated day drops the module once an hour of its clock.
const tokenAge = 200 * time.Millisecond

// simulateDay runs module mode through one day against the emulator: 288
// cycles at the default 5-minute interval on an injected clock, edgeHub
// dropping the connection every hour as it does when the module's token
// expires (the module reconnects and re-reads its twin), the heartbeat every
// hour. flap makes one module go down and come back every hour.
func simulateDay(t *testing.T, workloadDir, name string, modules int, flap bool) dayFigures {
	t.Helper()
	emu := testenv.StartEmulator(t, emulator.Config{WorkloadDir: workloadDir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		EdgeHub: emulator.EdgeHubConfig{ReauthPeriod: 24 * time.Hour, TokenMaxAge: tokenAge, MethodSubscriptionDelay: -1,
			ReportedSyncInterval: time.Millisecond}})
	defer emu.Close()
	envMap := testenv.ModuleEnv(t, emu, "readiness")
	edge, err := edgeenv.Load(func(k string) string { return envMap[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := hub.Dial(ctx, edge, emu.CertPool(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	var clockMu sync.Mutex
	// The day starts at the good device's own time (its snapshot's): a stable,
	// healthy device then. Later, its 1.5 runtime has ended and its Edge CA
	// expired, and the day would measure a failing device's report instead.
	clock := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return clock
	}
	dev := &dayDevice{base: loadDevice(t, modules), now: now}
	runner := &cycle.Runner{Gatherer: dev, Checks: checks.All(), Scrubber: redact.NewScrubber(), Self: "readiness", Now: now}
	d := &Daemon{Hub: client, Cycle: runner, Specs: specs, Log: zerolog.Nop(), Now: now, Scrubber: redact.NewScrubber(),
		Sinks: []sink.Sink{sink.NewTwin(client), sink.NewD2C(client, "", 0)}}
	d.setup()
	desired, reported, err := d.readTwin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.adoptReported(reported, true)
	d.applyDesired(desired)
	d.cycle(ctx) // start-up: the first report
	time.Sleep(20 * time.Millisecond)
	emu.ResetBilling()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 1; i <= 288; i++ {
		clockMu.Lock()
		clock = clock.Add(5 * time.Minute)
		clockMu.Unlock()
		if flap {
			dev.mu.Lock()
			dev.flapped = i%12 == 6 // down for one cycle in each hour
			dev.mu.Unlock()
		}
		d.cycle(ctx)
		if d.failed {
			t.Fatalf("cycle %d: a publication failed", i)
		}
		if i%12 == 0 { // the hourly token expiry: edgeHub drops the module, which reconnects
			time.Sleep(tokenAge)
			if ids := emu.Reauthenticate(); len(ids) != 1 {
				t.Fatalf("hour %d: re-authentication dropped %v", i/12, ids)
			}
			select {
			case <-client.Reconnected():
			case <-time.After(90 * time.Second):
				t.Fatalf("hour %d: the module did not reconnect", i/12)
			}
			d.twinTrigger(ctx, true, timer)
			if d.failed {
				t.Fatalf("hour %d: the resync failed", i/12)
			}
		}
	}
	time.Sleep(50 * time.Millisecond) // the last reported patch reaches the hub side
	f := dayFigures{name: name, billing: emu.Billing().BillingCounts}
	for _, m := range emu.Messages(emulator.MessageFilter{ModuleID: "readiness"}) {
		if m.EnqueuedTime.Before(emu.Billing().Since) {
			continue
		}
		switch m.Properties["messageType"] {
		case sink.TypeChange:
			f.changeMsgs++
			f.changeUnits += messageUnits(m)
		case sink.TypeReport:
			f.reportMsgs++
			f.reportUnits += messageUnits(m)
			f.largestReport = max(f.largestReport, len(m.Payload()))
			f.lastReport = decodeReport(t, m)
		}
	}
	return f
}

// TestSimulatedDay prints what a day of module mode costs in IoT Hub billed
// messages (the emulator's meter, IoT Hub's rules) and holds it to the
// targets: a stable 5-module device at most 52 a day, a stable 50-module
// device at most 80, and each change at most 2 plus its share of the report.
// The day starts right after start-up, so it includes what a start costs
// once: the checks that need two cycles (store-and-forward-capacity's message
// rate among them) first decide on the second cycle, with their change
// messages and the report they make due (3 device-to-cloud messages; with
// the day's 24 twin reads and 24 heartbeat patches, 51 measured).
func TestSimulatedDay(t *testing.T) {
	testenv.SkipIfShort(t, "needs port 8883 for the emulator")
	// The client library keeps one HTTP client for the first workload socket
	// it signs through: every emulator of this process serves the same path.
	wl := t.TempDir()
	stable := simulateDay(t, wl, "stable, 5 modules", 5, false)
	flapping := simulateDay(t, wl, "5 modules, one flapping hourly", 5, true)
	fifty := simulateDay(t, wl, "stable, 50 modules", 50, false)
	for _, f := range []dayFigures{stable, flapping, fifty} {
		t.Log(f)
	}
	if stable.billing.Total > 52 {
		t.Errorf("a stable 5-module device costs %d billed messages a day, want at most 52", stable.billing.Total)
	}
	if fifty.billing.Total > 80 {
		t.Errorf("a stable 50-module device costs %d billed messages a day, want at most 80", fifty.billing.Total)
	}
	// 24 flaps: 48 changes. Each change sends its change messages at once
	// (at most 2 billed each) and makes the report due.
	t.Logf("flapping costs %d more billed messages a day than the stable device, for 48 changes (%.1f each, its report included)",
		flapping.billing.Total-stable.billing.Total, float64(flapping.billing.Total-stable.billing.Total)/48)
	if flapping.changeMsgs == 0 {
		t.Fatal("the flapping device sent no change message")
	}
	if per := float64(flapping.changeUnits) / 48; per > 2 {
		t.Errorf("change messages cost %.1f billed messages per change, want at most 2", per)
	}
	t.Logf("change messages: %d, %d billed; report messages: %d, %d billed (largest %d bytes on the wire)",
		flapping.changeMsgs, flapping.changeUnits, flapping.reportMsgs, flapping.reportUnits, flapping.largestReport)
	t.Logf("50-module device: %d report messages, largest %d bytes on the wire", fifty.reportMsgs, fifty.largestReport)

	// The 50-module report is complete: nothing trimmed, every check's pass
	// list and every failing finding, under 256 KB on the wire.
	rep := fifty.lastReport
	if rep == nil || fifty.largestReport > sink.MessageLimit {
		t.Fatalf("50-module report: %v, %d bytes", rep != nil, fifty.largestReport)
	}
	for _, n := range rep.Notes {
		if strings.Contains(n, "left out") || strings.Contains(n, "fit") {
			t.Errorf("the 50-module report was trimmed: %s", n)
		}
	}
	passList := 0
	for _, f := range rep.Findings {
		if mods, ok := f.Evidence["modules"].([]any); ok && f.ID == "module-resource-limits" {
			passList = len(mods)
		}
	}
	if passList < 50 {
		t.Errorf("module-resource-limits lists %d passing modules, want the 50 custom modules and more", passList)
	}
}

// decodeReport reads a report message as IoT Hub's consumers would.
func decodeReport(t *testing.T, m emulator.Message) *report.Report {
	t.Helper()
	body := m.Payload()
	if m.ContentEncoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	var r report.Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("report message: %v", err)
	}
	return &r
}

// messageUnits is a message's billed size as IoT Hub meters it (body,
// system-property values, application-property names and values) in 4 KB blocks.
func messageUnits(m emulator.Message) int64 {
	n := len(m.Payload())
	for k, v := range m.Properties {
		n += len(k) + len(v)
	}
	for _, v := range m.SystemProperties {
		n += len(v)
	}
	return int64((n + 4095) / 4096)
}
