package report

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func f(id string, sev policy.Severity, st checks.Status) checks.Finding {
	return checks.Finding{ID: id, Title: id, Section: checks.SecDeployment, Severity: sev, Status: st, Message: id + " " + string(st)}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name     string
		findings []checks.Finding
		status   string
		score    int
		critical int
		warning  int
	}{
		{"nothing", nil, Ready, 100, 0, 0},
		{"all pass", []checks.Finding{f("a", policy.Critical, checks.Pass), f("b", policy.Warning, checks.Pass)}, Ready, 100, 0, 0},
		{"info failure never counts", []checks.Finding{f("a", policy.Critical, checks.Pass), f("b", policy.Info, checks.Fail)}, Ready, 100, 0, 0},
		{"skips do not move the score", []checks.Finding{f("a", policy.Critical, checks.Pass), f("b", policy.Critical, checks.Skip)}, Ready, 100, 0, 0},
		// p = 100 × 2·1 / (2·1 + 1) = 66.7; no critical: 50 + p/2 = 83
		{"warning degrades", []checks.Finding{f("a", policy.Critical, checks.Pass), f("b", policy.Warning, checks.Fail)}, Degraded, 83, 0, 1},
		// p = 100 × 2·1 / (2·1 + 2·1) = 50; a critical: 0.49·p = 24.5
		{"critical is not ready", []checks.Finding{f("a", policy.Warning, checks.Pass), f("b", policy.Critical, checks.Fail)}, NotReady, 25, 1, 0},
		{"critical error is not ready", []checks.Finding{f("a", policy.Critical, checks.Error)}, NotReady, 0, 1, 0},
		// p = 100 × 2·3 / (2·3 + 1 + 2·1) = 66.7; 0.49·p = 32.7
		{"mixed", []checks.Finding{f("a", policy.Critical, checks.Pass), f("b", policy.Warning, checks.Pass), f("c", policy.Critical, checks.Pass),
			f("d", policy.Warning, checks.Fail), f("e", policy.Critical, checks.Fail)}, NotReady, 33, 1, 1},
		// A check counts once, at its worst subject: a passes for three modules and fails for one.
		// p = 100 × 2·1 / (2·1 + 2·1) = 50 (checks a failed, b passed); 0.49·p = 24.5
		{"a check counts once at its worst subject", []checks.Finding{f("a", policy.Critical, checks.Pass), f("a", policy.Critical, checks.Pass),
			f("a", policy.Critical, checks.Pass), f("a", policy.Critical, checks.Fail), f("b", policy.Critical, checks.Pass)}, NotReady, 25, 1, 0},
		// Many warnings and no critical still score above any critical failure: p = 2/(2+10) = 16.7, 50 + 8.3
		{"warnings only stay above any critical", append([]checks.Finding{f("a", policy.Critical, checks.Pass)},
			f("w1", policy.Warning, checks.Fail), f("w2", policy.Warning, checks.Fail), f("w3", policy.Warning, checks.Fail),
			f("w4", policy.Warning, checks.Fail), f("w5", policy.Warning, checks.Fail), f("w6", policy.Warning, checks.Fail),
			f("w7", policy.Warning, checks.Fail), f("w8", policy.Warning, checks.Fail), f("w9", policy.Warning, checks.Fail),
			f("w10", policy.Warning, checks.Fail)), Degraded, 58, 0, 10},
	}
	undecided := func(id string, sev policy.Severity, v string) checks.Finding {
		x := f(id, sev, checks.Skip)
		x.Unresolved = []string{v}
		return x
	}
	tests = append(tests, []struct {
		name     string
		findings []checks.Finding
		status   string
		score    int
		critical int
		warning  int
	}{
		// A check left undecided by a variable counts as a warning: p = 2/(2+1), 50 + 33.3.
		{"undecided is incomplete, never ready", []checks.Finding{f("a", policy.Critical, checks.Pass), undecided("b", policy.Critical, "$A")}, Incomplete, 83, 0, 0},
		{"undecided outranks failed warnings", []checks.Finding{f("a", policy.Warning, checks.Fail), undecided("b", policy.Warning, "$A")}, Incomplete, 50, 0, 1},
		{"a critical failure outranks undecided", []checks.Finding{f("a", policy.Critical, checks.Fail), undecided("b", policy.Critical, "$A")}, NotReady, 0, 1, 0},
		{"an undecided info check leaves it ready", []checks.Finding{f("a", policy.Critical, checks.Pass), undecided("b", policy.Info, "$A")}, Ready, 100, 0, 0},
		// The check counts at its worst subject: undecided for one module, passed for another.
		{"undecided beats passed for the same check", []checks.Finding{f("a", policy.Critical, checks.Pass), undecided("a", policy.Critical, "$A"),
			f("b", policy.Critical, checks.Pass)}, Incomplete, 83, 0, 0},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.findings)
			if s.Status != tt.status || s.Score != tt.score || s.Counts.Critical != tt.critical || s.Counts.Warning != tt.warning {
				t.Errorf("Summarize = status %s score %d counts %+v, want %s %d critical %d warning %d",
					s.Status, s.Score, s.Counts, tt.status, tt.score, tt.critical, tt.warning)
			}
			if s.Counts.Total != len(tt.findings) {
				t.Errorf("total = %d", s.Counts.Total)
			}
		})
	}
}

// TestIncompleteSummary: the one line names every variable once, grouped
// by the flag that gives it, and the count of checks left undecided.
func TestIncompleteSummary(t *testing.T) {
	u := func(id, mod, v string) checks.Finding {
		x := f(id, policy.Critical, checks.Skip)
		x.Module, x.Unresolved = mod, []string{v}
		return x
	}
	s := Summarize([]checks.Finding{u("a", "m1", "${DOCKER_GID}"), u("a", "m2", "${DOCKER_GID}"), u("b", "m1", "${MODULES.filter}"),
		u("c", "m1", "$CONTAINER_REGISTRY_ADDRESS"), f("d", policy.Critical, checks.Pass)})
	if s.Status != Incomplete || s.Counts.Undecided != 4 {
		t.Errorf("status %s undecided %d", s.Status, s.Counts.Undecided)
	}
	if fmt.Sprint(s.Unresolved) != "[$CONTAINER_REGISTRY_ADDRESS ${DOCKER_GID} ${MODULES.filter}]" {
		t.Errorf("unresolved %q", s.Unresolved)
	}
	want := "3 checks could not be decided: not resolved: $CONTAINER_REGISTRY_ADDRESS, ${DOCKER_GID} (set it in the environment or in " +
		"the file given with --env-file); ${MODULES.filter} (give --modules-dir, the folder of the modules' module.json)"
	if s.Incomplete != want {
		t.Errorf("line\n%s\nwant\n%s", s.Incomplete, want)
	}
	if sec := s.Sections[checks.SecDeployment]; sec.Status != Incomplete {
		t.Errorf("section %+v", sec)
	}
}

// TestCriticalNeverScoresAbove: whatever the mix, a set of findings with a
// critical failure scores below every set without one.
func TestCriticalNeverScoresAbove(t *testing.T) {
	sevs := []policy.Severity{policy.Critical, policy.Warning, policy.Info}
	sts := []checks.Status{checks.Pass, checks.Fail, checks.Error, checks.Skip}
	rng := rand.New(rand.NewPCG(1, 2))
	maxCritical, minOther := -1, 101
	for range 5000 {
		n := 1 + rng.IntN(60)
		fs := make([]checks.Finding, n)
		for i := range fs {
			fs[i] = f(fmt.Sprintf("c%d", rng.IntN(40)), sevs[rng.IntN(len(sevs))], sts[rng.IntN(len(sts))])
		}
		s := Summarize(fs)
		if s.Counts.Critical > 0 {
			maxCritical = max(maxCritical, s.Score)
		} else {
			minOther = min(minOther, s.Score)
		}
	}
	if maxCritical < 0 || minOther > 100 || maxCritical >= minOther {
		t.Errorf("highest score with a critical failure %d, lowest without %d", maxCritical, minOther)
	}
}

func TestSectionScores(t *testing.T) {
	fs := []checks.Finding{f("a", policy.Critical, checks.Pass), f("b", policy.Critical, checks.Fail)}
	fs[1].Section = checks.SecSecurity
	s := Summarize(fs)
	if s.Sections[checks.SecDeployment].Score != 100 || s.Sections[checks.SecSecurity].Score != 0 ||
		s.Sections[checks.SecSecurity].Status != NotReady {
		t.Errorf("sections = %+v", s.Sections)
	}
}

func sampleReport() *Report {
	snap := &facts.Snapshot{
		Time:   time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Engine: &facts.Engine{ServerVersion: "20.10.11+azure-3", Hostname: "dev1", Arch: "x86_64"},
		Containers: []facts.Container{
			{Name: "edgeHub", Labels: map[string]string{facts.OwnerLabel: facts.OwnerValue, facts.OriginalImageLabel: "mcr.microsoft.com/azureiotedge-hub:1.5.21"}, State: facts.State{Status: "running"}},
			{Name: "unrelated", State: facts.State{Status: "running"}},
		},
		Metrics: map[string]*facts.Scrape{"edgeAgent": {Endpoint: "http://edgeAgent:9600/metrics", Error: "connection refused"}},
	}
	fs := []checks.Finding{
		f("modules-running", policy.Critical, checks.Pass),
		f("disk-space", policy.Critical, checks.Fail),
	}
	fs[0].Module = "edgeHub"
	fs[1].Remediation = "free some space"
	return Build(Input{Snap: snap, Policy: policy.Default(nil), Source: "default",
		Started: snap.Time, Finished: snap.Time.Add(1500 * time.Millisecond)}, fs)
}

func TestBuild(t *testing.T) {
	r := sampleReport()
	if r.SchemaVersion != SchemaVersion || r.DurationMs != 1500 || r.Device.Hostname != "dev1" {
		t.Errorf("report header = %+v", r)
	}
	if len(r.Inventory.Modules) != 1 || r.Inventory.Modules[0].Name != "edgeHub" || !r.Inventory.Modules[0].System ||
		r.Inventory.Containers != 2 {
		t.Errorf("inventory = %+v", r.Inventory)
	}
	if len(r.Inventory.SourceErrors) != 1 || !strings.Contains(r.Inventory.SourceErrors[0], "connection refused") {
		t.Errorf("source errors = %v", r.Inventory.SourceErrors)
	}
	if r.Summary.Status != NotReady {
		t.Errorf("status = %s", r.Summary.Status)
	}
}
