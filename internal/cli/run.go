package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/redact"
)

// runCmd is module mode. Until the IoT Hub sink exists it runs a cycle every
// interval and writes each report as one JSON line to stdout.
func runCmd(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var c common
	c.register(fs, env.Getenv)
	once := fs.Bool("once", false, "run one cycle and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	pol, err := c.loadPolicy()
	if err != nil {
		fmt.Fprintf(env.Stderr, "run: %v\n", err)
		return ExitUsage
	}
	scrub := redact.NewScrubber()
	log, err := c.logger(env.Stderr, scrub)
	if err != nil {
		fmt.Fprintf(env.Stderr, "run: %v\n", err)
		return ExitUsage
	}
	runner := c.runner(pol.Policy, scrub)
	out := scrub.Writer(env.Stdout)
	log.Info().Str("version", Version).Dur("interval", pol.Policy.Interval).Str("policy", pol.Source).Msg("starting")
	for {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		r := runner.Run(cctx, pol)
		cancel()
		if b, err := json.Marshal(r); err == nil {
			_, _ = out.Write(append(b, '\n'))
		}
		log.Info().Str("status", r.Summary.Status).Int("score", r.Summary.Score).Int("critical", r.Summary.Counts.Critical).
			Int("warning", r.Summary.Counts.Warning).Int64("durationMs", r.DurationMs).Msg("cycle done")
		if *once {
			return ExitOK
		}
		select {
		case <-ctx.Done():
			log.Info().Msg("stopping")
			return ExitOK
		case <-time.After(pol.Policy.Interval):
		}
	}
}
