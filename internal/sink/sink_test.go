package sink_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

var errOffline = errors.New("not connected")

// upstream records what the IoT Hub sinks send.
type upstream struct {
	offline bool
	patches []map[string]any
	sent    []sentMessage
}

type sentMessage struct {
	output   string
	body     []byte
	props    map[string]string
	encoding string
}

func (u *upstream) PatchReported(_ context.Context, p map[string]any) error {
	if u.offline {
		return errOffline
	}
	u.patches = append(u.patches, p)
	return nil
}

func (u *upstream) Send(_ context.Context, output string, body []byte, props map[string]string, encoding string) error {
	if u.offline {
		return errOffline
	}
	u.sent = append(u.sent, sentMessage{output, body, props, encoding})
	return nil
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func testReport(at time.Time, statuses ...checks.Status) *report.Report {
	var fs []checks.Finding
	for i, st := range statuses {
		fs = append(fs, checks.Finding{ID: "check-" + string(rune('a'+i)), Severity: policy.Critical, Status: st, Message: "m"})
	}
	return &report.Report{SchemaVersion: report.SchemaVersion, GeneratedAt: at, Findings: fs, Summary: report.Summarize(fs)}
}

func TestTwinPatchesOnlyWhatChanged(t *testing.T) {
	up := &upstream{}
	tw := sink.NewTwin(up)
	ctx := context.Background()
	ack := &sink.PolicyAck{Version: 2, Status: sink.PolicyApplied, Errors: []string{}, AppliedVersion: 2}
	// IoT Hub already holds an older ack and someone else's key.
	reported := map[string]any{"$version": float64(7), "other": "kept", "policy": map[string]any{"version": float64(1), "status": "applied", "errors": []any{}, "appliedVersion": float64(1)}}

	if err := tw.Publish(ctx, sink.Event{Time: t0, Report: testReport(t0, checks.Pass), Policy: ack, Reported: reported, Changed: true}); err != nil {
		t.Fatal(err)
	}
	if len(up.patches) != 1 {
		t.Fatalf("patches = %d", len(up.patches))
	}
	p := up.patches[0]
	if _, ok := p["other"]; ok {
		t.Errorf("patched a key it does not own: %v", p)
	}
	if pol := p["policy"].(map[string]any); len(pol) != 2 || pol["version"] != float64(2) || pol["appliedVersion"] != float64(2) {
		t.Errorf("policy patch = %v, want only the changed fields", pol)
	}
	sum := p["readiness"].(map[string]any)
	if sum["status"] != report.Ready || sum["heartbeat"] != t0.Format(time.RFC3339) {
		t.Errorf("summary = %v", sum)
	}

	// The same state later, no heartbeat: nothing to patch (lastRun and durationMs are volatile).
	later := t0.Add(time.Minute)
	if err := tw.Publish(ctx, sink.Event{Time: later, Report: testReport(later, checks.Pass), Policy: ack}); err != nil || len(up.patches) != 1 {
		t.Fatalf("steady state: %v, %d patches", err, len(up.patches))
	}
	// The heartbeat refreshes the timestamp and the volatile fields.
	if err := tw.Publish(ctx, sink.Event{Time: later, Report: testReport(later, checks.Pass), Policy: ack, Heartbeat: true}); err != nil || len(up.patches) != 2 {
		t.Fatalf("heartbeat: %v, %d patches", err, len(up.patches))
	}
	if sum := up.patches[1]["readiness"].(map[string]any); sum["heartbeat"] != later.Format(time.RFC3339) || sum["lastRun"] == nil || sum["status"] != nil {
		t.Errorf("heartbeat patch = %v", sum)
	}

	// Offline: the patch fails and is retried at the next event.
	up.offline = true
	failing := testReport(later, checks.Fail)
	if err := tw.Publish(ctx, sink.Event{Time: later, Report: failing, Policy: ack, Changed: true}); !errors.Is(err, errOffline) {
		t.Fatalf("offline publish = %v", err)
	}
	up.offline = false
	if err := tw.Publish(ctx, sink.Event{Time: later, Report: failing, Policy: ack}); err != nil || len(up.patches) != 3 {
		t.Fatalf("retry: %v, %d patches", err, len(up.patches))
	}
	if sum := up.patches[2]["readiness"].(map[string]any); sum["status"] != report.NotReady {
		t.Errorf("retried patch = %v", sum)
	}
}

func TestTwinWithoutReportKeepsTheSummary(t *testing.T) {
	up := &upstream{}
	tw := sink.NewTwin(up)
	reported := map[string]any{"readiness": map[string]any{"status": "ready", "heartbeat": "2026-03-01T07:00:00Z"}}
	ack := &sink.PolicyAck{Version: 3, Status: sink.PolicyRejected, Errors: []string{"interval: bad"}, AppliedVersion: 2}
	if err := tw.Publish(context.Background(), sink.Event{Time: t0, Policy: ack, Reported: reported}); err != nil {
		t.Fatal(err)
	}
	if len(up.patches) != 1 || up.patches[0]["readiness"] != nil || up.patches[0]["policy"] == nil {
		t.Errorf("patches = %v, want only the ack", up.patches)
	}
}

func TestD2CQueuesDropsAndResends(t *testing.T) {
	up := &upstream{offline: true}
	d := sink.NewD2C(up, "", 3)
	ctx := context.Background()
	changes := []report.Change{{ID: "a", From: "pass", To: "fail"}, {ID: "b", From: "pass", To: "fail"}}
	rep := testReport(t0, checks.Fail, checks.Fail)
	for i := 0; i < 3; i++ {
		if err := d.Publish(ctx, sink.Event{Time: t0, Report: rep, Changes: changes, Changed: true, ReportDue: true}); !errors.Is(err, errOffline) {
			t.Fatalf("offline publish %d = %v", i, err)
		}
	}
	// 6 changes and 3 reports queued into 3 places: the newest changes and the latest report stay.
	if d.Pending() != 3 || d.Dropped() != 4 {
		t.Fatalf("pending %d, dropped %d; want 3 and 4", d.Pending(), d.Dropped())
	}
	up.offline = false
	if err := d.Publish(ctx, sink.Event{Time: t0, Report: rep}); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range up.sent {
		kinds = append(kinds, m.props["messageType"])
		if m.output != sink.DefaultOutput {
			t.Errorf("output = %q", m.output)
		}
	}
	if got := strings.Join(kinds, ","); got != "change,change,report" {
		t.Errorf("sent %s", got)
	}
	var r report.Report
	if err := json.Unmarshal(up.sent[2].body, &r); err != nil || len(r.Notes) != 1 || !strings.HasPrefix(r.Notes[0], "4 change messages were dropped") {
		t.Errorf("report notes = %v, %v", r.Notes, err)
	}
	var c sink.ChangeMessage
	if err := json.Unmarshal(up.sent[1].body, &c); err != nil || c.Change.ID != "b" || c.Status != report.NotReady ||
		up.sent[1].props["checkId"] != "b" || up.sent[1].props["findingStatus"] != "fail" {
		t.Errorf("change = %+v %v, %v", c, up.sent[1].props, err)
	}
	if d.Pending() != 0 || d.Dropped() != 0 || rep.Notes != nil {
		t.Errorf("after flush: pending %d, dropped %d, report notes %v", d.Pending(), d.Dropped(), rep.Notes)
	}
	// Without a change, a heartbeat or a resync there is nothing to send.
	if err := d.Publish(ctx, sink.Event{Time: t0, Report: rep}); err != nil || len(up.sent) != 3 {
		t.Errorf("idle publish: %v, %d sent", err, len(up.sent))
	}
	// The heartbeat and a resync are the twin's business: no report message.
	for _, ev := range []sink.Event{{Report: rep, Heartbeat: true}, {Report: rep, Resync: true}} {
		n := len(up.sent)
		if err := d.Publish(ctx, ev); err != nil || len(up.sent) != n {
			t.Errorf("%+v: %v, sent %d, want none", ev, err, len(up.sent)-n)
		}
	}
	// A due report goes out, folded, gzip-compressed when asked, its properties still routable.
	n := len(up.sent)
	if err := d.Publish(ctx, sink.Event{Report: rep, ReportDue: true, CompressReport: true}); err != nil || len(up.sent) != n+1 {
		t.Fatalf("due report: %v, sent %d", err, len(up.sent)-n)
	}
	m := up.sent[n]
	if m.encoding != "gzip" || m.props["messageType"] != sink.TypeReport || m.props["status"] != report.NotReady {
		t.Errorf("report message: encoding %q, props %v", m.encoding, m.props)
	}
	zr, err := gzip.NewReader(bytes.NewReader(m.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || json.Unmarshal(plain, &r) != nil || len(r.Findings) != len(rep.Findings) {
		t.Errorf("gzip body: %v, %d findings", err, len(r.Findings))
	}
	if up.sent[1].encoding != "utf-8" {
		t.Errorf("change messages are sent as %q, want uncompressed utf-8", up.sent[1].encoding)
	}
}

// recorder is a sink that keeps the events it is given.
type recorder struct {
	name   string
	err    error
	events []sink.Event
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Publish(_ context.Context, ev sink.Event) error {
	r.events = append(r.events, ev)
	return r.err
}

func TestPublisherScrubsForEverySink(t *testing.T) {
	const secret = "Zx81kQpL0s9dXj2mWq7RtYb"
	s := scrubberKnowing(secret)
	failing := &recorder{name: "first", err: errOffline}
	second := &recorder{name: "second"}
	p := sink.NewPublisher(s, failing, second)
	rep := testReport(t0, checks.Fail)
	rep.Findings[0].Message = "token " + secret
	reported := map[string]any{"readiness": map[string]any{"msg": secret}}
	ev := sink.Event{Time: t0, Report: rep, Changes: []report.Change{{ID: "check-a", Message: "token " + secret}},
		Policy: &sink.PolicyAck{Errors: []string{"metrics.edgeHub: got " + secret}}, Reported: reported}

	err := p.Publish(context.Background(), ev)
	if !errors.Is(err, errOffline) || !strings.HasPrefix(err.Error(), "first: ") {
		t.Errorf("Publish = %v, want the first sink's error named", err)
	}
	if len(failing.events) != 1 || len(second.events) != 1 {
		t.Fatalf("events: %d, %d; every sink gets the event even after one fails", len(failing.events), len(second.events))
	}
	got := second.events[0]
	b, _ := json.Marshal(struct {
		R *report.Report
		C []report.Change
		P *sink.PolicyAck
	}{got.Report, got.Changes, got.Policy})
	if strings.Contains(string(b), secret) {
		t.Errorf("a sink was given the secret: %s", b)
	}
	if rep.Findings[0].Message != "token "+secret {
		t.Error("the publisher modified the caller's report")
	}
	// What the upstream already holds is passed as it is, to diff against.
	if got.Reported["readiness"].(map[string]any)["msg"] != secret {
		t.Errorf("Reported = %v", got.Reported)
	}
}

func TestFormats(t *testing.T) {
	rep := testReport(t0, checks.Pass, checks.Fail)
	for name, want := range map[string]string{"table": "status: NOTREADY", "json": `"status": "notReady"`} {
		newSink, ok := sink.Formats[name]
		if !ok {
			t.Fatalf("no %s format", name)
		}
		var buf strings.Builder
		s := newSink(&buf)
		if s.Name() != name {
			t.Errorf("Name() = %q, want %q", s.Name(), name)
		}
		if err := s.Publish(context.Background(), sink.Event{}); err != nil || buf.Len() != 0 {
			t.Errorf("%s without a report: %v, wrote %q", name, err, buf.String())
		}
		if err := s.Publish(context.Background(), sink.Event{Report: rep}); err != nil || !strings.Contains(buf.String(), want) {
			t.Errorf("%s: %v, wrote %q, want %q in it", name, err, buf.String(), want)
		}
	}
}
