package facts_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// factEdgeEnv is the fact the example source provides; a real one is a
// constant of package facts that checks name in their Needs.
const factEdgeEnv facts.Fact = "example:edgeEnv"

// edgeEnvSource is the worked example of README's "Adding a source": in
// package facts it would be one file, registered with one line in
// Gatherer.sources(). It fills its part of the snapshot (the IoT Edge
// variables of the module's environment) and says how it went, per fact.
type edgeEnvSource struct{}

func (edgeEnvSource) Name() string { return "example-env" }

func (edgeEnvSource) Gather(_ context.Context, run *facts.Run) facts.SourceRun {
	env := map[string]string{}
	for _, kv := range run.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "IOTEDGE_") {
			env[k] = v
		}
	}
	if len(env) == 0 {
		why := "no IOTEDGE_ variable: not running as an IoT Edge module"
		return facts.SourceRun{Status: facts.StatusNotApplicable, Reason: why,
			Facts: map[facts.Fact]facts.FactState{factEdgeEnv: {Status: facts.StatusNotApplicable, Reason: why}}}
	}
	run.Snap.Env = env
	return facts.SourceRun{Status: facts.StatusOK, Facts: map[facts.Fact]facts.FactState{factEdgeEnv: {Status: facts.StatusOK}}}
}

var _ facts.Source = edgeEnvSource{}

// Example_addingASource runs the example source as the gatherer runs each
// source, inside a module and outside one.
func Example_addingASource() {
	for _, environ := range [][]string{{"IOTEDGE_DEVICEID=gateway-01", "PATH=/bin"}, {"PATH=/bin"}} {
		run := &facts.Run{Snap: &facts.Snapshot{}, Environ: environ}
		sr := edgeEnvSource{}.Gather(context.Background(), run)
		fmt.Println(sr.Status, sr.Facts[factEdgeEnv].Reason, run.Snap.Env)
	}
	// Output:
	// ok  map[IOTEDGE_DEVICEID:gateway-01]
	// notApplicable no IOTEDGE_ variable: not running as an IoT Edge module map[]
}
