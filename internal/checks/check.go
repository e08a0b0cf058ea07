// Package checks turns a facts snapshot into findings. Each check is a pure
// function of the snapshot (and the previous one, for checks that compare
// cycles) and its parameters; the runner does the shared work: severity from
// policy, facts a check needs, exemptions, panic isolation.
package checks

import (
	"fmt"
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

// Sections of the catalog (../shared/CHECKS.md).
const (
	SecDevice     = "Device configuration"
	SecDeployment = "Deployment"
	SecContainers = "Container management"
	SecNetworking = "Networking"
	SecSolution   = "Solution management"
	SecSecurity   = "Security"
	SecOperations = "Operations"
)

// Fact requirements a check can declare.
const (
	NeedDocker         = "docker"
	NeedEdgeAgentStats = "metrics:edgeAgent"
	NeedEdgeHubStats   = "metrics:edgeHub"
	NeedCerts          = "certs"
	NeedProbes         = "probes"
)

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
	Needs        []string
	Params       []policy.ParamSpec
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
}

// Counts tells whether the finding counts against readiness.
func (f *Finding) Counts() bool {
	return (f.Status == Fail || f.Status == Error) && (f.Severity == policy.Critical || f.Severity == policy.Warning)
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
	var out []Finding
	for _, c := range all {
		out = append(out, runOne(c, in, pol, ex)...)
	}
	return out
}

func runOne(c *Check, in Input, pol *policy.Policy, ex []policy.Exemption) []Finding {
	cp, ok := pol.Checks[c.ID]
	if !ok {
		cp = policy.CheckPolicy{Severity: c.Severity, Params: policy.Default([]policy.CheckSpec{{ID: c.ID, Params: c.Params}}).Checks[c.ID].Params}
	}
	if cp.Severity == policy.Off {
		return []Finding{c.finding(Result{Status: Skip, Message: "disabled by policy (severity off)"}, policy.Off)}
	}
	if off := probesOff(c, in.Snap); off != "" {
		return []Finding{c.finding(Result{Status: Skip, Message: off}, cp.Severity)}
	}
	if msg := missingFacts(c, in.Snap); msg != "" {
		f := c.finding(Result{Status: Error, Message: msg}, cp.Severity)
		applyExemptions(&f, ex, in.Snap.Time)
		return []Finding{f}
	}
	in.Params = cp.Params
	results := safeEval(c, &in)
	out := make([]Finding, 0, len(results))
	for _, r := range results {
		sev := cp.Severity
		if r.Severity != "" && rank(r.Severity) < rank(sev) {
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

// probesOff is the reason a probe-based check does not run, when the operator turned probes off.
func probesOff(c *Check, s *facts.Snapshot) string {
	for _, n := range c.Needs {
		if n == NeedProbes && s.ProbesOff != "" {
			return s.ProbesOff
		}
	}
	return ""
}

func missingFacts(c *Check, s *facts.Snapshot) string {
	var missing []string
	for _, n := range c.Needs {
		switch n {
		case NeedDocker:
			if !s.DockerOK() {
				missing = append(missing, "the Docker engine: "+s.DockerError)
			}
		case NeedCerts:
			if s.Certs == nil {
				missing = append(missing, "certificates: not gathered")
			}
		case NeedProbes:
			if s.Probes == nil && s.Clock == nil && s.Certs == nil {
				missing = append(missing, "network probes: not run")
			}
		case NeedEdgeAgentStats, NeedEdgeHubStats:
			name := strings.TrimPrefix(n, "metrics:")
			sc := s.Metrics[name]
			switch {
			case sc == nil:
				missing = append(missing, name+" metrics: not scraped")
			case !sc.OK():
				missing = append(missing, name+" metrics: "+sc.Error)
			}
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

func rank(s policy.Severity) int {
	switch s {
	case policy.Critical:
		return 3
	case policy.Warning:
		return 2
	case policy.Info:
		return 1
	}
	return 0
}

func (c *Check) finding(r Result, sev policy.Severity) Finding {
	return Finding{
		ID: c.ID, Title: c.Title, Section: c.Section, Seed: c.Seed, Module: r.Module, Subject: r.Subject,
		Severity: sev, Status: r.Status, Message: r.Message, Evidence: r.Evidence,
		Remediation: c.Remediation, Reference: c.Reference, IotedgeCheck: c.IotedgeCheck,
	}
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
