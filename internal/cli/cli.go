// Package cli implements the module's commands: `check` runs one cycle and
// prints the report; `run` is module mode.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/rules"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Exit codes.
const (
	ExitOK       = 0 // ready or degraded
	ExitNotReady = 1 // not ready
	ExitUsage    = 2 // usage or policy error
	// ExitIncomplete: the answer is incomplete. check: checks could not be
	// decided (a deployment manifest's variables left unresolved) and no
	// critical check failed. fleet: a query page failed after its retries
	// (what was read is printed, marked partial), or no device has the module.
	ExitIncomplete = 3
)

// Env is the process environment the commands see.
type Env struct {
	Args   []string
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Environ lists the whole environment, as os.Environ; the fact sources
	// read the IoT Edge variables (IOTEDGE_*, https_proxy) from it. Nil
	// means os.Environ. It must agree with Getenv: a test that fakes one
	// fakes both, or module mode in a test takes another path than on a device.
	Environ func() []string
}

// environ returns env.Environ, or os.Environ when it is nil.
func (env Env) environ() func() []string {
	if env.Environ != nil {
		return env.Environ
	}
	return os.Environ
}

const usage = `usage: edge-readiness <command> [flags]

commands:
  check   run the checks once, print the report, exit 1 when the device is not ready
  fix     write a deployment manifest with the safe fixes applied, and list what was not fixed and why
  run     module mode: run the checks every interval and report
  fleet   service side: the readiness of every device of an IoT hub, from the module twins
  rules   rules test FILE...: run the policy's user rules on saved inputs and compare with the expected statuses
  version print the version

run 'edge-readiness <command> -h' for the command's flags.
`

// Version is set at build time (-ldflags "-X .../cli.Version=...").
var Version = "dev"

// Main runs a command and returns the process exit code.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) < 1 {
		fmt.Fprint(env.Stderr, usage)
		return ExitUsage
	}
	switch env.Args[0] {
	case "check":
		return checkCmd(ctx, env, env.Args[1:])
	case "run":
		return runCmd(ctx, env, env.Args[1:])
	case "fix":
		return fixCmd(ctx, env, env.Args[1:])
	case "fleet":
		return fleetCmd(ctx, env, env.Args[1:])
	case "rules":
		return rulesCmd(ctx, env, env.Args[1:])
	case "version", "--version":
		fmt.Fprintln(env.Stdout, "edge-readiness", Version)
		return ExitOK
	case "-h", "--help", "help":
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "edge-readiness: unknown command %q\n\n%s", env.Args[0], usage)
	return ExitUsage
}

type common struct {
	policyFile       string
	dockerHost       string
	edgeHubMetrics   string
	edgeAgentMetrics string
	timeout          time.Duration
	self             string
	logLevel         string
	noProbes         bool
	environ          func() []string
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.policyFile, "policy", "", "policy file (JSON, same schema as the module twin's desired properties)")
	fs.StringVar(&c.dockerHost, "docker-host", "", "Docker engine address (default: $DOCKER_HOST or unix:///var/run/docker.sock)")
	fs.StringVar(&c.edgeHubMetrics, "edgehub-metrics", "", "edgeHub metrics URL (overrides the policy)")
	fs.StringVar(&c.edgeAgentMetrics, "edgeagent-metrics", "", "edgeAgent metrics URL (overrides the policy)")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "upper bound for one cycle")
	fs.BoolVar(&c.noProbes, "no-probes", false, "do not probe IoT Hub and registries nor read the reference time (air-gapped runs)")
	self := getenv("IOTEDGE_MODULEID")
	if self == "" {
		self = "readiness"
	}
	fs.StringVar(&c.self, "self", self, "this module's name, as the deployment names it")
	lvl := getenv("RuntimeLogLevel")
	if lvl == "" {
		lvl = "info"
	}
	fs.StringVar(&c.logLevel, "log-level", lvl, "log level: debug, info, warn, error")
}

// loadPolicy reads the policy file, or returns the default policy.
func (c *common) loadPolicy() (cycle.PolicyRef, error) {
	specs := checks.Specs(checks.All())
	if c.policyFile == "" {
		return cycle.PolicyRef{Policy: policy.Default(specs), Source: "default"}, nil
	}
	data, err := policy.ReadFile(c.policyFile)
	if err != nil {
		return cycle.PolicyRef{}, err
	}
	ref, err := decodePolicy(data, specs)
	if err != nil {
		return cycle.PolicyRef{}, fmt.Errorf("%s: %w", c.policyFile, err)
	}
	ref.Source = "file"
	return ref, nil
}

// decodePolicy decodes a policy document and compiles its rules.
func decodePolicy(data []byte, specs []policy.CheckSpec) (cycle.PolicyRef, error) {
	p, err := policy.Decode(data, specs)
	if err != nil {
		return cycle.PolicyRef{}, err
	}
	compiled, err := rules.Compile(p)
	if err != nil {
		return cycle.PolicyRef{}, err
	}
	return cycle.PolicyRef{Policy: p, Rules: compiled}, nil
}

func (c *common) logger(w io.Writer, scrub *redact.Scrubber) (zerolog.Logger, error) {
	lvl, err := parseLevel(c.logLevel)
	if err != nil {
		return zerolog.Nop(), err
	}
	return zerolog.New(scrub.Writer(w)).Level(lvl).With().Timestamp().Logger(), nil
}

// parseLevel accepts zerolog's names and the IoT Edge runtime's (RuntimeLogLevel: verbose, information, warning, ...).
func parseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(s) {
	case "verbose", "trace", "debug":
		return zerolog.DebugLevel, nil
	case "information", "info", "":
		return zerolog.InfoLevel, nil
	case "warning", "warn":
		return zerolog.WarnLevel, nil
	case "error", "fatal", "critical":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.InfoLevel, fmt.Errorf("unknown log level %q (debug, info, warn, error)", s)
}

// validate refuses metrics URLs with credentials: the endpoint appears in
// the report, which leaves the device. The value is not echoed.
func (c *common) validate() error {
	for _, f := range []struct{ name, url string }{{"edgehub-metrics", c.edgeHubMetrics}, {"edgeagent-metrics", c.edgeAgentMetrics}} {
		if hasUserinfo(f.url) {
			return fmt.Errorf("--%s must not carry a user or password", f.name)
		}
	}
	return nil
}

// hasUserinfo tells whether s carries a user or password, also when it is
// no proper URL ("user:pw@host:9600" parses with "user" as the scheme).
func hasUserinfo(s string) bool {
	u, err := url.Parse(s)
	if err == nil && u.Opaque == "" {
		return u.User != nil // an "@" in the path or query is no credential
	}
	return strings.Contains(s, "@")
}

// gatherer is the device's gatherer: the Docker engine, the metrics
// endpoints (flags over policy) and the network facts. Close releases it.
func (c *common) gatherer(pol *policy.Policy) *facts.Gatherer {
	cfg := facts.Config{
		DockerHost:       c.dockerHost,
		EdgeHubMetrics:   pol.Metrics.EdgeHub,
		EdgeAgentMetrics: pol.Metrics.EdgeAgent,
		MetricsExplicit:  pol.Metrics.Explicit,
	}
	if c.edgeHubMetrics != "" {
		cfg.EdgeHubMetrics, cfg.MetricsExplicit = c.edgeHubMetrics, true
	}
	if c.edgeAgentMetrics != "" {
		cfg.EdgeAgentMetrics, cfg.MetricsExplicit = c.edgeAgentMetrics, true
	}
	g := facts.OpenGatherer(cfg)
	g.NoProbes = c.noProbes
	if c.environ != nil {
		g.Environ = c.environ
	}
	return g
}

// runner runs the catalog on what g gathers.
func (c *common) runner(g cycle.Gatherer, scrub *redact.Scrubber) *cycle.Runner {
	return &cycle.Runner{Gatherer: g, Checks: checks.All(), Scrubber: scrub, Self: c.self}
}

func checkCmd(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	c := common{environ: env.environ()}
	c.register(fs, env.Getenv)
	format := fs.String("format", "table", "output format: "+strings.Join(sink.FormatNames(), ", "))
	src := registerSourceFlags(fs)
	wide := fs.Bool("wide", false, "table: write every row and every message whole, whatever the width (else the table fits COLUMNS, the terminal, or 80 columns)")
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "check: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(env.Stderr, "check: %v\n", err)
		return ExitUsage
	}
	output, ok := sink.Formats[*format]
	if !ok {
		fmt.Fprintf(env.Stderr, "check: --format must be one of %s, got %q\n", strings.Join(sink.FormatNames(), ", "), *format)
		return ExitUsage
	}
	pol, err := c.loadPolicy()
	if err != nil {
		fmt.Fprintf(env.Stderr, "check: %v\n", err)
		return ExitUsage
	}
	scrub := redact.NewScrubber()
	log, err := c.logger(env.Stderr, scrub)
	if err != nil {
		fmt.Fprintf(env.Stderr, "check: %v\n", err)
		return ExitUsage
	}
	if err := src.validate(); err != nil {
		fmt.Fprintf(env.Stderr, "check: %v\n", err)
		return ExitUsage
	}
	var device *facts.Gatherer
	g, err := src.gatherer(env.environ()(), func() cycle.Gatherer {
		device = c.gatherer(pol.Policy)
		return device
	})
	if device != nil {
		defer device.Close()
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "check: %v\n", err)
		return ExitUsage
	}
	runner := c.runner(g, scrub)
	var saveErr error
	if src.saveSnapshot != "" {
		runner.Gatherer = &savingGatherer{Gatherer: runner.Gatherer, path: src.saveSnapshot, pol: pol.Policy, scrub: scrub, err: &saveErr}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r := runner.Run(ctx, pol)
	log.Debug().Str("status", r.Summary.Status).Int("score", r.Summary.Score).Int64("durationMs", r.DurationMs).Msg("cycle done")
	if msg := noRuntime(r); msg != "" && src.bundle == "" {
		if *format == "table" {
			// One line instead of forty errors about a runtime that is not there.
			fmt.Fprintln(env.Stdout, msg)
			if saveErr != nil {
				fmt.Fprintf(env.Stderr, "check: %v\n", saveErr)
				return ExitUsage
			}
			return ExitNotReady
		}
		r.Notes = append(r.Notes, msg)
	}

	// The publisher scrubs the report before the sink renders it.
	rendered := output(env.Stdout)
	if t, ok := rendered.(*sink.Table); ok {
		t.Width = tableWidth(*wide, env)
	}
	out := sink.NewPublisher(scrub, rendered)
	ev := sink.Event{Time: r.GeneratedAt, Report: r, Changed: true, Rules: Rules(pol.Checks(checks.All()))}
	if src.manifest.path != "" && *format == "sarif" { // SARIF carries the fixes `fix` would make
		if ev.Fixes, err = src.manifest.fixes(env.environ()(), pol.Policy, c.self, scrub); err != nil {
			log.Warn().Err(err).Msg("the manifest's fixes are left out of SARIF")
		}
	}
	if err := out.Publish(ctx, ev); err != nil {
		fmt.Fprintf(env.Stderr, "check: %v\n", err)
		return ExitUsage
	}
	if saveErr != nil {
		// The report is out; the snapshot the user asked for is not.
		fmt.Fprintf(env.Stderr, "check: %v\n", saveErr)
		return ExitUsage
	}
	switch r.Summary.Status {
	case report.NotReady:
		return ExitNotReady
	case report.Incomplete:
		return ExitIncomplete
	}
	return ExitOK
}

// savingGatherer writes each snapshot it passes on to a file, scrubbed.
type savingGatherer struct {
	cycle.Gatherer
	path  string
	pol   *policy.Policy
	scrub *redact.Scrubber
	err   *error
}

func (g *savingGatherer) Gather(ctx context.Context) *facts.Snapshot {
	s := g.Gatherer.Gather(ctx)
	f, err := os.Create(g.path)
	if err != nil {
		*g.err = fmt.Errorf("saving the snapshot: %w", err)
		return s
	}
	err = SaveSnapshot(f, s, g.pol.AllowEnv, g.scrub)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		*g.err = fmt.Errorf("saving the snapshot to %s: %w", g.path, err)
		os.Remove(g.path) // no half-written file that --snapshot would refuse later
	}
	return s
}

// SaveSnapshot writes s as check --save-snapshot does: env values that no
// check decides on (nor the policy's redaction.allowEnv) replaced, and the
// whole document through the scrubber, which learns the snapshot's secrets first.
func SaveSnapshot(w io.Writer, s *facts.Snapshot, allowEnv []string, scrub *redact.Scrubber) error {
	rp := redact.NewPolicy(allowEnv)
	for i := range s.Containers {
		scrub.AddEnv(rp, s.Containers[i].Env)
	}
	return facts.WriteSnapshot(w, s, rp, "edge-readiness "+Version, func(s *facts.Snapshot) *facts.Snapshot {
		return sink.Scrub(scrub, s)
	})
}

// ExampleSnapshot is the saved snapshot of a simulated gateway that ships
// with the repository.
const ExampleSnapshot = "examples/gateway.snapshot.json"

// noRuntime says, in one line, that the engine answered but runs no IoT Edge
// runtime (no edgeAgent or edgeHub container), and where to see a real
// report instead; "" when there is a runtime or the engine did not answer.
func noRuntime(r *report.Report) string {
	if r.Engine == nil {
		return ""
	}
	for _, m := range r.Inventory.Modules {
		if m.System {
			return ""
		}
	}
	return fmt.Sprintf("no IoT Edge runtime on this Docker engine (%s %s): no edgeAgent or edgeHub container, so there is nothing to check; "+
		"to see a report of a real device, run: edge-readiness check --snapshot %s", r.Engine.OperatingSystem, r.Engine.ServerVersion, ExampleSnapshot)
}
