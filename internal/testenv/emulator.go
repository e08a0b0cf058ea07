package testenv

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// StartEmulator starts the edgeHub emulator in-process. The client library
// dials edgeHub on the gateway's port 8883, always: unless cfg names its
// MQTTAddr, the emulator listens on port 8883 of a loopback address of the
// test's own (hostlock.EdgeHubHost), which is also its gateway host name
// unless cfg names one, so that tests and packages with an emulator each can
// run side by side. It has the module identity "readiness" unless cfg names
// modules, a state directory of the test's unless cfg names one, and the
// service API on a free loopback port. It is closed when the test ends.
func StartEmulator(t testing.TB, cfg emulator.Config) *emulator.Emulator {
	t.Helper()
	if cfg.MQTTAddr == "" {
		host := hostlock.EdgeHubHost(t)
		cfg.MQTTAddr = net.JoinHostPort(host, hostlock.EdgeHubPort)
		if cfg.GatewayHostname == "" {
			cfg.GatewayHostname = host
		}
	}
	if cfg.ServiceAddr == "" {
		cfg.ServiceAddr = "127.0.0.1:0"
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Modules == nil {
		cfg.Modules = map[string]emulator.ModuleIdentity{"readiness": {}}
	}
	emu, err := emulator.New(cfg)
	if err != nil {
		t.Fatalf("testenv: emulator: %v", err)
	}
	if err := emu.Start(context.Background()); err != nil {
		t.Fatalf("testenv: starting the emulator: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu
}

// ModuleEnv is the environment edgeAgent would give the module, as the
// emulator knows it.
func ModuleEnv(t testing.TB, emu *emulator.Emulator, module string) map[string]string {
	t.Helper()
	list, err := emu.ModuleEnv(module)
	if err != nil {
		t.Fatalf("testenv: module env: %v", err)
	}
	env := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}
