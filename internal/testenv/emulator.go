package testenv

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/emulator"
)

// EdgeHubMQTTAddr is where the client library dials edgeHub: the gateway
// host name on port 8883, always. In-process emulators listen there, so the
// tests that start one must not run in parallel.
const EdgeHubMQTTAddr = "127.0.0.1:8883"

// StartEmulator starts the edgeHub emulator in-process on EdgeHubMQTTAddr,
// once the port is free (an earlier test's emulator may still be closing),
// with the module identity "readiness" unless cfg names modules, a state
// directory of the test's unless cfg names one, and the service API on a
// free loopback port. It is closed when the test ends.
func StartEmulator(t testing.TB, cfg emulator.Config) *emulator.Emulator {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := net.Listen("tcp", EdgeHubMQTTAddr)
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: port %s is still taken: %v", EdgeHubMQTTAddr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cfg.MQTTAddr = EdgeHubMQTTAddr
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
