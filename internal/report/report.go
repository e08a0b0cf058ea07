// Package report is the report model: it turns findings into a versioned
// report (summary, readiness status, score, inventory) and diffs it against
// the previous one (diff.go). Its shapes on the wire (table, JSON, the twin's
// readiness document, SARIF, JUnit, messages) live with their sinks.
package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// SchemaVersion of the JSON report. Bump on a breaking change.
const SchemaVersion = "1.0"

// Readiness statuses, from best to worst: a critical failure makes a device
// notReady whatever else; checks that could not be decided because a
// deployment manifest leaves a variable unresolved make it incomplete (never
// ready: what was not decided may fail); failed warnings make it degraded.
const (
	Ready      = "ready"
	Degraded   = "degraded"
	Incomplete = "incomplete"
	NotReady   = "notReady"
)

// AllStatuses lists the readiness statuses, best first.
var AllStatuses = []string{Ready, Degraded, Incomplete, NotReady}

// Report is one cycle's result.
type Report struct {
	SchemaVersion string           `json:"schemaVersion"`
	GeneratedAt   time.Time        `json:"generatedAt"`
	DurationMs    int64            `json:"durationMs"`
	Device        Device           `json:"device"`
	Engine        *Engine          `json:"engine,omitempty"`
	Inventory     Inventory        `json:"inventory"`
	Policy        PolicyInfo       `json:"policy"`
	Summary       Summary          `json:"summary"`
	Findings      []checks.Finding `json:"findings"`
	// Notes say what was left out or lost (trimming, messages dropped offline).
	Notes []string `json:"notes,omitempty"`
}

// Device identifies the device and module, as far as known.
type Device struct {
	DeviceID    string `json:"deviceId,omitempty"`
	ModuleID    string `json:"moduleId,omitempty"`
	IoTHub      string `json:"iotHub,omitempty"`
	Hostname    string `json:"hostname,omitempty"`
	Gateway     string `json:"gatewayHostname,omitempty"`
	RuntimeMode string `json:"runtimeMode"` // module (inside IoT Edge), host, or manifest
	// Manifest is the deployment manifest the findings were decided from
	// (check --manifest): there is no device.
	Manifest string `json:"manifest,omitempty"`
}

// Engine is the container engine inventory.
type Engine struct {
	ServerVersion   string `json:"serverVersion"`
	APIVersion      string `json:"apiVersion"`
	OS              string `json:"os"`
	Arch            string `json:"arch"`
	OperatingSystem string `json:"operatingSystem"`
	KernelVersion   string `json:"kernelVersion"`
	NCPU            int    `json:"ncpu"`
	MemTotal        int64  `json:"memTotalBytes"`
	LoggingDriver   string `json:"loggingDriver"`
}

// Inventory counts what the engine runs and lists the IoT Edge modules.
type Inventory struct {
	Containers int      `json:"containers"`
	Images     int      `json:"images"`
	Volumes    int      `json:"volumes"`
	Modules    []Module `json:"modules"`
	// SourceErrors lists fact sources that failed, partly or wholly.
	SourceErrors []string `json:"sourceErrors,omitempty"`
}

// Module is one IoT Edge module container.
type Module struct {
	Name   string `json:"name"`
	Image  string `json:"image"`
	Status string `json:"status"`
	System bool   `json:"system,omitempty"`
}

// PolicyInfo says which policy was applied.
type PolicyInfo struct {
	Source     string `json:"source"` // default, file, twin
	Profile    string `json:"profile"`
	Version    int64  `json:"version,omitempty"` // twin desired $version
	Exemptions int    `json:"exemptions"`
	// Lifecycle is the newest entry of the IoT Edge lifecycle table the
	// runtime release was judged against ("1.6=2028-11-14"): a fleet sees
	// the devices judged with stale knowledge.
	Lifecycle string `json:"lifecycle,omitempty"`
}

// Summary is the verdict.
type Summary struct {
	Status   string                  `json:"status"`
	Score    int                     `json:"score"`
	Counts   Counts                  `json:"counts"`
	Sections map[string]SectionScore `json:"sections"`
	// Unresolved lists the variables, as written, that kept checks from
	// deciding (a deployment manifest's $VAR with no value); Incomplete says
	// in one line how many checks they left undecided and how to give them.
	Unresolved []string `json:"unresolved,omitempty"`
	Incomplete string   `json:"incomplete,omitempty"`
}

// Counts are finding counts by status and by severity of what failed.
type Counts struct {
	Total    int `json:"total"`
	Pass     int `json:"pass"`
	Fail     int `json:"fail"`
	Skip     int `json:"skip"`
	Error    int `json:"error"`
	Critical int `json:"critical"` // failed or errored critical findings
	Warning  int `json:"warning"`  // failed or errored warning findings
	Info     int `json:"info"`     // failed info findings (never count against readiness)
	// Undecided counts the critical and warning findings skipped because a
	// value they decide from is an unresolved variable (in Skip too).
	Undecided int `json:"undecided,omitempty"`
}

// SectionScore is the score of one catalog section.
type SectionScore struct {
	Score  int    `json:"score"`
	Status string `json:"status"`
}

// Input is what Build needs besides the findings.
type Input struct {
	Snap     *facts.Snapshot
	Policy   *policy.Policy
	Source   string
	Version  int64
	Started  time.Time
	Finished time.Time
	Device   Device
}

// Build assembles a report.
func Build(in Input, findings []checks.Finding) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		GeneratedAt:   in.Finished.UTC(),
		DurationMs:    in.Finished.Sub(in.Started).Milliseconds(),
		Device:        in.Device,
		Policy: PolicyInfo{Source: in.Source, Profile: in.Policy.Profile, Version: in.Version,
			Exemptions: len(in.Policy.Exemptions), Lifecycle: checks.LifecycleNewest(in.Policy)},
		Findings: findings,
	}
	if r.Findings == nil {
		r.Findings = []checks.Finding{}
	}
	s := in.Snap
	if e := s.Engine; e != nil {
		r.Engine = &Engine{ServerVersion: e.ServerVersion, APIVersion: e.APIVersion, OS: e.OS, Arch: e.Arch,
			OperatingSystem: e.OperatingSystem, KernelVersion: e.KernelVersion, NCPU: e.NCPU, MemTotal: e.MemTotal,
			LoggingDriver: e.LoggingDriver}
		if r.Device.Hostname == "" {
			r.Device.Hostname = e.Hostname
		}
	}
	r.Inventory = Inventory{Containers: len(s.Containers), Images: len(s.Images), Volumes: len(s.Volumes),
		Modules: []Module{}}
	for _, m := range s.Modules() {
		r.Inventory.Modules = append(r.Inventory.Modules, Module{Name: m.Name, Image: m.OriginalImage(),
			Status: m.State.Status, System: m.IsSystemModule()})
	}
	r.Inventory.SourceErrors = s.SourceProblems()
	r.Summary = Summarize(findings)
	return r
}

// Summarize computes status, counts and scores.
func Summarize(findings []checks.Finding) Summary {
	sum := Summary{Sections: map[string]SectionScore{}}
	bySection := map[string][]checks.Finding{}
	for i := range findings {
		f := &findings[i]
		bySection[f.Section] = append(bySection[f.Section], *f)
	}
	sum.Counts = count(findings)
	sum.Status = status(sum.Counts)
	sum.Score = score(findings)
	for sec, fs := range bySection {
		sum.Sections[sec] = SectionScore{Score: score(fs), Status: status(count(fs))}
	}
	sum.Unresolved, sum.Incomplete = incomplete(findings)
	return sum
}

// undecided tells whether a finding counts as a check that could not be
// decided for want of a variable's value.
func undecided(f *checks.Finding) bool {
	return f.Status == checks.Skip && len(f.Unresolved) > 0 && (f.Severity == policy.Critical || f.Severity == policy.Warning)
}

// incomplete lists the unresolved variables of the findings and, when some
// critical or warning check was left undecided by them, says so in one line
// with the flag that gives each its value.
func incomplete(findings []checks.Finding) ([]string, string) {
	var vars []string
	seen := map[string]bool{}
	checksLeft := map[string]bool{}
	for i := range findings {
		f := &findings[i]
		if f.Status != checks.Skip {
			continue
		}
		for _, v := range f.Unresolved {
			if !seen[v] {
				seen[v] = true
				vars = append(vars, v)
			}
		}
		if undecided(f) {
			checksLeft[f.ID] = true
		}
	}
	if len(checksLeft) == 0 {
		return vars, ""
	}
	sort.Strings(vars)
	var hints []string
	byHint := map[string][]string{}
	for _, v := range vars {
		h := checks.ResolveHint(v)
		if _, ok := byHint[h]; !ok {
			hints = append(hints, h)
		}
		byHint[h] = append(byHint[h], v)
	}
	parts := make([]string, 0, len(hints))
	for _, h := range hints {
		parts = append(parts, strings.Join(byHint[h], ", ")+" ("+h+")")
	}
	n := len(checksLeft)
	noun := "checks"
	if n == 1 {
		noun = "check"
	}
	return vars, fmt.Sprintf("%d %s could not be decided: not resolved: %s", n, noun, strings.Join(parts, "; "))
}

func count(findings []checks.Finding) Counts {
	var c Counts
	for i := range findings {
		f := &findings[i]
		c.Total++
		switch f.Status {
		case checks.Pass:
			c.Pass++
		case checks.Fail:
			c.Fail++
		case checks.Skip:
			c.Skip++
		case checks.Error:
			c.Error++
		}
		if undecided(f) {
			c.Undecided++
		}
		if f.Status == checks.Fail || f.Status == checks.Error {
			switch f.Severity {
			case policy.Critical:
				c.Critical++
			case policy.Warning:
				c.Warning++
			case policy.Info:
				c.Info++
			}
		}
	}
	return c
}

func status(c Counts) string {
	switch {
	case c.Critical > 0:
		return NotReady
	case c.Undecided > 0:
		return Incomplete
	case c.Warning > 0:
		return Degraded
	}
	return Ready
}

// score rates findings from 0 to 100, per check: a check counts once, at
// its worst subject (fifty passing modules do not outweigh one failing), as
// passed, failed as a warning, or failed as a critical (errors count as
// failures; info and skipped findings do not count, but a critical or
// warning check left undecided by an unresolved variable counts as a
// warning: a report that could not decide never scores 100). The checks are
// weighed as Polaris does: p = 100 × 2·passed / (2·passed + warnings + 2·criticals),
// 100 when nothing is scored. The score then keeps the readiness order:
// with no critical failure it is 50 + p/2 (50 to 100); with one or more it is
// 0.49·p (0 to 49). A device with a critical failure never scores above one
// without.
func score(findings []checks.Finding) int {
	const (
		unscored = iota
		passed
		undecidedRank
		warned
		critical
	)
	worst := map[string]int{}
	for i := range findings {
		f := &findings[i]
		r := unscored
		switch {
		case (f.Status == checks.Fail || f.Status == checks.Error) && f.Severity == policy.Critical:
			r = critical
		case (f.Status == checks.Fail || f.Status == checks.Error) && f.Severity == policy.Warning:
			r = warned
		case undecided(f):
			r = undecidedRank
		case f.Status == checks.Pass && (f.Severity == policy.Critical || f.Severity == policy.Warning):
			r = passed
		}
		worst[f.ID] = max(worst[f.ID], r)
	}
	var n [5]int
	for _, r := range worst {
		n[r]++
	}
	p := polaris(n[passed], n[warned]+n[undecidedRank], n[critical])
	if n[critical] > 0 {
		return int(0.49*p + 0.5)
	}
	return 50 + int(p/2+0.5)
}

// polaris is Polaris' score of passed, warning and critical checks, 0 to 100.
func polaris(passed, warnings, criticals int) float64 {
	den := 2*passed + warnings + 2*criticals
	if den == 0 {
		return 100
	}
	return float64(200*passed) / float64(den)
}

// CheckStatuses gives each check's worst status over its subjects, as a
// plain string: fail, then error, pass, skip. The twin summary carries it so
// that fleet queries and ADM metrics can count devices by check.
func CheckStatuses(r *Report) map[string]string {
	rank := map[checks.Status]int{checks.Skip: 1, checks.Pass: 2, checks.Error: 3, checks.Fail: 4}
	worst := map[string]checks.Status{}
	for _, f := range r.Findings {
		if cur, ok := worst[f.ID]; !ok || rank[f.Status] > rank[cur] {
			worst[f.ID] = f.Status
		}
	}
	out := make(map[string]string, len(worst))
	for id, st := range worst {
		out[id] = string(st)
	}
	return out
}
