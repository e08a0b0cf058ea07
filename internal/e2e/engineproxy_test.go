package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// engineEndpoints is every request the module may make of the Docker
// engine: reads only. README.md ("Read-only engine access") lists the same;
// TestEngineAccessIsReadOnly proves the module keeps to it.
var engineEndpoints = []string{
	"HEAD /_ping",
	"GET /version",
	"GET /info",
	"GET /containers/json",
	"GET /containers/{id}/json",
	"GET /images/json",
	"GET /volumes",
	"GET /networks",
	"GET /system/df",
}

// TestEngineAccessIsReadOnly runs `check` on a device through a recording
// proxy of the engine: every request is a GET or HEAD of an endpoint of
// engineEndpoints, and the run saw the device.
func TestEngineAccessIsReadOnly(t *testing.T) {
	d := testenv.NewDevice(t)
	d.Start(t)
	proxy := testenv.NewEngineProxy(t)

	r := runEnv(t, []string{"DOCKER_HOST=" + proxy.Host}, "check", "--format", "json")
	rep := jsonReport(t, r)
	if names := inventoryNames(rep); !slices.Contains(names, "edgeAgent") || !slices.Contains(names, "edgeHub") {
		t.Fatalf("the run through the proxy did not see the device: inventory modules %v, source errors %v",
			names, rep.Inventory.SourceErrors)
	}

	reqs := proxy.Requests()
	seen := map[string]int{}
	for _, q := range reqs {
		seen[q.String()]++
		if q.Method != "GET" && q.Method != "HEAD" {
			t.Errorf("the module wrote to the engine: %s %s (status %d)", q.Method, q.Path, q.Status)
		} else if !slices.Contains(engineEndpoints, q.String()) {
			t.Errorf("the module called %s (%s), which is not in the allow-list", q, q.Path)
		}
	}
	var used []string
	for e := range seen {
		used = append(used, e)
	}
	slices.Sort(used)
	for _, e := range used {
		t.Logf("%-28s x%d", e, seen[e])
	}
	// Every endpoint of the list is used: the list is no wider than needed.
	for _, e := range engineEndpoints {
		if seen[e] == 0 {
			t.Errorf("%s is in the allow-list but the module never called it (calls: %v)", e, used)
		}
	}
	// Each module's container was inspected once.
	if n, want := seen["GET /containers/{id}/json"], len(d.All()); n < want {
		t.Errorf("%d container inspects, want at least one per module (%d)", n, want)
	}

	// The API version is negotiated through the proxy: every request but
	// the ping names the engine's version.
	cli := testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range reqs {
		if q.Endpoint != "/_ping" && q.Version != v.APIVersion {
			t.Errorf("%s used API version %q, want the engine's %s", q, q.Version, v.APIVersion)
		}
	}
}

// TestInspectFailureIsAnError makes the engine's answer to the inspect of
// one custom module an error: the module stays in the inventory, every check
// that needs the containers reports one error for it naming the failed
// inspect, the summary counts those errors, and the other modules' findings
// are what they are without the failure.
func TestInspectFailureIsAnError(t *testing.T) {
	d := testenv.NewDevice(t)
	d.Start(t)
	broken, other := d.Modules[0].Name, d.Modules[1].Name
	proxy := testenv.NewEngineProxy(t)
	env := []string{"DOCKER_HOST=" + proxy.Host}

	before := jsonReport(t, runEnv(t, env, "check", "--format", "json"))

	const injected = "injected by the test: inspect failed"
	proxy.FailInspect(t, broken, injected)
	rep := jsonReport(t, runEnv(t, env, "check", "--format", "json"))

	failed := 0
	for _, q := range proxy.Requests() {
		if q.Injected {
			failed++
		}
	}
	if failed == 0 {
		t.Fatalf("the module never inspected %s through the proxy", broken)
	}

	if !slices.Contains(inventoryNames(rep), broken) {
		t.Errorf("inventory modules = %v, want %s among them", inventoryNames(rep), broken)
	}
	wantMsg := "cannot decide for " + broken + " without its configuration: inspecting container " + broken + ": "
	errs := 0
	for _, c := range checks.All() {
		if !slices.Contains(c.Needs, checks.NeedContainers) {
			continue
		}
		fs := findings(rep, c.ID, broken)
		if len(fs) != 1 {
			t.Errorf("%s: %d findings for %s, want 1:\n%s", c.ID, len(fs), broken, dump(rep))
			continue
		}
		f := fs[0]
		if f.Status != checks.Error || !strings.HasPrefix(f.Message, wantMsg) || !strings.Contains(f.Message, injected) {
			t.Errorf("%s/%s: %s %q, want an error %q...%q", c.ID, broken, f.Status, f.Message, wantMsg, injected)
			continue
		}
		errs++
	}
	if errs == 0 {
		t.Fatal("no check that needs the containers reported the failed inspect")
	}

	t.Logf("%d checks that need the containers report the failed inspect of %s, e.g. %q",
		errs, broken, one(t, rep, "module-resource-limits", broken).Message)

	// The summary counts them.
	allErrs, brokenErrs := 0, 0
	for _, f := range rep.Findings {
		if f.Status == checks.Error {
			allErrs++
			if f.Module == broken {
				brokenErrs++
			}
		}
	}
	if rep.Summary.Counts.Error != allErrs || brokenErrs != errs {
		t.Errorf("summary counts %d errors; the findings hold %d, %d of them about %s, want %d",
			rep.Summary.Counts.Error, allErrs, brokenErrs, broken, errs)
	}
	// ... and weighs them: an error of a critical or warning check counts
	// against readiness as a failure would.
	counted := 0
	for _, f := range rep.Findings {
		if f.Counts() {
			counted++
		}
	}
	if got := rep.Summary.Counts.Critical + rep.Summary.Counts.Warning; got != counted ||
		got <= before.Summary.Counts.Critical+before.Summary.Counts.Warning {
		t.Errorf("summary counts %d critical and %d warning findings against readiness (%d and %d without the failure); "+
			"%d findings count", rep.Summary.Counts.Critical, rep.Summary.Counts.Warning,
			before.Summary.Counts.Critical, before.Summary.Counts.Warning, counted)
	}
	if rep.Summary.Counts.Error <= before.Summary.Counts.Error {
		t.Errorf("summary counts %d errors, no more than without the failure (%d)",
			rep.Summary.Counts.Error, before.Summary.Counts.Error)
	}
	if !slices.ContainsFunc(rep.Inventory.SourceErrors, func(s string) bool {
		return strings.Contains(s, "inspecting container "+broken+": ") && strings.Contains(s, injected)
	}) {
		t.Errorf("inventory.sourceErrors = %q, want the failed inspect of %s", rep.Inventory.SourceErrors, broken)
	}

	// The other modules are unaffected.
	if f := one(t, rep, "module-resource-limits", other); f.Status != checks.Pass {
		t.Errorf("module-resource-limits/%s: %s (%s), want pass", other, f.Status, f.Message)
	}
	type key struct{ id, module, subject string }
	was := map[key]checks.Finding{}
	for _, f := range before.Findings {
		if f.Module != broken {
			was[key{f.ID, f.Module, f.Subject}] = f
		}
	}
	for _, f := range rep.Findings {
		if f.Module == broken {
			continue
		}
		k := key{f.ID, f.Module, f.Subject}
		w, ok := was[k]
		delete(was, k)
		switch {
		case !ok:
			t.Errorf("new finding with the failed inspect: %s/%s%s %s (%s)", f.ID, f.Module, f.Subject, f.Status, f.Message)
		case w.Status != f.Status:
			t.Errorf("%s/%s%s: %s (%s), was %s (%s) without the failed inspect",
				f.ID, f.Module, f.Subject, f.Status, f.Message, w.Status, w.Message)
		}
	}
	for k, f := range was {
		t.Errorf("finding lost with the failed inspect: %s/%s%s %s (%s)", k.id, k.module, k.subject, f.Status, f.Message)
	}
}
