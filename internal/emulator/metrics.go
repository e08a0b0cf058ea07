package emulator

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
)

// stats are the counters behind the generated edgeHub metrics.
type stats struct {
	connectSuccess map[string]int64    // client id
	connectFailed  map[string]int64    // client id
	disconnects    map[string]int64    // client id
	received       map[[2]string]int64 // client id, output name
	dropped        map[[2]string]int64 // client id, output name
	messageBytes   map[string]int64    // client id
	getTwin        map[string]int64    // client id
	reported       map[string]int64    // client id
	methods        map[string]int64    // module id
	signs          map[string]int64    // module id
}

func newStats() stats {
	return stats{
		connectSuccess: map[string]int64{}, connectFailed: map[string]int64{}, disconnects: map[string]int64{},
		received: map[[2]string]int64{}, dropped: map[[2]string]int64{}, messageBytes: map[string]int64{},
		getTwin: map[string]int64{}, reported: map[string]int64{}, methods: map[string]int64{}, signs: map[string]int64{},
	}
}

const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// metricsHandler serves MetricsFile when configured (re-read on every
// scrape, so tests can swap it), else an exposition generated from the
// emulator's counters with edgeHub's metric names and default labels.
func (e *Emulator) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var body []byte
		if e.cfg.MetricsFile != "" {
			b, err := os.ReadFile(e.cfg.MetricsFile)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			body = b
		} else {
			body = []byte(e.MetricsText())
		}
		w.Header().Set("Content-Type", metricsContentType)
		_, _ = w.Write(body)
	})
	return mux
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

// MetricsText renders the generated Prometheus exposition.
func (e *Emulator) MetricsText() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	base := fmt.Sprintf(`iothub="%s",edge_device="%s",instance_number="%s"`,
		escapeLabel(e.cfg.IoTHubHostname), escapeLabel(e.cfg.DeviceID), e.instanceID)
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name, labels string, v int64) {
		if labels != "" {
			labels = "," + labels
		}
		fmt.Fprintf(&b, "%s{%s%s} %d\n", name, base, labels, v)
	}
	byID := func(name, typ, help, label string, m map[string]int64, extra string) {
		family(name, typ, help)
		for _, k := range sortedKeys(m) {
			sample(name, fmt.Sprintf(`%s="%s"%s`, label, escapeLabel(k), extra), m[k])
		}
	}
	byOutput := func(name, help, idLabel, outLabel, extra string, m map[[2]string]int64) {
		family(name, "counter", help)
		keys := make([][2]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i][0] != keys[j][0] {
				return keys[i][0] < keys[j][0]
			}
			return keys[i][1] < keys[j][1]
		})
		for _, k := range keys {
			sample(name, fmt.Sprintf(`%s="%s",%s="%s"%s`, idLabel, escapeLabel(k[0]), outLabel, escapeLabel(k[1]), extra), m[k])
		}
	}

	family("edgehub_connected_clients", "gauge", "Number of clients currently connected to edgeHub")
	sample("edgehub_connected_clients", "", int64(len(e.conns)))
	byOutput("edgehub_messages_received_total", "Number of messages received from client", "id", "route_output", `,ms_telemetry="True"`, e.stats.received)
	byOutput("edgehub_messages_dropped_total", "Messages dropped by the emulator (over the 256 KB limit)", "from", "from_route_output", `,reason="message_too_large",ms_telemetry="True"`, e.stats.dropped)
	byID("edgehub_client_connect_success_total", "counter", "Total number of times each client successfully connected to edgeHub", "id", e.stats.connectSuccess, `,ms_telemetry="False"`)
	byID("edgehub_client_connect_failed_total", "counter", "Total number of times each client failed to connect to edgeHub", "id", e.stats.connectFailed, `,reason="not_authenticated",ms_telemetry="False"`)
	byID("edgehub_client_disconnect_total", "counter", "Total number of times each client disconnected from edgeHub", "id", e.stats.disconnects, `,ms_telemetry="False"`)
	byID("edgehub_gettwin_total", "counter", "Get twin calls", "id", e.stats.getTwin, `,source="edge_hub",ms_telemetry="True"`)
	byID("edgehub_reported_properties_total", "counter", "Reported properties update calls", "id", e.stats.reported, `,target="upstream",ms_telemetry="True"`)
	methods := map[string]int64{}
	for m, v := range e.stats.methods {
		methods[e.cfg.DeviceID+"/"+m] = v
	}
	byID("edgehub_direct_methods_total", "counter", "Direct methods routed to clients", "to", methods, `,from="upstream",ms_telemetry="True"`)
	return b.String()
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
