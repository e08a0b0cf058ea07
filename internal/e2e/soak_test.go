package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/sink"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// countingWriter keeps the tail of what is written and counts lines that
// contain a marker.
type countingWriter struct {
	mu     sync.Mutex
	ring   *ringWriter
	marker []byte
	n      int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.n += bytes.Count(p, w.marker)
	w.mu.Unlock()
	return w.ring.Write(p)
}

func (w *countingWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// soakEmulator starts an emulator as strict as edgeHub, with tokens that
// expire after a few seconds, over the same state and workload socket each
// time (an edgeHub restart).
func soakEmulator(t *testing.T, host, state, workload string) *emulator.Emulator {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		emu, err := emulator.New(emulator.Config{StateDir: state, WorkloadDir: workload, ServiceAddr: "127.0.0.1:0",
			MQTTAddr: net.JoinHostPort(host, hostlock.EdgeHubPort), GatewayHostname: host,
			Modules: map[string]emulator.ModuleIdentity{"readiness": {}},
			EdgeHub: emulator.EdgeHubConfig{ReauthPeriod: 300 * time.Millisecond, TokenMaxAge: soakTokenAge,
				MethodSubscriptionDelay: soakSubscriptionDelay}})
		if err == nil {
			if err = emu.Start(context.Background()); err == nil {
				return emu
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("starting the emulator: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// soakTokenAge is how long a connection's token lives in the soak: edgeHub
// drops the module that often (an hour on a device), 50 times or more in
// the soak's hundred-odd seconds. It must outlive soakSubscriptionDelay,
// edgeHub's delay before a new subscription to methods takes calls (3 s on
// edgeHub), or no call gets through.
const (
	soakTokenAge          = 1500 * time.Millisecond
	soakSubscriptionDelay = 500 * time.Millisecond
)

// soakOffline is how long IoT Hub is unreachable in each offline period: two
// cycles or more at the soak's 10 s interval, so that reports and changes
// queue up and go out when it is back. soakOfflineRounds is how many rounds
// have one; the third is the one in which sensor stops.
const (
	soakOffline       = 21 * time.Second
	soakOfflineRounds = 3
)

// zeroSeconds is a stop timeout: no grace period.
var zeroSeconds = 0

// TestSoak runs the module binary against the strict emulator and the real
// engine through every disruption a real edgeHub brings: tokens expiring
// every few seconds (50 or more reconnections), 10 edgeHub restarts, 3
// offline periods of two cycles or more, desired-property changes throughout, a
// module stopped and started. Every policy version is acknowledged, the
// module's stop and start are each reported once, runChecks answers after
// every disruption, and RSS stays flat. ER_SOAK_ROUNDS lengthens it.
func TestSoak(t *testing.T) {
	testenv.RequireDocker(t)
	rounds := 10
	if v := os.Getenv("ER_SOAK_ROUNDS"); v != "" {
		if _, err := fmt.Sscan(v, &rounds); err != nil || rounds < 10 {
			t.Fatalf("ER_SOAK_ROUNDS=%q: want 10 or more", v)
		}
	}
	d := testenv.NewDevice(t)
	d.Start(t)
	state, workload := t.TempDir(), t.TempDir()
	host := hostlock.EdgeHubHost(t) // the same gateway across edgeHub's restarts
	emu := soakEmulator(t, host, state, workload)
	defer func() { emu.Close() }()
	env := moduleEnv(t, emu)
	env["RuntimeLogLevel"] = "info"
	if _, err := emu.UpdateDesired("readiness", map[string]any{"interval": "10s"}, false, ""); err != nil {
		t.Fatal(err)
	}

	logs := &countingWriter{ring: newRingWriter(256 << 10), marker: []byte(`"reconnected to edgeHub"`)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := testenv.HermeticCommand(ctx, t, binary, "run", "--no-probes", "--metrics-addr", "",
		"--edgehub-metrics", metricsURL(t, d, facts.EdgeHub), "--edgeagent-metrics", metricsURL(t, d, facts.EdgeAgent))
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	cmd.Env = mergeEnv(os.Environ(), list)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the module did not stop cleanly on SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("the module did not stop within 15 s of SIGTERM")
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nmodule logs (tail):\n%s", append(args, tail(logs.ring.String(), 6000))...)
	}
	wait := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			select {
			case err := <-exited:
				fail("the module exited while waiting for %s: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				fail("timed out after %s waiting for %s", timeout, what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	acked := func(version float64) func() bool {
		return func() bool {
			tw, err := emu.GetTwin("readiness")
			if err != nil {
				return false
			}
			b, _ := json.Marshal(tw.Properties.Reported)
			var rep struct {
				Policy struct {
					Version float64 `json:"version"`
					Status  string  `json:"status"`
				} `json:"policy"`
			}
			return json.Unmarshal(b, &rep) == nil && rep.Policy.Version == version && rep.Policy.Status == "applied"
		}
	}
	runChecks := func(after string) {
		t.Helper()
		// Methods become available a few seconds after each (re)subscription, as on edgeHub.
		wait("runChecks to answer after "+after, 60*time.Second, func() bool {
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			connect := 5
			res, err := emu.InvokeMethod(c, "readiness", emulator.MethodRequest{MethodName: "runChecks", Payload: json.RawMessage(`{}`),
				ConnectTimeoutInSeconds: &connect})
			return err == nil && res.Status == 200
		})
	}
	desiredVersion := func() float64 {
		tw, err := emu.GetTwin("readiness")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(tw.Properties.Desired)
		var v struct {
			Version float64 `json:"$version"`
		}
		_ = json.Unmarshal(b, &v)
		return v.Version
	}
	soakStart := time.Now()
	wait("the first policy acknowledgement", 90*time.Second, acked(desiredVersion()))
	runChecks("start-up")
	rssStart, fdsStart := procFigures(t, cmd.Process.Pid)

	restarts, offline := 0, 0
	for round := 1; round <= rounds; round++ {
		// edgeHub restarts (with its state: twins, queued messages).
		if err := emu.Close(); err != nil {
			t.Fatal(err)
		}
		emu = soakEmulator(t, host, state, workload)
		restarts++

		// A desired-property change, acknowledged whatever else happens.
		ratio := 0.10 + float64(round%5)/100
		if _, err := emu.UpdateDesired("readiness", map[string]any{"checks": map[string]any{
			"disk-space": map[string]any{"params": map[string]any{"criticalFreeRatio": ratio}}}}, false, ""); err != nil {
			t.Fatal(err)
		}
		wait(fmt.Sprintf("round %d: the acknowledgement of policy version %v", round, desiredVersion()), 120*time.Second, acked(desiredVersion()))

		switch round {
		case 3:
			// sensor (busybox sleep) ignores SIGTERM: kill it at once rather than after the 10 s grace.
			if err := d.Client().ContainerStop(context.Background(), "sensor", container.StopOptions{Timeout: &zeroSeconds}); err != nil {
				t.Fatal(err)
			}
		case 6:
			if err := d.Client().ContainerStart(context.Background(), "sensor", container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
		}

		// IoT Hub unreachable for a few cycles.
		if round <= soakOfflineRounds {
			emu.SetOffline(true)
			time.Sleep(soakOffline)
			emu.SetOffline(false)
			offline++
		}
		runChecks(fmt.Sprintf("round %d", round))
		t.Logf("round %d done after %s", round, time.Since(soakStart).Round(100*time.Millisecond))
	}

	// Every status change of sensor, reported once: the stop, then the start.
	wait("the change messages of sensor's stop and start", 120*time.Second, func() bool {
		return len(sensorChanges(emu)) >= 2
	})
	time.Sleep(5 * time.Second) // a duplicate would arrive meanwhile
	got := sensorChanges(emu)
	if strings.Join(got, ",") != "fail,pass" {
		t.Errorf("modules-running changes for sensor = %v, want fail then pass, once each", got)
	}
	reconnects := logs.count()
	rssEnd, fdsEnd := procFigures(t, cmd.Process.Pid)
	t.Logf("soak: %d rounds, %d edgeHub restarts, %d offline periods, %d reconnections (token expiries and restarts); RSS %.1f MB -> %.1f MB, %d -> %d descriptors",
		rounds, restarts, offline, reconnects, float64(rssStart)/1024, float64(rssEnd)/1024, fdsStart, fdsEnd)
	if reconnects < 50 {
		t.Errorf("only %d reconnections: the soak must see at least 50 token expiries", reconnects)
	}
	if rssEnd > rssStart+4096 {
		t.Errorf("RSS grew from %.1f MB to %.1f MB", float64(rssStart)/1024, float64(rssEnd)/1024)
	}
	if strings.Contains(logs.ring.String(), "module mode stalled") {
		t.Errorf("the module declared itself stalled")
	}
}

// sensorChanges lists, in order, the statuses that the change messages of
// modules-running for sensor announced (a resend that edgeHub marks
// mqtt-dup is the same message: counted once).
func sensorChanges(emu *emulator.Emulator) []string {
	var out []string
	for _, m := range emu.Messages(emulator.MessageFilter{ModuleID: "readiness"}) {
		if m.Properties["messageType"] != sink.TypeChange || m.Properties["checkId"] != "modules-running" || m.Properties["mqtt-dup"] == "true" {
			continue
		}
		var c sink.ChangeMessage
		if json.Unmarshal(m.Payload(), &c) != nil || c.Change.Module != "sensor" {
			continue
		}
		out = append(out, c.Change.To)
	}
	return out
}
