package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// Real metrics pages, relative to the repository root (provenance in
// testdata/SOURCES.md).
const (
	EdgeHubMetricsFile   = "testdata/real/datadog-azure_iot_edge-edge_hub.txt"
	EdgeAgentMetricsFile = "testdata/real/datadog-azure_iot_edge-edge_agent.txt"
)

// Label values of the real edgeAgent page, reused on the samples added to it
// so that the page stays one process's exposition.
const (
	realIoTHub   = "iot-edge-dev-hub.azure-devices.net"
	realDevice   = "testEdgeDevice"
	realInstance = "03968cdc-21a7-4106-a3cd-a3c7d097ae01"
)

// Defaults of AgentMetrics.
const (
	DefaultDiskName       = "/dev/sda1"
	DefaultDiskTotalBytes = int64(64) << 30
	DefaultDiskFreeRatio  = 0.5
)

// AgentMetrics describes the edgeAgent metrics page of a simulated device.
type AgentMetrics struct {
	// Modules are the modules edgeAgent expects (its deployment): the
	// per-module running-time gauges are rewritten to name exactly these,
	// in place of the real page's SimulatedTemperatureSensor.
	Modules []string
	// DiskFreeRatio is the free share of the one disk reported; 0 means
	// DefaultDiskFreeRatio.
	DiskFreeRatio float64
	// DiskTotalBytes is the disk's size; 0 means DefaultDiskTotalBytes.
	DiskTotalBytes int64
	// DiskName is the disk_name label; empty means DefaultDiskName.
	DiskName string
	// RuntimeVersion is the release edgeAgent_metadata reports for edgeAgent
	// (edge_agent_version) and the daemon (host_information's Version), in
	// place of the real page's 1.0.10-rc2; empty means DefaultRuntimeVersion,
	// the release of the device's runtime images.
	RuntimeVersion string
	// UsedMemory is the memory each module uses (edgeAgent_used_memory_bytes
	// by module_name), in place of the real page's per-module samples (the
	// host's stays); a module of Modules not named here uses
	// DefaultModuleMemory.
	UsedMemory map[string]int64
}

// DefaultRuntimeVersion is the release of EdgeAgentImage and EdgeHubImage:
// their tag.
var DefaultRuntimeVersion = EdgeAgentImage[strings.LastIndex(EdgeAgentImage, ":")+1:]

// DefaultModuleMemory is the memory a module uses when AgentMetrics does not
// say: well under every limit a correct device sets.
const DefaultModuleMemory = int64(24) << 20

// runtimeVersionRE finds the versions in edgeAgent_metadata's labels: the
// agent's (edge_agent_version="1.0.10-rc2.34217022 (hash)") and the daemon's
// (host_information's \"Version\":\"1.0.10~rc2\").
var runtimeVersionRE = regexp.MustCompile(`(edge_agent_version="|\\"Version\\":\\")[0-9][^"\\ ]*`)

// EdgeHubMetrics returns the real edgeHub page.
func EdgeHubMetrics(t testing.TB) []byte {
	t.Helper()
	return ReadRepoFile(t, EdgeHubMetricsFile)
}

// EdgeAgentMetrics returns the real edgeAgent page completed as m says.
func EdgeAgentMetrics(t testing.TB, m AgentMetrics) []byte {
	t.Helper()
	out, err := BuildAgentMetrics(ReadRepoFile(t, EdgeAgentMetricsFile), m)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return out
}

// BuildAgentMetrics completes a real edgeAgent page: it replaces the samples
// of the per-module running-time gauges by one per module of m.Modules and
// adds edgeAgent_available_disk_space_bytes and
// edgeAgent_total_disk_space_bytes samples for one disk. Samples go right
// after their family's TYPE line, so each family stays contiguous and has a
// single TYPE line (the text parser rejects anything else); a family the page
// does not declare is appended at the end with its own HELP and TYPE.
func BuildAgentMetrics(real []byte, m AgentMetrics) ([]byte, error) {
	if m.DiskFreeRatio == 0 {
		m.DiskFreeRatio = DefaultDiskFreeRatio
	}
	if m.DiskTotalBytes == 0 {
		m.DiskTotalBytes = DefaultDiskTotalBytes
	}
	if m.DiskName == "" {
		m.DiskName = DefaultDiskName
	}
	if m.DiskFreeRatio < 0 || m.DiskFreeRatio > 1 {
		return nil, fmt.Errorf("disk free ratio %v is not between 0 and 1", m.DiskFreeRatio)
	}
	base := fmt.Sprintf(`iothub=%q,edge_device=%q,instance_number=%q`, realIoTHub, realDevice, realInstance)
	disk := fmt.Sprintf(`%s,disk_name=%q,disk_filesystem="ext4",disk_filetype="SSD",ms_telemetry="True"`, base, m.DiskName)
	free := int64(float64(m.DiskTotalBytes) * m.DiskFreeRatio)

	type family struct {
		help    string
		samples []string
		done    bool
	}
	perModule := func(name string, seconds float64) []string {
		var l []string
		for _, mod := range m.Modules {
			tel := "False"
			if mod == "edgeAgent" || mod == "edgeHub" {
				tel = "True"
			}
			l = append(l, fmt.Sprintf(`%s{%s,module_name=%q,ms_telemetry=%q} %g`, name, base, mod, tel, seconds))
		}
		return l
	}
	usedMemory := func() []string {
		var l []string
		for _, mod := range m.Modules {
			tel := "False"
			if mod == "edgeAgent" || mod == "edgeHub" {
				tel = "True"
			}
			v, ok := m.UsedMemory[mod]
			if !ok {
				v = DefaultModuleMemory
			}
			l = append(l, fmt.Sprintf(`edgeAgent_used_memory_bytes{%s,module_name=%q,ms_telemetry=%q} %d`, base, mod, tel, v))
		}
		return l
	}
	if m.RuntimeVersion == "" {
		m.RuntimeVersion = DefaultRuntimeVersion
	}
	fams := map[string]*family{
		"edgeAgent_used_memory_bytes": {
			help:    "Amount of RAM used by all processes",
			samples: usedMemory(),
		},
		"edgeAgent_total_time_expected_running_seconds": {
			help:    "The amount of time the module was specified in the deployment",
			samples: perModule("edgeAgent_total_time_expected_running_seconds", 3600),
		},
		"edgeAgent_total_time_running_correctly_seconds": {
			help:    "The amount of time the module was specified in the deployment and was in the running state",
			samples: perModule("edgeAgent_total_time_running_correctly_seconds", 3600),
		},
		"edgeAgent_available_disk_space_bytes": {
			help:    "Amount of space left on the disk",
			samples: []string{fmt.Sprintf("edgeAgent_available_disk_space_bytes{%s} %d", disk, free)},
		},
		"edgeAgent_total_disk_space_bytes": {
			help:    "Size of the disk",
			samples: []string{fmt.Sprintf("edgeAgent_total_disk_space_bytes{%s} %d", disk, m.DiskTotalBytes)},
		},
	}
	order := []string{"edgeAgent_used_memory_bytes", "edgeAgent_total_time_expected_running_seconds", "edgeAgent_total_time_running_correctly_seconds",
		"edgeAgent_available_disk_space_bytes", "edgeAgent_total_disk_space_bytes"}

	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(real))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			out.WriteString(line + "\n")
			if f := fams[strings.Fields(line)[2]]; f != nil {
				if f.done {
					return nil, fmt.Errorf("a second TYPE line for %s", strings.Fields(line)[2])
				}
				for _, s := range f.samples {
					out.WriteString(s + "\n")
				}
				f.done = true
			}
			continue
		}
		if !strings.HasPrefix(line, "#") {
			name, _, _ := strings.Cut(line, "{")
			name, _, _ = strings.Cut(name, " ")
			if name == "edgeAgent_used_memory_bytes" && strings.Contains(line, `module_name="host"`) {
				out.WriteString(line + "\n") // the host's own
				continue
			}
			if fams[name] != nil {
				continue // replaced by the generated samples
			}
			if name == "edgeAgent_metadata" {
				line = runtimeVersionRE.ReplaceAllString(line, "${1}"+m.RuntimeVersion)
			}
		}
		out.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the edgeAgent page: %w", err)
	}
	for _, name := range order {
		f := fams[name]
		if f.done {
			continue
		}
		fmt.Fprintf(&out, "# HELP %s %s\n# TYPE %s gauge\n", name, f.help, name)
		for _, s := range f.samples {
			out.WriteString(s + "\n")
		}
	}
	return out.Bytes(), nil
}
