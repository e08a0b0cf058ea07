package emulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeGatewayAddr is where the Node SDK's edge path connects: it dials
// IOTEDGE_GATEWAYHOSTNAME on the default MQTT port, 8883.
const nodeGatewayAddr = "127.0.0.1:8883"

// TestNodeSDKConformance runs Microsoft's Node.js device SDK
// (azure-iot-device + azure-iot-device-mqtt, pinned in
// testdata/nodesdk/package.json) unchanged against the emulator, as a module
// would run under IoT Edge, and checks each step through the service API.
// It needs node and npm; it skips without them unless CI=true. It binds the
// fixed port 8883 and may run npm install, so it belongs to the engine tier:
// skipped with -short.
func TestNodeSDKConformance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("engine tier only (node, npm and the fixed port 8883): skipped with -short; run `make test-e2e`")
	}
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are required when CI=true: %v %v", errNode, errNpm)
		}
		t.Skipf("node or npm not installed: %v %v", errNode, errNpm)
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "nodesdk"))
	if err != nil {
		t.Fatal(err)
	}
	ensureNodeModules(t, npm, dir)
	waitForFreePort(t, nodeGatewayAddr, 60*time.Second)

	cfg := testConfig(t)
	cfg.MQTTAddr = nodeGatewayAddr
	cfg.GatewayHostname = "localhost"
	e := startEmulator(t, cfg)
	if _, err := e.UpdateDesired(testModule, map[string]any{"profile": "production"}, false, ""); err != nil {
		t.Fatal(err)
	}
	id, _ := e.ModuleIdentity(testModule)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "conformance.js")
	cmd.Dir = dir
	cmd.Env = append(filteredEnv(),
		"IOTEDGE_WORKLOADURI=unix://"+e.WorkloadSocket(testModule),
		"IOTEDGE_DEVICEID="+e.cfg.DeviceID,
		"IOTEDGE_MODULEID="+testModule,
		"IOTEDGE_MODULEGENERATIONID="+id.GenerationID,
		"IOTEDGE_IOTHUBHOSTNAME="+e.cfg.IoTHubHostname,
		"IOTEDGE_GATEWAYHOSTNAME=localhost",
		"IOTEDGE_APIVERSION=2020-07-07",
		"IOTEDGE_AUTHSCHEME=sasToken",
	)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("conformance.js stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})
	// poll waits for cond, failing early when the script exits.
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("conformance.js exited (%v) while waiting for %s", err, what)
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	twinURL := e.ServiceURL() + "/twins/" + e.cfg.DeviceID + "/modules/" + testModule + "?api-version=2021-04-12"
	getTwin := func() ModuleTwin {
		var tw ModuleTwin
		if status, raw := doJSON(t, nil, "GET", twinURL, nil, &tw); status != 200 {
			t.Fatalf("get twin: %d %s", status, raw)
		}
		return tw
	}

	// 1. The module got its twin and patched reported properties.
	poll("reported properties", func() bool {
		c, _ := getTwin().Properties.Reported["conformance"].(map[string]any)
		return c["status"] == "reported"
	})
	tw := getTwin()
	if got := jsonString(t, tw.Properties.Reported["conformance"]); got != `{"initialProfile":"production","nested":{"a":1,"b":"two"},"sdk":"azure-iot-device","status":"reported"}` {
		t.Fatalf("reported conformance = %s", got)
	}
	if tw.ConnectionState != "Connected" {
		t.Fatalf("connectionState %q", tw.ConnectionState)
	}

	// 2. A desired update made through the service API reaches the module.
	poll("the desired properties subscription", func() bool {
		return e.IsSubscribed(testModule, "$iothub/twin/PATCH/properties/desired/?$version=1")
	})
	nonce := fmt.Sprintf("go-%d", time.Now().UnixNano())
	var patched ModuleTwin
	if status, raw := doJSON(t, nil, "PATCH", twinURL,
		map[string]any{"properties": map[string]any{"desired": map[string]any{"conformanceDesired": nonce}}}, &patched); status != 200 {
		t.Fatalf("patch desired: %d %s", status, raw)
	}
	desiredVersion := jsonString(t, patched.Properties.Desired["$version"])
	poll("the module to acknowledge the desired update", func() bool {
		ack, _ := getTwin().Properties.Reported["desiredAck"].(map[string]any)
		return ack["value"] == nonce
	})
	ack := getTwin().Properties.Reported["desiredAck"].(map[string]any)
	if jsonString(t, ack["version"]) != desiredVersion {
		t.Fatalf("module saw desired $version %v, want %s", ack["version"], desiredVersion)
	}

	// 3. sendOutputEvent('readiness', ...) is recorded with its properties.
	var list MessageList
	poll("the output message", func() bool {
		doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/messages?moduleId="+testModule+"&output=readiness", nil, &list)
		return len(list.Messages) > 0
	})
	m := list.Messages[0]
	if m.OutputName != "readiness" || m.ContentType != "application/json" || m.ContentEncoding != "utf-8" ||
		m.MessageID != "conformance-1" || m.Properties["schema"] != "readiness/1" || m.Properties["check name"] != "disk space" ||
		m.Body != `{"status":"ready","score":97}` || m.BodyEncoding != "utf-8" || m.DeviceID != e.cfg.DeviceID {
		t.Fatalf("message %s", jsonString(t, m))
	}

	// 4. A direct method invoked through the service API is answered.
	var res MethodResult
	status, raw := doJSON(t, nil, "POST", e.ServiceURL()+"/twins/"+e.cfg.DeviceID+"/modules/"+testModule+"/methods?api-version=2021-04-12",
		map[string]any{"methodName": "echo", "payload": map[string]any{"input": "ping"}, "responseTimeoutInSeconds": 30, "connectTimeoutInSeconds": 60}, &res)
	if status != 200 || res.Status != 200 || string(res.Payload) != `{"echo":{"input":"ping"},"module":"readiness"}` {
		t.Fatalf("method: %d %s", status, raw)
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("conformance.js: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("conformance.js did not finish")
	}
	if !strings.Contains(stdout.String(), `{"step":"done"}`) {
		t.Fatalf("conformance.js did not report done")
	}
	// The SDK authenticated through the workload socket of its own module.
	e.mu.Lock()
	signs := e.stats.signs[testModule]
	e.mu.Unlock()
	if signs == 0 {
		t.Fatal("the SDK did not sign through the workload API")
	}
}

// ensureNodeModules runs "npm ci" once per package-lock.json content; the
// result is cached in testdata/nodesdk/node_modules (git-ignored).
func ensureNodeModules(t *testing.T, npm, dir string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", ".edgehub-emulator-lock.sha256")
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitForFreePort waits until addr can be bound: other test binaries may
// use the emulator on the gateway port too (go test runs packages in
// parallel).
func waitForFreePort(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			_ = ln.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is in use: the Node SDK connects to IOTEDGE_GATEWAYHOSTNAME on port 8883, so this test needs it; "+
				"stop whatever listens there (another edgehub-emulator or a test using it on port 8883): %v", addr, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// filteredEnv is the test's environment without variables that would make
// the SDK bypass the edge path.
func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "IOTEDGE_") || k == "EdgeHubConnectionString" || k == "IotHubConnectionString" ||
			k == "EdgeModuleCACertificateFile" || k == "NODE_EXTRA_CA_CERTS" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
