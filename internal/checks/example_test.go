package checks_test

import (
	"fmt"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// readOnlyRootfs is the worked example of README's "Adding a check": in the
// catalog it would sit in the file of its section (security.go) and be
// registered with one line in All(). Its id is not in the catalog.
var readOnlyRootfs = &checks.Check{
	Meta: checks.Meta{
		ID: "example-read-only-rootfs", Title: "Modules run with a read-only root filesystem",
		Section: checks.SecSecurity, Seed: "Example", Severity: policy.Info,
		Decides:     "Each module's ReadonlyRootfs, from its container.",
		Remediation: `Set "HostConfig": {"ReadonlyRootfs": true} in the module's createOptions.`,
		Needs:       []facts.Fact{checks.NeedContainers},
		Reads:       []facts.Setting{facts.SettingCreateOptions},
	},
	Eval: func(in *checks.Input) []checks.Result {
		var out []checks.Result
		for _, m := range in.Snap.Modules() {
			r := checks.Result{Module: m.Name, Status: checks.Pass, Message: m.Name + "'s root filesystem is read-only"}
			if !m.ReadonlyRootfs {
				r.Status, r.Message = checks.Fail, m.Name+" can write to its root filesystem"
			}
			out = append(out, r)
		}
		return out
	},
}

// Example_addingACheck runs the example check as the runner runs every
// check: on a snapshot with one module on each side, and on one without the
// containers fact, which the runner turns into an error.
func Example_addingACheck() {
	all := []*checks.Check{readOnlyRootfs}
	pol := policy.Default(checks.Specs(all))
	module := func(name string, ro bool) facts.Container {
		return facts.Container{Name: name, Labels: map[string]string{facts.OwnerLabel: facts.OwnerValue}, ReadonlyRootfs: ro}
	}
	snap := &facts.Snapshot{Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), Engine: &facts.Engine{},
		Containers: []facts.Container{module("filter", true), module("opcPublisher", false)}}
	for _, f := range checks.Run(all, checks.Input{Snap: snap}, pol) {
		fmt.Println(f.Status, f.Module, "-", f.Message)
	}
	broken := &facts.Snapshot{Time: snap.Time, Sources: []facts.SourceRun{{Name: facts.SourceDocker, Status: facts.StatusError,
		Facts: map[facts.Fact]facts.FactState{facts.FactContainers: {Status: facts.StatusError, Reason: "engine down"}}}}}
	for _, f := range checks.Run(all, checks.Input{Snap: broken}, pol) {
		fmt.Println(f.Status, "-", f.Message)
	}
	// Output:
	// pass filter - filter's root filesystem is read-only
	// fail opcPublisher - opcPublisher can write to its root filesystem
	// error - cannot decide without the Docker engine: engine down
}
