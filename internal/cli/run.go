package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/daemon"
	"github.com/edge-readiness/edge-readiness/internal/edgeenv"
	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/procmem"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
	"github.com/edge-readiness/edge-readiness/internal/workload"
)

// runCmd is module mode: policy from the module twin, findings to IoT Hub
// through edgeHub, until SIGTERM.
func runCmd(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	c := common{environ: env.environ()}
	c.register(fs, env.Getenv)
	metricsAddr := fs.String("metrics-addr", DefaultMetricsAddr, "where to serve Prometheus metrics (/metrics); the policy's exporter settings override it; empty turns it off")
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(env.Stderr, "run: %v\n", err)
		return ExitUsage
	}
	edge, err := edgeenv.Load(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "run: %v\n", err)
		return ExitUsage
	}
	if c.policyFile != "" {
		fmt.Fprintln(env.Stderr, "run: --policy is for check; in module mode the policy comes from the module twin")
		return ExitUsage
	}
	scrub := redact.NewScrubber()
	log, err := c.logger(env.Stdout, scrub)
	if err != nil {
		fmt.Fprintf(env.Stderr, "run: %v\n", err)
		return ExitUsage
	}
	log = log.With().Str("module", edge.ModuleID).Logger()
	log.Info().Str("version", Version).Str("device", edge.DeviceID).Str("gateway", edge.GatewayHostname).Msg("starting")

	wl, err := workload.New(edge.WorkloadURI)
	if err != nil {
		fmt.Fprintf(env.Stderr, "run: %v\n", err)
		return ExitUsage
	}
	client, err := connect(ctx, edge, wl, log)
	_ = wl.Close()  // the trust bundle is read; the gatherer has its own client for the certificates
	if err != nil { // only when ctx ended
		log.Info().Msg("stopped before connecting")
		return ExitOK
	}
	defer client.Close()

	specs := checks.Specs(checks.All())
	runner := &policyRunner{c: &c, scrub: scrub, self: edge.ModuleID}
	defer runner.Close()
	metrics := sink.NewMetrics(sink.MetricsLabels{IoTHub: edge.IoTHubHostname, EdgeDevice: edge.DeviceID, Version: Version})
	page := sink.NewPage()
	exp := &exporter{handler: metrics.Handler(), page: page, flagAddr: *metricsAddr, log: log}
	defer exp.stop()
	d := &daemon.Daemon{
		Hub:   client,
		Cycle: runner,
		Specs: specs,
		// The twin first: the policy ack and summary, then the messages, then the metrics endpoint and its page.
		Sinks:    []sink.Sink{sink.NewTwin(client), sink.NewD2C(client, sink.DefaultOutput, sink.DefaultMaxQueue), metrics, page},
		Scrubber: scrub,
		Log:      log,
		OnPolicy: exp.apply,
		// Between cycles the module idles for minutes with the cycle's
		// garbage still mapped: a forced collection and the return of the
		// freed pages (a few milliseconds a cycle) keep the resident set
		// near the live heap instead of near the last cycle's peak. After
		// the first cycle, the pages of the binary only start-up used
		// (package initialisation, cel-go's and protobuf's above all) go
		// back to the kernel too.
		Idle: idle(log),
	}
	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error().Err(err).Msg("module mode ended")
		return ExitNotReady
	}
	return ExitOK
}

// idle returns module mode's Idle hook: the garbage of each cycle returned
// to the system and, once, the start-up pages of the binary paged out.
func idle(log zerolog.Logger) func() {
	var once sync.Once
	return func() {
		debug.FreeOSMemory()
		once.Do(func() {
			r, err := procmem.ReleaseStartupPages()
			if err != nil {
				log.Debug().Err(err).Msg("start-up pages of the binary not released")
				return
			}
			log.Debug().Int("mappings", r.Mappings).Int64("residentBeforeKiB", r.ResidentBefore>>10).
				Int64("residentAfterKiB", r.ResidentAfter>>10).Msg("released the start-up pages of the binary")
		})
	}
}

// connect fetches the trust bundle and connects, retrying with backoff.
// Without the trust bundle it never connects: there is no insecure fallback.
func connect(ctx context.Context, edge edgeenv.Env, wl *workload.Client, log zerolog.Logger) (*hub.Client, error) {
	backoff := time.Second
	for {
		roots, _, err := wl.TrustBundle(ctx)
		if err == nil {
			var client *hub.Client
			client, err = hub.Dial(ctx, edge, roots, log)
			if err == nil {
				log.Info().Msg("connected to edgeHub")
				return client, nil
			}
		}
		log.Warn().Err(err).Dur("retryIn", backoff).Msg("cannot connect to edgeHub")
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// policyRunner replaces the gatherer when the policy's metrics endpoints
// change, keeping the runner and so the history trend checks read.
type policyRunner struct {
	c      *common
	scrub  *redact.Scrubber
	self   string
	runner *cycle.Runner
	key    string
}

func (p *policyRunner) Run(ctx context.Context, pol cycle.PolicyRef) *report.Report {
	key := pol.Policy.Metrics.EdgeHub + "|" + pol.Policy.Metrics.EdgeAgent
	switch {
	case p.runner == nil:
		p.runner = p.c.runner(p.c.gatherer(pol.Policy), p.scrub)
		p.runner.Self = p.self
	case key != p.key:
		p.Close() // the old gatherer's Docker, workload and metrics connections
		p.runner.Gatherer = p.c.gatherer(pol.Policy)
	}
	p.key = key
	cctx, cancel := context.WithTimeout(ctx, p.c.timeout)
	defer cancel()
	return p.runner.Run(cctx, pol)
}

// Close releases the current gatherer's connections.
func (p *policyRunner) Close() {
	if p.runner == nil {
		return
	}
	if c, ok := p.runner.Gatherer.(io.Closer); ok {
		_ = c.Close()
	}
}
