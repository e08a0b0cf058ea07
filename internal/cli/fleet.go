package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/fleet"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// Environment variables of the fleet command.
const (
	EnvConnectionString = "IOTHUB_CONNECTION_STRING"
	EnvCAFile           = "IOTHUB_CA_FILE"
)

// fleetCmd is the service side: it queries the readiness module's twins
// across a hub and prints the fleet's readiness. Any failure is exit 2; the
// connection string and its key never appear in the output.
func fleetCmd(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	cs := fs.String("connection-string", "", "IoT Hub connection string of a shared access policy with registry read rights "+
		"(default $"+EnvConnectionString+", better: a flag shows in the process list)")
	format := fs.String("format", "table", "output format: table, json, csv (one line per device) or html (one self-contained page)")
	module := fs.String("module", "readiness", "module id of the readiness module in the deployments")
	heartbeat := fs.Duration("heartbeat", policy.DefaultHeartbeat,
		"heartbeat interval of modules whose desired policy sets no reporting.heartbeat; a heartbeat older than twice the interval is stale")
	timeout := fs.Duration("timeout", 30*time.Second, "upper bound for the whole query")
	caFile := fs.String("ca-file", env.Getenv(EnvCAFile), "PEM certificates to trust besides Azure's roots: a private CA, "+
		"a TLS-inspecting proxy, the emulator's Edge CA (default $"+EnvCAFile+")")
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "fleet: "+format+"\n", a...)
		return ExitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	render, ok := fleet.Formats[*format]
	if !ok {
		return fail("--format must be table, json, csv or html, got %q", *format)
	}
	if *heartbeat < policy.MinHeartbeat {
		return fail("--heartbeat must be at least %s, got %s", policy.MinHeartbeat, *heartbeat)
	}
	if *timeout <= 0 {
		return fail("--timeout must be positive, got %s", *timeout)
	}
	if _, err := fleet.ModuleQuery(*module); err != nil {
		return fail("--module: %v", err)
	}
	if *cs == "" {
		*cs = env.Getenv(EnvConnectionString)
	}
	if strings.TrimSpace(*cs) == "" {
		return fail("no connection string: set $%s (or pass --connection-string) to a policy's connection string, "+
			"e.g. az iot hub connection-string show -n HUB --policy-name registryRead", EnvConnectionString)
	}
	creds, err := fleet.ParseConnectionString(*cs)
	if err != nil {
		return fail("%v", err)
	}
	// Whatever an error carries, the key does not leave.
	hide := func(err error) string { return strings.ReplaceAll(err.Error(), creds.Key(), "****") }
	client, err := fleet.NewClient(creds, *caFile)
	if err != nil {
		return fail("%s", hide(err))
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	twins, err := fleet.Query(ctx, client, *module)
	var partial *fleet.PartialError
	switch {
	case errors.As(err, &partial):
		// What was read is shown, marked partial; the exit says it.
	case err != nil:
		return fail("%s", hide(fleet.Explain(err, creds.HostName)))
	case len(twins) == 0:
		fmt.Fprintf(env.Stderr, "fleet: no device of IoT Hub %s has a module named %q: nothing to report. "+
			"Check --module against the module's name in your deployments, and that a deployment with it reached a device\n",
			creds.HostName, *module)
		return ExitIncomplete
	}
	view := fleet.Aggregate(*module, twins, time.Now(), *heartbeat)
	stats := client.Stats()
	if partial != nil {
		view.Partial = &fleet.Partial{DevicesRead: len(twins), PagesRead: stats.Pages,
			Error: hide(fleet.Explain(partial.Err, creds.HostName))}
	}
	if err := render(env.Stdout, view); err != nil {
		return fail("writing the view: %v", err)
	}
	if partial != nil {
		fmt.Fprintf(env.Stderr, "fleet: PARTIAL: %d devices read in %d pages, then %s; the devices of the pages not read are missing from the view\n",
			len(twins), stats.Pages, view.Partial.Error)
		return ExitIncomplete
	}
	return ExitOK
}
