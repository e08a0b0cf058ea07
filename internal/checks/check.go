// Package checks turns a facts snapshot into findings. Each check is a pure
// function of the snapshot (and the previous one, for checks that compare
// cycles) and its parameters; the runner does the shared work: severity from
// policy, facts a check needs, exemptions, panic isolation.
package checks

import (
	"fmt"
	"slices"
	"strings"
	"time"

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

// Run evaluates every check against the snapshot under the policy.
func Run(all []*Check, in Input, pol *policy.Policy) []Finding {
	ex := append(BuiltinExemptions(in.Self), pol.Exemptions...)
	// Containers whose inspect failed are left out of what checks see; the
	// checks that need containers report an error for each such module.
	full := in.Snap
	view := in.Snap.WithoutUninspected()
	broken := in.Snap.UninspectedModules()
	var out []Finding
	for _, c := range all {
		cin := in
		if c.needs(NeedContainers) {
			cin.Snap = view
		}
		fs := runOne(c, cin, pol, ex, full)
		if len(broken) > 0 && c.needs(NeedContainers) && !c.disabled(pol) && full.Fact(NeedContainers).Status == facts.StatusOK &&
			notApplicable(c, full) == "" {
			// What the check said of a module it could not see is void.
			fs = slices.DeleteFunc(fs, func(f Finding) bool {
				return slices.ContainsFunc(broken, func(m *facts.Container) bool { return m.Name == f.Module })
			})
			fs = append(fs, c.uninspectedFindings(broken, pol, ex, full.Time)...)
		}
		if len(c.Reads) > 0 {
			fs = c.unresolvedSkips(fs, full)
		}
		if full.Deployment != nil {
			locate(fs, full.Deployment)
		}
		out = append(out, fs...)
	}
	return out
}

func (c *Check) needs(f facts.Fact) bool {
	for _, n := range c.Needs {
		if n == f {
			return true
		}
	}
	return false
}

func (c *Check) severity(pol *policy.Policy) policy.Severity {
	if cp, ok := pol.Checks[c.ID]; ok {
		return cp.Severity
	}
	return c.Severity
}

func (c *Check) disabled(pol *policy.Policy) bool { return c.severity(pol) == policy.Off }

// uninspectedFindings are the errors of a check that needs containers for
// the modules whose inspect failed.
func (c *Check) uninspectedFindings(broken []*facts.Container, pol *policy.Policy, ex []policy.Exemption, now time.Time) []Finding {
	out := make([]Finding, 0, len(broken))
	for _, m := range broken {
		f := c.finding(Result{Module: m.Name, Status: Error,
			Message: "cannot decide for " + m.Name + " without its configuration: " + m.InspectError}, c.severity(pol))
		applyExemptions(&f, ex, now)
		out = append(out, f)
	}
	return out
}

func runOne(c *Check, in Input, pol *policy.Policy, ex []policy.Exemption, full *facts.Snapshot) []Finding {
	cp, ok := pol.Checks[c.ID]
	if !ok {
		cp = policy.CheckPolicy{Severity: c.Severity, Params: policy.Default([]policy.CheckSpec{{ID: c.ID, Params: c.Params}}).Checks[c.ID].Params}
	}
	if cp.Severity == policy.Off {
		return []Finding{c.finding(Result{Status: Skip, Message: "disabled by policy (severity off)"}, policy.Off)}
	}
	if why := notApplicable(c, full); why != "" {
		return []Finding{c.finding(Result{Status: Skip, Message: why}, cp.Severity)}
	}
	if msg := missingFacts(c, full); msg != "" {
		f := c.finding(Result{Status: Error, Message: msg}, cp.Severity)
		applyExemptions(&f, ex, in.Snap.Time)
		return []Finding{f}
	}
	in.Params = cp.Params
	results := safeEval(c, &in)
	out := make([]Finding, 0, len(results))
	for _, r := range results {
		sev := cp.Severity
		if r.Severity != "" && r.Severity.Rank() < sev.Rank() {
			sev = r.Severity
		}
		f := c.finding(r, sev)
		applyExemptions(&f, ex, in.Snap.Time)
		out = append(out, f)
	}
	return out
}

func safeEval(c *Check, in *Input) (results []Result) {
	defer func() {
		if p := recover(); p != nil {
			results = []Result{{Status: Error, Message: fmt.Sprintf("check failed internally: %v", p)}}
		}
	}()
	results = c.Eval(in)
	if len(results) == 0 {
		results = []Result{{Status: Skip, Message: "nothing to check"}}
	}
	return results
}

// notApplicable is the reason a check does not run: a fact it needs does
// not apply to this run (probes turned off by the operator).
func notApplicable(c *Check, s *facts.Snapshot) string {
	for _, n := range c.Needs {
		if st := s.Fact(n); st.Status == facts.StatusNotApplicable {
			return st.Reason
		}
	}
	return ""
}

// factNames name the facts in error messages.
var factNames = map[facts.Fact]string{
	NeedEngine:          "the Docker engine",
	NeedEngineInventory: "the engine's images, volumes and settings",
	NeedContainers:      "the containers",
	NeedEdgeHubStats:    "edgeHub metrics",
	NeedEdgeAgentStats:  "edgeAgent metrics",
	NeedCerts:           "certificates",
	NeedProbes:          "network probes",
}

// missingFacts says which needed facts the snapshot lacks, and why.
func missingFacts(c *Check, s *facts.Snapshot) string {
	var missing []string
	seen := map[string]bool{}
	for _, n := range c.Needs {
		st := s.Fact(n)
		if st.Status != facts.StatusError {
			continue
		}
		name := factNames[n]
		if name == "" {
			name = string(n)
		}
		if (n == NeedContainers || n == NeedEngineInventory) && s.Fact(NeedEngine).Status == facts.StatusError {
			name = factNames[NeedEngine] // the engine did not answer: say so once, as before
		}
		msg := name + ": " + st.Reason
		if !seen[msg] {
			seen[msg] = true
			missing = append(missing, msg)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "cannot decide without " + strings.Join(missing, "; ")
}

// applyExemptions turns a failed or errored finding that an exemption
// covers into a skip that names the exemption; passes stay passes.
func applyExemptions(f *Finding, ex []policy.Exemption, now time.Time) {
	if f.Status != Fail && f.Status != Error {
		return
	}
	var expired []string
	for _, e := range ex {
		if !e.Matches(f.ID, f.Module) {
			continue
		}
		if e.Expired(now) {
			expired = append(expired, fmt.Sprintf("%s (expired %s)", e.Name, e.Expires.UTC().Format(time.RFC3339)))
			continue
		}
		if f.Evidence == nil {
			f.Evidence = map[string]any{}
		}
		f.Evidence["statusWithoutExemption"] = string(f.Status)
		f.Evidence["exemptionMessage"] = f.Message
		f.Status = Skip
		f.Exemption = e.Name
		f.Message = "exempted by policy (" + e.Name + "): " + e.Reason
		return
	}
	if len(expired) > 0 {
		f.Message += " [exemption no longer applies: " + strings.Join(expired, ", ") + "]"
		if f.Evidence == nil {
			f.Evidence = map[string]any{}
		}
		f.Evidence["expiredExemptions"] = expired
	}
}

func (c *Check) finding(r Result, sev policy.Severity) Finding {
	f := Finding{
		ID: c.ID, Title: c.Title, Section: c.Section, Seed: c.Seed, Module: r.Module, Subject: r.Subject,
		Severity: sev, Status: r.Status, Message: r.Message, Evidence: r.Evidence,
		Remediation: c.Remediation, Reference: c.Reference, IotedgeCheck: c.IotedgeCheck,
	}
	if r.Line > 0 {
		f.Location = &Location{Line: r.Line} // the file is the run's: locate fills it in
	}
	return f
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
	r.Evidence[k] = v
	return r
}
