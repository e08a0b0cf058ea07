package checks

// The runner: it does the work every check shares (the facts a check needs,
// not applicable and missing facts, severity and exemptions from the policy,
// panic isolation, the finding's metadata), so that a check is only Eval.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

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
		f := c.finding(Result{Module: m.Name, Status: Error, Undecided: NeedContainers,
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
	if msg, failed := missingFacts(c, full); msg != "" {
		f := c.finding(Result{Status: Error, Message: msg}, cp.Severity)
		f.Remediation = undecidedFix(failed)
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
			results = []Result{{Status: Error, Message: fmt.Sprintf("check failed internally: %v", p), Undecided: factInternal}}
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

// missingFacts says which needed facts the snapshot lacks, and why, and
// names them (the engine for what the engine did not answer).
func missingFacts(c *Check, s *facts.Snapshot) (string, []facts.Fact) {
	var missing []string
	var failed []facts.Fact
	seen := map[string]bool{}
	for _, n := range c.Needs {
		st := s.Fact(n)
		if st.Status != facts.StatusError {
			continue
		}
		name, fact := factNames[n], n
		if name == "" {
			name = string(n)
		}
		if (n == NeedContainers || n == NeedEngineInventory) && s.Fact(NeedEngine).Status == facts.StatusError {
			name, fact = factNames[NeedEngine], NeedEngine // the engine did not answer: say so once, as before
		}
		msg := name + ": " + st.Reason
		if !seen[msg] {
			seen[msg] = true
			missing = append(missing, msg)
			failed = append(failed, fact)
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	return "cannot decide without " + strings.Join(missing, "; "), failed
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
	if r.Status == Error {
		// What would let the check decide, not its remedy for a failure.
		switch {
		case r.Undecided == factInternal:
			f.Remediation = internalFix
		case r.Undecided != "":
			f.Remediation = undecidedFix([]facts.Fact{r.Undecided})
		default:
			f.Remediation = undecidedFix(c.Needs)
		}
	}
	return f
}
