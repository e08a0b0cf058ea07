package sink_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// failuresSink is the worked example of README's "Adding a sink": in package
// sink it would be one file, registered with one line in sink.Formats (a
// --format name) or in module mode's list (internal/cli/run.go), and added
// to the outputs of secrets_test.go. It knows the report, not the checks:
// one line per failing finding.
type failuresSink struct{ w io.Writer }

func (failuresSink) Name() string { return "failures" }

func (s failuresSink) Publish(_ context.Context, ev sink.Event) error {
	if ev.Report == nil {
		return nil // an event without a report (a heartbeat, a policy) has nothing for it
	}
	for _, f := range ev.Report.Findings {
		if f.Status == checks.Fail {
			if _, err := fmt.Fprintf(s.w, "%s %s: %s\n", f.ID, f.Module, f.Message); err != nil {
				return fmt.Errorf("writing failures: %w", err)
			}
		}
	}
	return nil
}

var _ sink.Sink = failuresSink{}

// Example_addingASink publishes a report through the Publisher, as every
// sink is fed: the secret in a finding's message (a value of the module's
// environment) is scrubbed before the sink sees it.
func Example_addingASink() {
	scrub := redact.NewScrubber()
	scrub.AddEnv(redact.NewPolicy(nil), map[string]string{"DB_PASSWORD": "hunter2-hunter2"})
	fs := []checks.Finding{
		{ID: "modules-running", Module: "filter", Severity: policy.Critical, Status: checks.Fail,
			Message: "filter exited: login failed for password hunter2-hunter2"},
		{ID: "disk-space", Severity: policy.Critical, Status: checks.Pass, Message: "50% free"},
	}
	r := &report.Report{SchemaVersion: report.SchemaVersion, Findings: fs, Summary: report.Summarize(fs)}
	pub := sink.NewPublisher(scrub, failuresSink{w: os.Stdout})
	if err := pub.Publish(context.Background(), sink.Event{Report: r}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// modules-running filter: filter exited: login failed for password [REDACTED]
}
