package facts

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fact is a kind of fact a check can need. Checks declare facts, never the
// source that provides them: adding a source never edits a check.
type Fact string

// The facts a snapshot can hold.
const (
	// FactEngine: the engine's version, OS, architecture and memory, and its
	// networks.
	FactEngine Fact = "engine"
	// FactEngineInventory: the engine's images, volumes and daemon-wide
	// settings (GET /info: proxies, default log driver). A source that does
	// not record it has it in the state of FactEngine.
	FactEngineInventory Fact = "engine:inventory"
	// FactContainers: the containers and their configuration (inspect).
	FactContainers Fact = "containers"
	// FactEdgeHubMetrics and FactEdgeAgentMetrics: the runtime's metrics pages.
	FactEdgeHubMetrics   Fact = "metrics:edgeHub"
	FactEdgeAgentMetrics Fact = "metrics:edgeAgent"
	// FactCerts: the trust bundle and the chain edgeHub presents.
	FactCerts Fact = "certs"
	// FactProbes: DNS and TLS probes of IoT Hub and registries, and the clock reference.
	FactProbes Fact = "probes"
)

// Outcome statuses of a source and of each fact it provides.
const (
	StatusOK            = "ok"
	StatusError         = "error"
	StatusNotApplicable = "notApplicable"
)

// FactState is what a snapshot knows of one fact: ok, error with the
// reason, or not applicable with the reason.
type FactState struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Source string `json:"source,omitempty"`
}

// SourceRun records what one source did in the cycle that took the snapshot.
type SourceRun struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	DurationMs int64  `json:"durationMs"`
	// Facts are the facts the source provides, each with its own state (a
	// source may provide one fact and not another: certificates without probes).
	Facts map[Fact]FactState `json:"facts,omitempty"`
	// Partial lists what failed while the source as a whole answered (one
	// container's inspect, the image list): the subjects it concerns are
	// reported as errors by the checks that need them.
	Partial []string `json:"partial,omitempty"`
}

// Source fills its part of a snapshot in one cycle and says how it went.
// Sources run concurrently; one that needs another's facts waits for it with
// Run.Wait. A source writes only its own fields of the snapshot.
type Source interface {
	Name() string
	Gather(ctx context.Context, run *Run) SourceRun
}

// Run is one cycle's gathering: the snapshot being filled and the sources'
// completion, for sources that build on others.
type Run struct {
	Snap    *Snapshot
	Environ []string

	mu   sync.Mutex
	done map[string]chan struct{}
}

// Wait blocks until the named source has finished (or ctx ends, or no such
// source runs this cycle). It tells whether the source finished.
func (r *Run) Wait(ctx context.Context, source string) bool {
	ch, ok := r.done[source]
	if !ok {
		return false
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// SetMetrics stores one endpoint's scrape; metrics sources run concurrently.
func (r *Run) SetMetrics(name string, sc *Scrape) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Snap.Metrics == nil {
		r.Snap.Metrics = map[string]*Scrape{}
	}
	r.Snap.Metrics[name] = sc
}

// runSources runs every source concurrently on s and records their runs in
// s.Sources, in the order given.
func runSources(ctx context.Context, s *Snapshot, environ []string, sources []Source) {
	run := &Run{Snap: s, Environ: environ, done: make(map[string]chan struct{}, len(sources))}
	for _, src := range sources {
		run.done[src.Name()] = make(chan struct{})
	}
	runs := make([]SourceRun, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(run.done[src.Name()])
			start := time.Now()
			sr := gatherSafely(ctx, src, run)
			sr.Name = src.Name()
			sr.DurationMs = time.Since(start).Milliseconds()
			runs[i] = sr
		}()
	}
	wg.Wait()
	s.Sources = runs
}

// gatherSafely turns a source's panic into an error outcome: one broken
// source must not take the cycle down.
func gatherSafely(ctx context.Context, src Source, run *Run) (sr SourceRun) {
	defer func() {
		if p := recover(); p != nil {
			sr = SourceRun{Status: StatusError, Reason: fmt.Sprintf("source %s failed internally: %v", src.Name(), p)}
		}
	}()
	return src.Gather(ctx, run)
}

// Fact returns what the snapshot knows of f: the state recorded by the
// source that provides it, or an error saying that no source gathered it.
// A snapshot with no source record (built by hand, as tests do) has its
// states derived from what it holds.
func (s *Snapshot) Fact(f Fact) FactState {
	if len(s.Sources) == 0 {
		return s.derivedFact(f)
	}
	for _, sr := range s.Sources {
		if st, ok := sr.Facts[f]; ok {
			st.Source = sr.Name
			return st
		}
	}
	if f == FactEngineInventory { // snapshots saved before the fact existed
		return s.Fact(FactEngine)
	}
	if f == FactManifest {
		return FactState{Status: StatusNotApplicable, Reason: NotOnDevice}
	}
	return FactState{Status: StatusError, Reason: "not gathered"}
}

func (s *Snapshot) derivedFact(f Fact) FactState {
	ok := FactState{Status: StatusOK}
	missing := func(why string) FactState { return FactState{Status: StatusError, Reason: why} }
	switch f {
	case FactEngine, FactEngineInventory, FactContainers:
		if s.Engine == nil {
			if s.DockerError != "" {
				return missing(s.DockerError)
			}
			return missing("not gathered")
		}
		if f == FactContainers {
			for _, p := range s.PartialErrors {
				if strings.HasPrefix(p, listingContainers) {
					return missing(p)
				}
			}
		}
		return ok
	case FactEdgeHubMetrics, FactEdgeAgentMetrics:
		sc := s.Metrics[strings.TrimPrefix(string(f), "metrics:")]
		switch {
		case sc == nil:
			return missing("not scraped")
		case !sc.OK():
			return missing(sc.Error)
		}
		return ok
	case FactCerts:
		if s.Certs == nil {
			return missing("not gathered")
		}
		return ok
	case FactManifest:
		if s.Deployment == nil {
			return FactState{Status: StatusNotApplicable, Reason: NotOnDevice}
		}
		return ok
	case FactProbes:
		if s.ProbesOff != "" {
			return FactState{Status: StatusNotApplicable, Reason: s.ProbesOff}
		}
		if s.Probes == nil && s.Clock == nil && s.Certs == nil {
			return missing("not run")
		}
		return ok
	}
	return missing("not gathered")
}

// SourceProblems lists the sources that failed, wholly or partly, each as
// "source: reason", for the report.
func (s *Snapshot) SourceProblems() []string {
	if len(s.Sources) == 0 {
		return s.derivedProblems()
	}
	var out []string
	for _, sr := range s.Sources {
		if sr.Status == StatusError {
			out = append(out, sr.Name+": "+sr.Reason)
		}
		for _, p := range sr.Partial {
			out = append(out, sr.Name+": "+p)
		}
	}
	return out
}

// factStates gives every fact in fs the same state.
func factStates(status, reason string, fs ...Fact) map[Fact]FactState {
	m := make(map[Fact]FactState, len(fs))
	for _, f := range fs {
		m[f] = FactState{Status: status, Reason: reason}
	}
	return m
}

// derivedProblems is SourceProblems of a snapshot with no source record
// (built by hand, as tests do), read from its fields.
func (s *Snapshot) derivedProblems() []string {
	var out []string
	if s.DockerError != "" {
		out = append(out, "docker: "+s.DockerError)
	}
	out = append(out, s.PartialErrors...)
	names := make([]string, 0, len(s.Metrics))
	for n := range s.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if sc := s.Metrics[n]; !sc.OK() {
			out = append(out, "metrics "+n+": "+sc.Error)
		}
	}
	return out
}
