// Package checks turns a facts snapshot into findings. Each check is a pure
// function of the snapshot (and the previous one, for checks that compare
// cycles) and its parameters; the runner does the shared work: severity from
// policy, facts a check needs, exemptions, panic isolation.
package checks

import (
	"fmt"
	"math"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// Status is the outcome of a check for one subject.
type Status string

// Statuses.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Skip  Status = "skip"  // not applicable or exempted, with a reason
	Error Status = "error" // the facts it needs could not be gathered
)

// Sections of the catalog (testdata/CHECKS.md, the project's catalog).
const (
	SecDevice     = "Device configuration"
	SecDeployment = "Deployment"
	SecContainers = "Container management"
	SecNetworking = "Networking"
	SecSolution   = "Solution management"
	SecSecurity   = "Security"
	SecOperations = "Operations"
	SecManifest   = "Deployment manifest"
	// SecReported holds the checks for the failures operators report most
	// (testdata/CHECKS-operations.md).
	SecReported = "Reported failures"
)

// Facts a check can declare it needs (package facts defines them; a check
// names facts, never the source that provides them).
const (
	NeedEngine          = facts.FactEngine
	NeedEngineInventory = facts.FactEngineInventory
	NeedContainers      = facts.FactContainers
	NeedEdgeAgentStats  = facts.FactEdgeAgentMetrics
	NeedEdgeHubStats    = facts.FactEdgeHubMetrics
	NeedCerts           = facts.FactCerts
	NeedProbes          = facts.FactProbes
)

// NeedManifest is a deployment manifest's own content: only check
// --manifest has it; on a device the checks that need it skip.
const NeedManifest = facts.FactManifest

// ChecklistURL is the production checklist the seeds come from.
const ChecklistURL = "https://learn.microsoft.com/azure/iot-edge/production-checklist"

// Meta describes a check. It is data: it never holds run state.
type Meta struct {
	ID      string
	Title   string
	Section string // catalog section
	Seed    string // the checklist item (or document) the check comes from
	// Severity is the default severity; Helpful marks items the development
	// profile reports as info.
	Severity policy.Severity
	Helpful  bool
	// Decides says how the check decides, for the generated docs.
	Decides     string
	Remediation string
	Reference   string
	// IotedgeCheck is the matching `iotedge check` id, if any.
	IotedgeCheck string
	// Needs are the facts the check cannot decide without: the runner turns
	// a fact that is missing into an error, one that does not apply into a skip.
	Needs []facts.Fact
	// Reads names the module settings (image, createOptions, env; or one
	// module's, "edgeHub/env") the check decides from: where a deployment
	// manifest leaves one of them as a variable, the runner turns the
	// check's findings about that module into skips naming the variable.
	// A check that reads only some createOptions fields names them
	// (facts.CreateOptionsAt("HostConfig.Privileged")), so that a variable in
	// another field leaves its findings decided.
	Reads []facts.Setting
	// History is how many earlier snapshots the check reads (Input.History,
	// Input.Prev): the runner keeps as many as the most demanding check needs.
	History int
	Params  []policy.ParamSpec
}

// Input is what a check sees.
type Input struct {
	Snap *facts.Snapshot
	Prev *facts.Snapshot // nil on the first cycle
	// History holds earlier snapshots, oldest first (Prev is the last one).
	History []*facts.Snapshot
	Params  policy.Params
	// Self is this module's name, so that checks can tell it apart.
	Self string
}

// Result is one outcome of a check: device-wide when Module is empty.
type Result struct {
	Module string
	// Subject names what a device-wide result is about (a disk, an endpoint).
	Subject  string
	Status   Status
	Message  string
	Evidence map[string]any
	// Severity lowers the finding's severity below the policy's (a warning
	// threshold of a critical check); empty means the policy's.
	Severity policy.Severity
	// Line is the 1-based line of a deployment manifest the result is about
	// (a route, a secret's place); 0 means its module's line, or the file.
	Line int
	// Undecided names the fact an Error result could not read (its fix is
	// the fact's, see factFixes); none means the facts the check needs.
	Undecided facts.Fact
}

// Check is a check definition.
type Check struct {
	Meta
	Eval func(in *Input) []Result
}

// Finding is a result with the metadata and policy applied.
type Finding struct {
	ID           string          `json:"id"`
	Title        string          `json:"title"`
	Section      string          `json:"section"`
	Seed         string          `json:"seed,omitempty"`
	Module       string          `json:"module,omitempty"`
	Subject      string          `json:"subject,omitempty"`
	Severity     policy.Severity `json:"severity"`
	Status       Status          `json:"status"`
	Message      string          `json:"message"`
	Evidence     map[string]any  `json:"evidence,omitempty"`
	Remediation  string          `json:"remediation,omitempty"`
	Reference    string          `json:"reference,omitempty"`
	IotedgeCheck string          `json:"iotedgeCheck,omitempty"`
	Exemption    string          `json:"exemption,omitempty"`
	// Unresolved names the variables (as written) whose missing values kept
	// the check from deciding: set on a skip of check --manifest.
	Unresolved []string `json:"unresolved,omitempty"`
	// Location points the finding at a place in a file (a module's line in
	// a deployment manifest), for outputs that show it there (SARIF); nil
	// when the finding is about a device.
	Location *Location `json:"location,omitempty"`
}

// Location is a place in a file: URI is the file's path relative to where
// the command ran (or a URL), Line its 1-based line, 0 when only the file
// is known.
type Location struct {
	URI  string `json:"uri"`
	Line int    `json:"line,omitempty"`
}

// Counts tells whether the finding counts against readiness.
func (f *Finding) Counts() bool {
	return (f.Status == Fail || f.Status == Error) && (f.Severity == policy.Critical || f.Severity == policy.Warning)
}

// HistoryNeeded is how many earlier snapshots the checks need kept.
func HistoryNeeded(all []*Check) int {
	n := 0
	for _, c := range all {
		n = max(n, c.History)
	}
	return n
}

// Specs returns what the policy decoder needs to know about the checks.
func Specs(all []*Check) []policy.CheckSpec {
	out := make([]policy.CheckSpec, len(all))
	for i, c := range all {
		out[i] = policy.CheckSpec{ID: c.ID, Severity: c.Severity, Helpful: c.Helpful, Params: c.Params}
	}
	return out
}

// seedRef builds a link to a production checklist item.
func seedRef(anchor string) string { return ChecklistURL + "#" + anchor }

// Key identifies a finding across cycles.
func (f *Finding) Key() string { return f.ID + "/" + f.Module + "/" + f.Subject }

// pass, fail, skip are shorthands for results.
func pass(module, format string, args ...any) Result {
	return Result{Module: module, Status: Pass, Message: fmt.Sprintf(format, args...)}
}

func fail(module, format string, args ...any) Result {
	return Result{Module: module, Status: Fail, Message: fmt.Sprintf(format, args...)}
}

func skip(module, format string, args ...any) Result {
	return Result{Module: module, Status: Skip, Message: fmt.Sprintf(format, args...)}
}

func (r Result) about(subject string) Result {
	r.Subject = subject
	return r
}

func (r Result) lower(s policy.Severity) Result {
	r.Severity = s
	return r
}

func (r Result) with(k string, v any) Result {
	if r.Evidence == nil {
		r.Evidence = map[string]any{}
	}
	r.Evidence[k] = jsonSafe(v)
	return r
}

// jsonSafe writes a float that JSON cannot hold (NaN, +Inf, -Inf: a metric
// with no observations, or a gauge at infinity) as the string the Prometheus
// text format uses for it, so that every sink can encode the evidence.
func jsonSafe(v any) any {
	f, ok := v.(float64)
	switch {
	case !ok:
		return v
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return v
}
