package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

type sent struct {
	output string
	body   []byte
	props  map[string]string
}

type fakeHub struct {
	desired, reported map[string]any
	patches           []map[string]any
	sent              []sent
	gzipped           int // report bodies that came compressed
	offline           bool
	reconnected       chan struct{}
	desiredChanged    chan struct{}
	methods           map[string]hub.MethodHandler
}

func newFakeHub() *fakeHub {
	return &fakeHub{desired: map[string]any{"$version": float64(1)}, reported: map[string]any{"$version": float64(1)},
		reconnected: make(chan struct{}, 1), desiredChanged: make(chan struct{}, 1), methods: map[string]hub.MethodHandler{}}
}

var errOffline = errors.New("not connected")

func (h *fakeHub) Twin(context.Context) (map[string]any, map[string]any, error) {
	if h.offline {
		return nil, nil, errOffline
	}
	return h.desired, h.reported, nil
}

func (h *fakeHub) PatchReported(_ context.Context, p map[string]any) error {
	if h.offline {
		return errOffline
	}
	h.patches = append(h.patches, p)
	h.reported = sink.ApplyMergePatch(h.reported, p)
	return nil
}

func (h *fakeHub) Send(_ context.Context, out string, body []byte, props map[string]string, encoding string) error {
	if h.offline {
		return errOffline
	}
	if encoding == "gzip" { // recorded as IoT Hub's consumers read it
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return err
		}
		h.gzipped++
	}
	h.sent = append(h.sent, sent{out, body, props})
	return nil
}

func (h *fakeHub) RegisterMethod(_ context.Context, name string, fn hub.MethodHandler) error {
	h.methods[name] = fn
	return nil
}
func (h *fakeHub) Reconnected() <-chan struct{}    { return h.reconnected }
func (h *fakeHub) DesiredChanged() <-chan struct{} { return h.desiredChanged }

// fakeCycle returns reports whose findings the test sets.
type fakeCycle struct {
	mu       sync.Mutex
	findings []checks.Finding
	pols     []cycle.PolicyRef
	now      func() time.Time
	ran      chan struct{} // optional: signalled after each cycle
}

func (c *fakeCycle) ranPolicies() []cycle.PolicyRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cycle.PolicyRef(nil), c.pols...)
}

func (c *fakeCycle) Run(_ context.Context, pol cycle.PolicyRef) *report.Report {
	c.mu.Lock()
	c.pols = append(c.pols, pol)
	fs := append([]checks.Finding(nil), c.findings...)
	c.mu.Unlock()
	if c.ran != nil {
		select {
		case c.ran <- struct{}{}:
		default:
		}
	}
	return &report.Report{SchemaVersion: report.SchemaVersion, GeneratedAt: c.now(), Findings: fs, Summary: report.Summarize(fs)}
}

func finding(id, module string, st checks.Status) checks.Finding {
	return checks.Finding{ID: id, Module: module, Severity: policy.Critical, Status: st, Message: id + " is " + string(st)}
}

var specs = checks.Specs(checks.All())

type harness struct {
	d     *Daemon
	d2c   *sink.D2C
	hub   *fakeHub
	cyc   *fakeCycle
	clock time.Time
}

// maxQueue bounds the harness's message queue.
const maxQueue = 5

func newHarness() *harness {
	h := &harness{hub: newFakeHub(), clock: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	now := func() time.Time { return h.clock }
	h.cyc = &fakeCycle{now: now, findings: []checks.Finding{finding("modules-running", "a", checks.Pass), finding("disk-space", "", checks.Pass)}}
	h.setup()
	return h
}

// setup builds the daemon over h.hub with the sinks of module mode, as cli does.
func (h *harness) setup() {
	h.d2c = sink.NewD2C(h.hub, sink.DefaultOutput, maxQueue)
	h.d = &Daemon{Hub: h.hub, Cycle: h.cyc, Specs: specs, Log: zerolog.Nop(), Now: func() time.Time { return h.clock },
		Sinks: []sink.Sink{sink.NewTwin(h.hub), h.d2c}}
	h.d.setup()
}

// start does what Run does before its loop.
func (h *harness) start(t *testing.T) {
	t.Helper()
	desired, reported, err := h.d.readTwin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.d.adoptReported(reported, true)
	h.d.applyDesired(desired)
}

func (h *harness) types() []string {
	var out []string
	for _, s := range h.hub.sent {
		out = append(out, s.props["messageType"])
	}
	return out
}

func TestFirstCycleReportsAndAcknowledges(t *testing.T) {
	h := newHarness()
	h.hub.desired = map[string]any{"$version": float64(3), "interval": "1m", "checks": map[string]any{"disk-space": map[string]any{"severity": "warning"}}}
	h.start(t)
	h.d.cycle(context.Background())

	if got := h.cyc.pols[0]; got.Source != "twin" || got.Version != 3 || got.Policy.Interval != time.Minute ||
		got.Policy.Checks["disk-space"].Severity != policy.Warning {
		t.Errorf("cycle ran with policy %+v", got)
	}
	ack, _ := h.hub.reported["policy"].(map[string]any)
	if ack["status"] != "applied" || ack["version"] != float64(3) {
		t.Errorf("policy ack = %v", ack)
	}
	sum, _ := h.hub.reported["readiness"].(map[string]any)
	if sum["status"] != report.Ready || sum["heartbeat"] == nil || sum["lastRun"] == nil {
		t.Errorf("readiness summary = %v", sum)
	}
	if got := h.types(); len(got) != 1 || got[0] != sink.TypeReport {
		t.Fatalf("messages = %v, want one report (no changes without a baseline)", got)
	}
	m := h.hub.sent[0]
	if m.output != "readiness" || m.props["status"] != report.Ready {
		t.Errorf("report message = %s %v", m.output, m.props)
	}
	var r report.Report
	if err := json.Unmarshal(m.body, &r); err != nil || len(r.Findings) != 2 {
		t.Errorf("report body: %v, %d findings", err, len(r.Findings))
	}
}

func TestSteadyStateSendsNothing(t *testing.T) {
	h := newHarness()
	h.start(t)
	h.d.cycle(context.Background())
	patches, msgs := len(h.hub.patches), len(h.hub.sent)
	for i := 0; i < 5; i++ {
		h.clock = h.clock.Add(5 * time.Minute)
		h.d.cycle(context.Background())
	}
	if len(h.hub.patches) != patches || len(h.hub.sent) != msgs {
		t.Errorf("steady state sent %d patches and %d messages, want none", len(h.hub.patches)-patches, len(h.hub.sent)-msgs)
	}
	// The heartbeat (default 1 h) refreshes the twin only: no report message.
	h.clock = h.clock.Add(time.Hour)
	h.d.cycle(context.Background())
	if len(h.hub.patches) != patches+1 || len(h.hub.sent) != msgs {
		t.Errorf("heartbeat: %d patches, %d messages; want 1 and 0", len(h.hub.patches)-patches, len(h.hub.sent)-msgs)
	}
	last := h.hub.patches[len(h.hub.patches)-1]["readiness"].(map[string]any)
	if last["heartbeat"] != h.clock.Format(time.RFC3339) {
		t.Errorf("heartbeat = %v, want %v", last["heartbeat"], h.clock.Format(time.RFC3339))
	}
	// The full report goes out once a day (reporting.fullReport), compressed.
	gz := h.hub.gzipped
	for i := 0; i < 23; i++ {
		h.clock = h.clock.Add(time.Hour)
		h.d.cycle(context.Background())
	}
	if len(h.hub.sent) != msgs+1 || h.hub.sent[msgs].props["messageType"] != sink.TypeReport || h.hub.gzipped != gz+1 {
		t.Errorf("after a day: %d messages (%d gzipped), want the daily report", len(h.hub.sent)-msgs, h.hub.gzipped-gz)
	}
}

func TestChangeMessages(t *testing.T) {
	h := newHarness()
	h.start(t)
	h.d.cycle(context.Background())
	h.hub.sent = nil
	h.cyc.findings[0] = finding("modules-running", "a", checks.Fail)
	h.d.cycle(context.Background())
	if got := strings.Join(h.types(), ","); got != "change,report" {
		t.Fatalf("messages = %s, want change,report", got)
	}
	ch := h.hub.sent[0]
	if ch.props["checkId"] != "modules-running" || ch.props["findingStatus"] != "fail" || ch.props["status"] != report.NotReady {
		t.Errorf("change props = %v", ch.props)
	}
	var body sink.ChangeMessage
	if err := json.Unmarshal(ch.body, &body); err != nil || body.Change.From != "pass" || body.Change.To != "fail" || body.Change.Module != "a" {
		t.Errorf("change body = %+v, %v", body, err)
	}
	sum := h.hub.reported["readiness"].(map[string]any)
	if sum["status"] != report.NotReady || len(sum["failing"].([]any)) != 1 {
		t.Errorf("summary after change = %v", sum)
	}
}

func TestRejectedPolicyKeepsLastGood(t *testing.T) {
	h := newHarness()
	h.hub.desired = map[string]any{"$version": float64(2), "interval": "2m"}
	h.start(t)
	h.d.cycle(context.Background())

	h.hub.desired = map[string]any{"$version": float64(3), "checks": map[string]any{"disk-space": map[string]any{"params": map[string]any{"criticalFreeRatio": float64(2)}}}}
	desired, _, _ := h.d.readTwin(context.Background())
	if h.d.applyDesired(desired) {
		t.Fatal("a bad policy must not be applied")
	}
	h.d.publish(context.Background())
	ack := h.hub.reported["policy"].(map[string]any)
	errs, _ := ack["errors"].([]any)
	if ack["status"] != "rejected" || ack["version"] != float64(3) || ack["appliedVersion"] != float64(2) || len(errs) != 1 ||
		errs[0] != "checks.disk-space.params.criticalFreeRatio: must be between 0 and 1, got 2" {
		t.Errorf("ack = %v", ack)
	}
	if h.d.pol.Version != 2 || h.d.pol.Policy.Interval != 2*time.Minute {
		t.Errorf("policy in force = %+v", h.d.pol)
	}
	// A good version after the bad one applies.
	h.hub.desired = map[string]any{"$version": float64(4)}
	if !h.d.applyDesired(h.hub.desired) || h.d.pol.Version != 4 {
		t.Errorf("version 4 not applied: %+v", h.d.pol)
	}
}

func TestOfflineQueuesAndResyncs(t *testing.T) {
	h := newHarness()
	h.start(t)
	h.d.cycle(context.Background())
	h.hub.sent = nil
	h.hub.offline = true
	for i := 0; i < 8; i++ { // flip a finding every cycle: 8 changes + reports
		st := checks.Fail
		if i%2 == 1 {
			st = checks.Pass
		}
		h.cyc.findings[1] = finding("disk-space", "", st)
		h.clock = h.clock.Add(time.Minute)
		h.d.cycle(context.Background())
	}
	if len(h.hub.sent) != 0 || h.d2c.Pending() != maxQueue {
		t.Fatalf("offline: sent %d, queued %d (max %d)", len(h.hub.sent), h.d2c.Pending(), maxQueue)
	}
	h.hub.offline = false
	desired, reported, err := h.d.readTwin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.d.adoptReported(reported, false)
	h.d.resync()
	h.d.applyDesired(desired)
	h.d.publish(context.Background())
	if h.d2c.Pending() != 0 {
		t.Fatalf("queue not flushed: %d left", h.d2c.Pending())
	}
	reports := 0
	for _, s := range h.hub.sent {
		if s.props["messageType"] == sink.TypeReport {
			reports++
		}
	}
	if reports != 1 {
		t.Errorf("sent %d reports, want only the latest", reports)
	}
	// The latest state reached the twin.
	if sum := h.hub.reported["readiness"].(map[string]any); sum["status"] != report.Ready {
		t.Errorf("twin after resync = %v", sum)
	}
	// Drops are said in the report sent after them.
	var r report.Report
	for _, s := range h.hub.sent {
		if s.props["messageType"] == sink.TypeReport {
			_ = json.Unmarshal(s.body, &r)
		}
	}
	if h.d2c.Dropped() != 0 || len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "change messages were dropped") {
		t.Errorf("report notes = %v (dropped left %d), want the dropped count", r.Notes, h.d2c.Dropped())
	}
}

func TestRestartAnnouncesNoFalseChanges(t *testing.T) {
	first := newHarness()
	first.cyc.findings[0] = finding("modules-running", "a", checks.Fail)
	first.start(t)
	first.d.cycle(context.Background())

	// A new process with the same twin and the same facts.
	second := newHarness()
	second.hub = first.hub
	second.setup() // the daemon and its sinks over the shared hub
	second.hub.sent = nil
	second.cyc.findings = first.cyc.findings
	second.start(t)
	second.d.cycle(context.Background())
	for _, s := range second.hub.sent {
		if s.props["messageType"] == sink.TypeChange {
			t.Errorf("false change after restart: %s", s.body)
		}
	}
	// A real change after the restart is announced.
	second.hub.sent = nil
	second.cyc.findings[0] = finding("modules-running", "a", checks.Pass)
	second.d.cycle(context.Background())
	if got := strings.Join(second.types(), ","); got != "change,report" {
		t.Errorf("messages = %s", got)
	}
}

func TestMethods(t *testing.T) {
	h := newHarness()
	h.start(t)
	if code, _ := h.d.getReportMethod(nil); code != 404 {
		t.Errorf("getReport before any cycle = %d", code)
	}
	h.d.cycle(context.Background())
	code, body := h.d.getReportMethod(nil)
	if code != 200 || body["schemaVersion"] != report.SchemaVersion {
		t.Errorf("getReport = %d %v", code, body)
	}
	h.d.runNow = make(chan chan *report.Report)
	go func() {
		reply := <-h.d.runNow
		reply <- h.d.cycle(context.Background())
	}()
	code, body = h.d.runChecksMethod(nil)
	if code != 200 || body["status"] != report.Ready {
		t.Errorf("runChecks = %d %v", code, body)
	}
}

func TestRunStopsAndFlushes(t *testing.T) {
	h := newHarness()
	h.cyc.ran = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.d.Run(ctx) }()
	select {
	case <-h.cyc.ran:
	case <-time.After(5 * time.Second):
		t.Fatal("no cycle ran")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	if len(h.hub.methods) != 2 {
		t.Errorf("methods registered: %v", h.hub.methods)
	}
}

// TestIdleFollowsEachCycle: Idle is called once after each cycle, the
// scheduled one and the one runChecks asks for, after its reply.
func TestIdleFollowsEachCycle(t *testing.T) {
	h := newHarness()
	idle := make(chan struct{}, 4)
	h.d.Idle = func() { idle <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.d.Run(ctx) }()
	wait := func(after string) {
		t.Helper()
		select {
		case <-idle:
		case <-time.After(5 * time.Second):
			t.Fatalf("Idle was not called after %s", after)
		}
	}
	wait("the first cycle")
	if code, _ := h.hub.methods["runChecks"](nil); code != 200 {
		t.Fatalf("runChecks = %d", code)
	}
	wait("the cycle of runChecks")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if cycles, extra := len(h.cyc.ranPolicies()), len(idle); cycles != 2 || extra != 0 {
		t.Errorf("%d cycles and %d calls of Idle, want 2 and 2", cycles, 2+extra)
	}
}

// TestOversizedDesiredIsRejected: desired properties over policy.MaxBytes
// are rejected with the bound named, and the last good policy stays.
func TestOversizedDesiredIsRejected(t *testing.T) {
	h := newHarness()
	h.hub.desired = map[string]any{"$version": float64(2), "interval": "2m"}
	h.start(t)
	h.d.cycle(context.Background())
	exemptions := []any{}
	for i := range 2000 {
		exemptions = append(exemptions, map[string]any{"check": "disk-space", "reason": strings.Repeat("x", 60) + fmt.Sprint(i)})
	}
	h.hub.desired = map[string]any{"$version": float64(3), "exemptions": exemptions}
	if h.d.applyDesired(h.hub.desired) {
		t.Fatal("desired properties over the bound must not be applied")
	}
	h.d.publish(context.Background())
	ack := h.hub.reported["policy"].(map[string]any)
	errs, _ := ack["errors"].([]any)
	if ack["status"] != "rejected" || len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "larger than 131072 bytes") {
		t.Errorf("ack = %v", ack)
	}
	if h.d.pol.Version != 2 {
		t.Errorf("policy in force = %+v, want version 2", h.d.pol)
	}
}

// TestRunChecksAnswerFitsOneBlock: runChecks answers within one 4 KB billed
// block (IoT Hub bills a method's response in 4 KB blocks; the twin's 8 KB
// summary took two), on a 50-module device where every check of the catalog
// fails on every module with a long message; what is left out is counted.
func TestRunChecksAnswerFitsOneBlock(t *testing.T) {
	h := newHarness()
	var fs []checks.Finding
	for _, c := range checks.All() {
		for m := range 50 {
			f := finding(c.ID, fmt.Sprintf("module%02d", m), checks.Fail)
			f.Message = strings.Repeat("a long message about what is wrong ", 10)
			fs = append(fs, f)
		}
	}
	h.cyc.findings = fs
	h.start(t)
	h.d.runNow = make(chan chan *report.Report)
	go func() {
		reply := <-h.d.runNow
		reply <- h.d.cycle(context.Background())
	}()
	code, body := h.d.scrubbed(h.d.runChecksMethod)(nil)
	b, err := json.Marshal(body)
	if code != 200 || err != nil {
		t.Fatalf("runChecks = %d, %v", code, err)
	}
	if len(b) > 4096 {
		t.Errorf("runChecks answered %d bytes, more than one 4 KB billed block", len(b))
	}
	failing, _ := body["failing"].([]any)
	omitted, _ := body["failingOmitted"].(float64)
	if len(failing) == 0 || len(failing)+int(omitted) != len(fs) || body["status"] != report.NotReady {
		t.Errorf("runChecks: %d failing + %v omitted, status %v; want %d findings accounted for", len(failing), omitted, body["status"], len(fs))
	}
	t.Logf("runChecks answer: %d bytes, %d failing findings listed, %v counted", len(b), len(failing), omitted)
}
