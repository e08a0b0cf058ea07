package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// These tests guard against what a long-running module leaks per cycle: a
// connection, its goroutines, a buffer. A leak of one connection a cycle
// (issue: a workload API client made every cycle and never closed) grows
// every figure below by hundreds over the run; the bounds allow for what a
// healthy process varies by (a kept-alive connection opened or closed, the
// runtime's own goroutines, the emulator's bookkeeping).
//
// The earlier soak that reported a flat RSS missed that leak because it
// looked at one figure of one process (RSS, which the Go runtime's heap
// reuse smooths over for hundreds of cycles) and at no descriptor count.
// These tests count descriptors and goroutines, which move by exactly one
// unit per leaked connection, and the live heap after a GC, and they run the
// path that made the connection: module mode with IOTEDGE_WORKLOADURI set.

// leakBound is the growth allowed between the warm-up and the end of a run.
var leakBound = testenv.Bound{FDs: 4, Goroutines: 8, LiveHeap: 512 << 10}

// leakCycles is how many cycles a leak test runs after its warm-up:
// ER_LEAK_CYCLES overrides the default of 300.
func leakCycles(t *testing.T) int {
	if v := os.Getenv("ER_LEAK_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("ER_LEAK_CYCLES=%q: want a number of cycles ≥ 10", v)
		}
		return n
	}
	return 300
}

const leakWarmup = 20

// leakDevice is the device of the leak report: five custom modules, one of
// them exited, one with secrets in its env, next to edgeAgent and edgeHub.
// ER_LEAK_MODULES=50 makes it the 50-module device.
func leakDevice(t *testing.T) *testenv.Device {
	d := testenv.NewDevice(t)
	n := 5
	if v := os.Getenv("ER_LEAK_MODULES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 3 {
			t.Fatalf("ER_LEAK_MODULES=%q: want a number of modules ≥ 3", v)
		}
	}
	d.Modules = nil
	for i := 1; i <= n; i++ {
		d.Modules = append(d.Modules, testenv.CustomModule(fmt.Sprintf("module%02d", i),
			fmt.Sprintf("myregistry.azurecr.io/module%02d:1.2.3", i)))
	}
	d.Modules[1].Cmd = testenv.ExitCmd(3)
	d.Modules[1].WaitExit = true
	d.Modules[2].Env["DB_PASSWORD"] = "leak-test-secret-value"
	d.Start(t)
	return d
}

// startLeakEmulator starts the edgeHub emulator in-process (port 8883 of a
// loopback address of the test's own) with the module identity "readiness".
func startLeakEmulator(t *testing.T) *emulator.Emulator {
	t.Helper()
	return testenv.StartEmulator(t, emulator.Config{WorkloadDir: inProcessWorkloadDir(t)})
}

// metricsURL is the metrics endpoint of a system module by its address on
// the azure-iot-edge network: the names resolve only inside that network, and
// a lookup from the host would wait on a resolver this sandbox cannot reach.
func metricsURL(t *testing.T, d *testenv.Device, name string) string {
	t.Helper()
	ic := d.Inspect(t, name)
	n, ok := ic.NetworkSettings.Networks[facts.EdgeNetwork]
	if !ok || n.IPAddress == "" {
		t.Fatalf("%s has no address on %s", name, facts.EdgeNetwork)
	}
	return fmt.Sprintf("http://%s:%d/metrics", n.IPAddress, testenv.MetricsPort)
}

// The client library signs tokens through one HTTP client per process, made
// for the first workload socket it is given (amenzhinsky/iothub v0.9.1,
// common/sas.go: sync.Once), as a module has one socket for its life. Every
// emulator whose module runs in this test process therefore serves its
// workload socket at the same path.
var (
	workloadDirOnce sync.Once
	workloadDir     string
	workloadDirErr  error
)

func inProcessWorkloadDir(t *testing.T) string {
	t.Helper()
	workloadDirOnce.Do(func() { workloadDir, workloadDirErr = os.MkdirTemp("", "er-e2e-workload-") })
	if workloadDirErr != nil {
		t.Fatal(workloadDirErr)
	}
	return workloadDir
}

// moduleEnv is the environment edgeAgent would give the module, as the emulator knows it.
func moduleEnv(t *testing.T, emu *emulator.Emulator) map[string]string {
	t.Helper()
	return testenv.ModuleEnv(t, emu, "readiness")
}

// environOf lists env as os.Environ would.
func environOf(env map[string]string) func() []string {
	return func() []string {
		out := make([]string, 0, len(env))
		for k, v := range env {
			out = append(out, k+"="+v)
		}
		return out
	}
}

// ringWriter keeps the last bytes written to it in a buffer of fixed size,
// so that logs kept for failure messages do not grow the heap being measured.
type ringWriter struct {
	mu   sync.Mutex
	buf  []byte
	next int
	full bool
}

func newRingWriter(size int) *ringWriter { return &ringWriter{buf: make([]byte, size)} }

func (r *ringWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range p {
		r.buf[r.next] = b
		r.next++
		if r.next == len(r.buf) {
			r.next, r.full = 0, true
		}
	}
	return len(p), nil
}

func (r *ringWriter) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return string(r.buf[:r.next])
	}
	return string(r.buf[r.next:]) + string(r.buf[:r.next])
}

// latencies summarises direct-method answer times.
type latencies []time.Duration

func (l latencies) quantile(q float64) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// callRunChecks invokes runChecks and returns the time to the answer and the
// cycle's own duration from the answer.
func callRunChecks(t *testing.T, emu *emulator.Emulator, logs fmt.Stringer) (time.Duration, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	connect := 60 // the first call waits for the module to connect and subscribe
	res, err := emu.InvokeMethod(ctx, "readiness", emulator.MethodRequest{MethodName: "runChecks", Payload: json.RawMessage(`{}`),
		ConnectTimeoutInSeconds: &connect})
	took := time.Since(start)
	if err != nil || res.Status != 200 {
		t.Fatalf("runChecks: %+v, %v\nmodule logs:\n%s", res, err, logs)
	}
	var sum struct {
		DurationMs int64 `json:"durationMs"`
	}
	if err := json.Unmarshal(res.Payload, &sum); err != nil {
		t.Fatalf("runChecks answer: %v", err)
	}
	return took, time.Duration(sum.DurationMs) * time.Millisecond
}

// TestModuleModeLeavesNothingBehind runs module mode in-process against the
// emulator and the real engine, cycle after cycle through runChecks, and
// asserts that descriptors, goroutines and the live heap stay within a small
// bound of their value after the warm-up.
func TestModuleModeLeavesNothingBehind(t *testing.T) {
	testenv.RequireDocker(t)
	cycles := leakCycles(t)
	d := leakDevice(t)
	emu := startLeakEmulator(t)
	env := moduleEnv(t, emu)
	env["RuntimeLogLevel"] = "warn"

	logs := newRingWriter(64 << 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, cli.Env{Args: []string{"run", "--no-probes", "--docker-host", hostlock.DockerHost(),
			"--edgehub-metrics", metricsURL(t, d, facts.EdgeHub), "--edgeagent-metrics", metricsURL(t, d, facts.EdgeAgent)},
			Stdout: logs, Stderr: logs, Getenv: func(k string) string { return env[k] }, Environ: environOf(env)})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("module mode did not stop within 30 s")
		}
	}()

	var took, cycleTimes latencies
	for i := 0; i < leakWarmup; i++ {
		callRunChecks(t, emu, logs)
	}
	base := testenv.TakeResources(t)
	for i := 0; i < cycles; i++ {
		a, c := callRunChecks(t, emu, logs)
		took, cycleTimes = append(took, a), append(cycleTimes, c)
	}
	end := testenv.TakeResources(t)
	t.Logf("%d modules, %d cycles after %d of warm-up: %s -> %s", len(d.All()), cycles, leakWarmup, base, end)
	t.Logf("runChecks answer: median %s, p99 %s, max %s; cycle: median %s, p99 %s",
		took.quantile(0.5), took.quantile(0.99), took.quantile(1), cycleTimes.quantile(0.5), cycleTimes.quantile(0.99))
	for _, p := range end.Exceeds(base, leakBound) {
		t.Errorf("module mode leaks: %s", p)
	}
	if strings.Contains(logs.String(), "leak-test-secret-value") {
		t.Errorf("a secret reached the logs")
	}
}

// TestGathererLeavesNothingBehind runs check's gatherer many times in-process
// against the real engine, with the workload API of the emulator, and asserts
// the same bounds.
func TestGathererLeavesNothingBehind(t *testing.T) {
	testenv.RequireDocker(t)
	cycles := leakCycles(t)
	d := leakDevice(t)
	emu := startLeakEmulator(t)
	environ := []string{"IOTEDGE_WORKLOADURI=unix://" + emu.WorkloadSocket("readiness"), "IOTEDGE_GATEWAYHOSTNAME=" + moduleEnv(t, emu)["IOTEDGE_GATEWAYHOSTNAME"],
		"IOTEDGE_DEVICEID=" + d.DeviceID, "IOTEDGE_MODULEID=readiness"}

	g := facts.OpenGatherer(facts.Config{DockerHost: hostlock.DockerHost(), MetricsExplicit: true,
		EdgeHubMetrics: metricsURL(t, d, facts.EdgeHub), EdgeAgentMetrics: metricsURL(t, d, facts.EdgeAgent)})
	g.NoProbes = true
	g.DaemonJSONPath = filepath.Join(t.TempDir(), "absent.json")
	g.Environ = func() []string { return environ }
	gather := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := g.Gather(ctx)
		if s.DockerError != "" || s.Certs == nil || len(s.Certs.TrustBundle) == 0 || !s.Metrics[facts.EdgeHub].OK() {
			errs := ""
			if s.Certs != nil {
				errs = s.Certs.TrustBundleError
			}
			t.Fatalf("gather: docker %q, trust bundle %q, edgeHub metrics %+v", s.DockerError, errs, s.Metrics[facts.EdgeHub])
		}
	}
	for i := 0; i < leakWarmup; i++ {
		gather()
	}
	base := testenv.TakeResources(t)
	for i := 0; i < cycles; i++ {
		gather()
	}
	end := testenv.TakeResources(t)
	t.Logf("%d modules, %d gathers after %d of warm-up: %s -> %s", len(d.All()), cycles, leakWarmup, base, end)
	for _, p := range end.Exceeds(base, leakBound) {
		t.Errorf("the gatherer leaks: %s", p)
	}
	if err := g.Close(); err != nil {
		t.Errorf("closing the gatherer: %v", err)
	}
	closed := testenv.TakeResources(t)
	if closed.FDs > base.FDs {
		t.Errorf("closing the gatherer left %d descriptors open, %d before", closed.FDs, base.FDs)
	}
}

// procFigures reads a process's resident memory (VmRSS) and open descriptors.
func procFigures(t *testing.T, pid int) (rssKB int, fds int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the module's /proc status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			rssKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("counting the module's descriptors: %v", err)
	}
	return rssKB, len(ents)
}

// rssParts says how a process's resident set divides between anonymous
// memory (heap, stacks) and file-backed pages (the binary), from
// /proc/PID/status, for the figures in the logs.
func rssParts(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var anon, file string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			anon = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			file = strings.TrimSpace(v)
		}
	}
	return "anonymous " + anon + ", file-backed " + file
}

// TestModuleProcessStaysFlat runs the module binary as its own process, as on
// a device, against the emulator and the real engine, and reads its RSS and
// descriptors at cycle 100 and at the end: RSS within 2 MB of its value at
// cycle 100 and the same descriptor count (ER_LEAK_CYCLES=1000 for the full
// figures; ER_LEAK_MODULES=50 for the 50-module device).
func TestModuleProcessStaysFlat(t *testing.T) {
	testenv.RequireDocker(t)
	cycles := max(leakCycles(t), 200)
	d := leakDevice(t)
	emu := startLeakEmulator(t)
	env := moduleEnv(t, emu)
	env["RuntimeLogLevel"] = "warn"

	logs := newRingWriter(64 << 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bin := binary
	if b := os.Getenv("ER_MODULE_BINARY"); b != "" {
		bin = b // another build, for before-and-after figures
	}
	cmd := testenv.HermeticCommand(ctx, t, bin, "run", "--no-probes",
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
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()

	var took latencies
	var rss100, fds100 int
	checkpoints := map[int]bool{100: true, 500: true, 1000: true, cycles: true}
	for i := 1; i <= cycles; i++ {
		a, _ := callRunChecks(t, emu, logs)
		took = append(took, a)
		if !checkpoints[i] {
			continue
		}
		rss, fds := procFigures(t, cmd.Process.Pid)
		t.Logf("cycle %d: RSS %.1f MB (%s), %d open descriptors", i, float64(rss)/1024, rssParts(cmd.Process.Pid), fds)
		if i == 100 {
			rss100, fds100 = rss, fds
		}
	}
	rss, fds := procFigures(t, cmd.Process.Pid)
	t.Logf("%d modules, %d cycles: runChecks answer median %s, p99 %s, max %s", len(d.All()), cycles,
		took.quantile(0.5), took.quantile(0.99), took.quantile(1))
	if rss > rss100+2048 {
		t.Errorf("RSS grew from %.1f MB at cycle 100 to %.1f MB at cycle %d", float64(rss100)/1024, float64(rss)/1024, cycles)
	}
	if fds > fds100+1 {
		t.Errorf("open descriptors grew from %d at cycle 100 to %d at cycle %d", fds100, fds, cycles)
	}
}
