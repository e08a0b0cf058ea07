package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// requireTool finds a program of Debian's prometheus package: under CI=true
// its absence fails the test (.ci/run installs it), elsewhere it skips.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testenv.IsCI() {
			t.Fatalf("%s is not installed (Debian package prometheus): %v", name, err)
		}
		t.Skipf("%s is not installed (Debian package prometheus)", name)
	}
	return p
}

func httpGet(url string) (int, []byte, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestMetricsEndpoint runs module mode against the emulator and the real
// engine with its Prometheus endpoint on, checks the exposition with
// promtool, and has a real Prometheus server scrape it and answer a query
// for the readiness status.
func TestMetricsEndpoint(t *testing.T) {
	testenv.RequireDocker(t)
	promtool := requireTool(t, "promtool")
	prometheus := requireTool(t, "prometheus")
	d := testenv.NewDevice(t)
	d.Start(t)
	emu := startLeakEmulator(t)
	env := moduleEnv(t, emu)
	env["RuntimeLogLevel"] = "warn"
	addr := freePort(t)

	logs := newRingWriter(64 << 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, cli.Env{Args: []string{"run", "--no-probes", "--metrics-addr", addr,
			"--edgehub-metrics", metricsURL(t, d, facts.EdgeHub), "--edgeagent-metrics", metricsURL(t, d, facts.EdgeAgent)},
			Stdout: logs, Stderr: logs, Getenv: func(k string) string { return env[k] }, Environ: environOf(env)})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("module mode did not stop")
		}
	}()

	// The first cycle fills the gauges.
	var body []byte
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, b, err := httpGet("http://" + addr + "/metrics")
		if err == nil && code == 200 && bytes.Contains(b, []byte("edge_readiness_status{")) {
			body = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no readiness metrics at %s: %d %v\nmodule logs:\n%s", addr, code, err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{`iothub="emulated-hub.azure-devices.net"`, `edge_device="device1"`, `instance_number="`,
		"edge_readiness_score", `edge_readiness_check{check="module-resource-limits"`, "edge_readiness_build_info"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("exposition lacks %s", want)
		}
	}

	// promtool lints the exposition as Prometheus' own tools do.
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// A real Prometheus server scrapes the module and answers a query.
	dir := t.TempDir()
	promAddr := freePort(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: readiness\n    static_configs:\n      - targets: ['%s']\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var promLog bytes.Buffer
	srv := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	srv.Stdout, srv.Stderr = &promLog, &promLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	query := "http://" + promAddr + `/api/v1/query?query=edge_readiness_status%3D%3D1`
	deadline = time.Now().Add(90 * time.Second)
	for {
		code, b, err := httpGet(query)
		var res struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  []any             `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err == nil && code == 200 && json.Unmarshal(b, &res) == nil && len(res.Data.Result) == 1 {
			m := res.Data.Result[0].Metric
			if m["status"] == "" || m["job"] != "readiness" || m["edge_device"] != "device1" {
				t.Errorf("Prometheus answered %v", m)
			}
			t.Logf("Prometheus: the device is %s", m["status"])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not answer the readiness status: %d %v %s\nprometheus log:\n%s", code, err, b, tail(promLog.String(), 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "metrics endpoint unavailable") {
		t.Errorf("module logs: %s", logs)
	}
}
