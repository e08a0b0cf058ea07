// Command edgehub-emulator runs the edgeHub / workload API / IoT Hub service
// emulator of package emulator: edgeHub's MQTT endpoint for modules, one
// workload API socket per module and an HTTP service API to drive and
// observe them. It logs JSON to stdout and stops cleanly on SIGTERM or
// SIGINT. Built with CGO_ENABLED=0 it runs in a FROM scratch container as
// the edgeHub container of a simulated device.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/emulator"
)

// moduleFlag collects repeated -module NAME flags.
type moduleFlag []string

func (m *moduleFlag) String() string { return strings.Join(*m, ",") }

func (m *moduleFlag) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*m = append(*m, name)
		}
	}
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgehub-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       emulator.Config
		modules   moduleFlag
		logLevel  string
		fleetSize int
	)
	fs.StringVar(&cfg.DeviceID, "device-id", emulator.DefaultDeviceID, "IoT Edge device id")
	fs.StringVar(&cfg.IoTHubHostname, "iothub-hostname", emulator.DefaultIoTHubHostname, "IoT Hub hostname modules authenticate against")
	fs.StringVar(&cfg.GatewayHostname, "gateway-hostname", emulator.DefaultGatewayHostname,
		"device hostname edgeHub's server certificate is issued for (the certificate also names edgeHub, localhost, 127.0.0.1 and ::1)")
	fs.Var(&modules, "module", "module identity to register (repeatable, or comma-separated); its key and generation id are generated once and kept in -state-dir, never printed")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "directory persisting the Edge CA, module keys, twins and messages (empty: nothing persists)")
	fs.StringVar(&cfg.MQTTAddr, "mqtt-addr", emulator.DefaultMQTTAddr, "MQTT over TLS listen address")
	fs.StringVar(&cfg.ServiceAddr, "service-addr", emulator.DefaultServiceAddr, "HTTP listen address of the IoT Hub service API and /emulator endpoints")
	fs.StringVar(&cfg.ServiceTLSAddr, "service-tls-addr", "",
		"HTTPS listen address of the same service API, authenticated like IoT Hub with the policy iothubowner, "+
			"whose key is kept in <state-dir>/service-policy.json (empty disables; needs -state-dir)")
	fs.IntVar(&fleetSize, "fleet", 0, "seed N more devices (fleet-0001 ...) whose readiness module twins hold a mix of statuses, "+
		"failing checks and heartbeats, for POST /devices/query and the fleet command")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", emulator.DefaultMetricsAddr, "Prometheus /metrics listen address (empty disables)")
	fs.StringVar(&cfg.WorkloadDir, "workload-dir", "", "directory of the workload API sockets <dir>/<module>.sock (default <state-dir>/workload, or a temporary directory)")
	fs.StringVar(&cfg.MetricsFile, "metrics-file", "", "Prometheus text file served verbatim at /metrics (default: generated edgehub_* metrics)")
	fs.IntVar(&cfg.MaxMessages, "max-messages", emulator.DefaultMaxMessages, "device-to-cloud messages kept (oldest dropped first)")
	fs.IntVar(&cfg.BillingBlockSize, "billing-block-size", emulator.DefaultBillingBlockSize,
		"block in bytes of the billing meter at /emulator/billing (4096: basic and standard tiers; 512: free tier)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	eh := &cfg.EdgeHub
	fs.DurationVar(&eh.ReauthPeriod, "reauth-period", emulator.DefaultReauthPeriod,
		"how often live connections are re-authenticated; an expired token closes its connection (negative: never)")
	fs.DurationVar(&eh.TokenClockSkew, "token-clock-skew", emulator.DefaultTokenClockSkew,
		"grace after a SAS token's expiry, at connect and re-authentication (negative: none)")
	fs.DurationVar(&eh.TokenMaxAge, "token-max-age", 0,
		"treat every token as expired this long after its connection was made (0: tokens live until their own expiry, as on edgeHub)")
	fs.DurationVar(&eh.MethodSubscriptionDelay, "method-subscription-delay", emulator.DefaultMethodSubscriptionDelay,
		"delay before a direct-method subscription receives calls (negative: none)")
	fs.DurationVar(&eh.ReportedSyncInterval, "reported-sync-interval", emulator.DefaultReportedSyncInterval,
		"minimum interval between two upstream syncs of reported properties")
	fs.BoolVar(&eh.Offline, "offline", false, "start with IoT Hub unreachable (PUT /emulator/offline switches it)")
	fs.DurationVar(&eh.OfflineTwinDelay, "offline-twin-delay", emulator.DefaultOfflineTwinDelay,
		"how long a twin read takes while IoT Hub is unreachable (negative: none)")
	fs.DurationVar(&eh.MinTwinSyncPeriod, "min-twin-sync-period", emulator.DefaultMinTwinSyncPeriod,
		"when IoT Hub is reachable again, re-read a module's twin only if not read within this period (negative: always)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edgehub-emulator [flags]\n\n"+
			"Emulates edgeHub (MQTT for modules), the IoT Edge workload API and IoT Hub's service API.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if cfg.ServiceTLSAddr != "" && cfg.StateDir == "" {
		fmt.Fprintln(stderr, "-service-tls-addr needs -state-dir: the service policy key is kept there")
		return 2
	}
	if fleetSize < 0 {
		fmt.Fprintf(stderr, "-fleet must not be negative, got %d\n", fleetSize)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintf(stderr, "-log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
	if len(modules) > 0 {
		cfg.Modules = map[string]emulator.ModuleIdentity{}
		for _, m := range modules {
			cfg.Modules[m] = emulator.ModuleIdentity{}
		}
	}

	e, err := emulator.New(cfg)
	if err != nil {
		log.Error("cannot create the emulator", "err", err)
		return 1
	}
	ids := e.Modules()
	sort.Strings(ids)
	if len(ids) == 0 {
		log.Warn("no module identity registered: pass -module NAME")
	}
	if cfg.StateDir == "" {
		log.Warn("no -state-dir: the Edge CA, keys, twins and messages are lost on exit")
	}
	// The fleet is seeded before the service API listens: a query never
	// sees a half-seeded hub.
	if fleetSize > 0 {
		if err := e.SeedFleetTwins("readiness", fleetSize, sampleFleet(time.Now())); err != nil {
			log.Error("cannot seed the fleet", "err", err)
			_ = e.Close()
			return 1
		}
		log.Info("fleet seeded", "devices", fleetSize, "module", "readiness")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := e.Start(ctx); err != nil {
		log.Error("cannot start the emulator", "err", err)
		return 1
	}
	<-ctx.Done()
	log.Info("signal received, stopping")
	if err := e.Close(); err != nil {
		log.Error("stop", "err", err)
		return 1
	}
	return 0
}
