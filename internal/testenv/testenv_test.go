package testenv

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

func TestEdgeAgentMetricsParse(t *testing.T) {
	for _, ratio := range []float64{0.05, 0.15, 0.5, 1} {
		page := EdgeAgentMetrics(t, AgentMetrics{Modules: []string{"edgeAgent", "edgeHub", "filter"}, DiskFreeRatio: ratio})
		samples, err := facts.ParseMetrics(bytes.NewReader(page))
		if err != nil {
			t.Fatalf("ratio %v: %v", ratio, err)
		}
		sc := &facts.Scrape{Samples: samples}
		avail := sc.Find("edgeAgent_available_disk_space_bytes", map[string]string{"disk_name": DefaultDiskName})
		total := sc.Find("edgeAgent_total_disk_space_bytes", map[string]string{"disk_name": DefaultDiskName})
		if len(avail) != 1 || len(total) != 1 {
			t.Fatalf("ratio %v: %d available and %d total samples, want 1 each", ratio, len(avail), len(total))
		}
		if got := avail[0].Value / total[0].Value; got < ratio-1e-9 || got > ratio+1e-9 {
			t.Errorf("free ratio = %v, want %v", got, ratio)
		}
		for _, l := range []string{"iothub", "edge_device", "instance_number", "disk_name", "disk_filesystem", "disk_filetype", "ms_telemetry"} {
			if avail[0].Labels[l] == "" {
				t.Errorf("available disk sample lacks label %s: %v", l, avail[0].Labels)
			}
		}
		var expected []string
		for _, s := range sc.Find("edgeAgent_total_time_expected_running_seconds", nil) {
			expected = append(expected, s.Labels["module_name"])
		}
		if strings.Join(expected, ",") != "edgeAgent,edgeHub,filter" {
			t.Errorf("expected modules = %v, want edgeAgent, edgeHub, filter", expected)
		}
		if n := len(sc.Find("edgeAgent_metadata", nil)); n != 1 {
			t.Errorf("the real page's edgeAgent_metadata is lost (%d samples)", n)
		}
	}
}

func TestBuildAgentMetricsAppendsUndeclaredFamilies(t *testing.T) {
	page, err := BuildAgentMetrics([]byte("# TYPE edgeAgent_iothub_syncs_total counter\nedgeAgent_iothub_syncs_total 3\n"),
		AgentMetrics{Modules: []string{"edgeAgent"}, DiskFreeRatio: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	samples, err := facts.ParseMetrics(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("%v\n%s", err, page)
	}
	// The counter, one module's two running times and memory use, the disk's two sizes.
	if len(samples) != 6 {
		t.Errorf("got %d samples, want 6:\n%s", len(samples), page)
	}
}

// TestEdgeAgentMetricsRuntime: the page names the device's runtime release
// in edgeAgent_metadata (agent and daemon) and each module's memory use,
// keeping the host's.
func TestEdgeAgentMetricsRuntime(t *testing.T) {
	page := EdgeAgentMetrics(t, AgentMetrics{Modules: []string{"edgeAgent", "filter"}, RuntimeVersion: "1.4.27",
		UsedMemory: map[string]int64{"filter": 7 << 20}})
	samples, err := facts.ParseMetrics(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	sc := &facts.Scrape{Samples: samples}
	md := sc.Find("edgeAgent_metadata", nil)
	if len(md) != 1 || !strings.HasPrefix(md[0].Labels["edge_agent_version"], "1.4.27 ") ||
		!strings.Contains(md[0].Labels["host_information"], `"Version":"1.4.27"`) {
		t.Errorf("metadata %v, want release 1.4.27 for the agent and the daemon", md)
	}
	used := map[string]float64{}
	for _, s := range sc.Find("edgeAgent_used_memory_bytes", nil) {
		used[s.Labels["module_name"]] = s.Value
	}
	if len(used) != 3 || used["filter"] != 7<<20 || used["edgeAgent"] != float64(DefaultModuleMemory) || used["host"] != 854896000 {
		t.Errorf("used memory %v, want filter 7 MiB, edgeAgent the default and the real page's host", used)
	}
}

func TestEdgeHubMetricsParse(t *testing.T) {
	if _, err := facts.ParseMetrics(bytes.NewReader(EdgeHubMetrics(t))); err != nil {
		t.Fatal(err)
	}
}

// TestDevice starts the default device and looks at it as the engine shows it.
// Like every test that starts a Device, it must not run in parallel.
func TestDevice(t *testing.T) {
	d := NewDevice(t)
	d.UnusedVolumes = []string{"er-test-unused"}
	d.Start(t)
	BusyboxImage(t) // idempotent

	for _, m := range d.All() {
		ic := d.Inspect(t, m.Name)
		if ic.Name != "/"+m.Name {
			t.Errorf("container name %q, want /%s", ic.Name, m.Name)
		}
		if ic.Config.Labels[facts.OwnerLabel] != facts.OwnerValue || ic.Config.Labels[facts.OriginalImageLabel] != m.Image {
			t.Errorf("%s labels = %v", m.Name, ic.Config.Labels)
		}
		if _, ok := ic.NetworkSettings.Networks[facts.EdgeNetwork]; !ok {
			t.Errorf("%s is not on %s", m.Name, facts.EdgeNetwork)
		}
		env := strings.Join(ic.Config.Env, "\n")
		for _, want := range []string{"IOTEDGE_MODULEID=" + m.Name, "IOTEDGE_DEVICEID=er-e2e-device", "IOTEDGE_AUTHSCHEME=sasToken"} {
			if !strings.Contains(env, want) {
				t.Errorf("%s env lacks %s", m.Name, want)
			}
		}
		if !ic.State.Running {
			t.Errorf("%s is %s", m.Name, ic.State.Status)
		}
	}
	hub := d.Inspect(t, facts.EdgeHub)
	aliases := hub.NetworkSettings.Networks[facts.EdgeNetwork].Aliases
	if !strings.Contains(strings.Join(aliases, ","), d.Hostname) {
		t.Errorf("edgeHub aliases = %v, want %s among them", aliases, d.Hostname)
	}
	for _, name := range []string{facts.EdgeHub, facts.EdgeAgent} {
		ip := d.Inspect(t, name).NetworkSettings.Networks[facts.EdgeNetwork].IPAddress
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ip+":9600/metrics", nil)
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
		if err != nil {
			cancel()
			t.Fatalf("%s metrics: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if _, err := facts.ParseMetrics(bytes.NewReader(body)); err != nil {
			t.Errorf("%s metrics: %v", name, err)
		}
	}
}

func TestDockerignore(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".dockerignore")
	if err := os.WriteFile(p, []byte(".git\n# comment\n*.md\n**/*_test.go\n**/testdata\nDockerfile*\ndocs/*.txt\n!docs/keep.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pats, err := readDockerignore(p)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		".git": true, ".git/HEAD": true, "README.md": true, "internal/README.md": false,
		"internal/a_test.go": true, "a_test.go": true, "internal/a.go": false,
		"internal/e2e/testdata/x.json": true, "testdata": true, "Dockerfile.amd64": true,
		"docs/a.txt": true, "docs/keep.txt": false, "go.mod": false,
	} {
		if got := ignored(path, pats); got != want {
			t.Errorf("ignored(%q) = %v, want %v", path, got, want)
		}
	}
}
