package sink_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/daemon"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// plantMark is in every planted secret and nowhere else in the snapshot: an
// output holding it, whole, cut, or escaped around it, leaks a secret.
const plantMark = "Planted"

// planted are the secrets a module can carry, where it carries them.
var planted = []struct{ where, value string }{
	{"env DB_PASSWORD", "Planted-DbPassw0rd"},
	{"env connection string (SharedAccessKey)", "Planted+SasKey/QWxzb1NlY3JldA=="},
	{"env token with characters JSON escapes", `Planted"tok&<en>\x`},
	{"env URL user info", "Planted-UrlPass"},
	{"env https_proxy user info", "Planted-ProxyPass"},
	{"engine https_proxy user info", "Planted-EngineProxyPass"},
	{"command argument in the create options label", "Planted-CmdArgPass"},
	{"command line in the container's state error", "Planted-CmdLinePass"},
	{"label value", "Planted-LabelApiKey"},
	{"registry login in the original-image label", "Planted-RegistryPass"},
	{"metrics URL user info", "Planted-MetricsPass"},
	{"policy metrics URL user info", "Planted-PolicyPass"},
}

const (
	proxyURL    = "http://proxyuser:Planted-ProxyPass@proxy.contoso.local:3128"
	metricsURL  = "http://scraper:Planted-MetricsPass@edgeHub:9600/metrics"
	sensorImage = "registryuser:Planted-RegistryPass@contoso.azurecr.io/sensor:1.2.3"
)

// plantedSnapshot is a device whose module "sensor" carries secrets
// everywhere a module can: env values, command arguments, labels, URLs, an
// image reference. In the first cycle sensor runs; from the second it has
// exited with its command line in the error, a change to announce.
func plantedSnapshot(at time.Time, cycleNo int) *facts.Snapshot {
	labels := func(image string, extra map[string]string) map[string]string {
		l := map[string]string{facts.OwnerLabel: facts.OwnerValue, facts.OriginalImageLabel: image}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	running := facts.State{Status: "running", Running: true, StartedAt: at.Add(-48 * time.Hour), Created: at.Add(-49 * time.Hour)}
	runtimeEnv := func(module string) map[string]string {
		return map[string]string{
			"IOTEDGE_IOTHUBHOSTNAME": "contoso-hub.azure-devices.net", "IOTEDGE_DEVICEID": "edge-01",
			"IOTEDGE_MODULEID": module, "IOTEDGE_WORKLOADURI": "unix:///var/run/iotedge/workload.sock",
			"https_proxy": proxyURL, "UpstreamProtocol": "MqttWs",
		}
	}
	sensorEnv := runtimeEnv("sensor")
	for k, v := range map[string]string{
		"DB_PASSWORD":              "Planted-DbPassw0rd",
		"IOTHUB_CONNECTION_STRING": "HostName=contoso-hub.azure-devices.net;DeviceId=edge-01;SharedAccessKey=Planted+SasKey/QWxzb1NlY3JldA==",
		"API_TOKEN":                `Planted"tok&<en>\x`,
		"UPLOAD_URL":               "https://svcuser:Planted-UrlPass@api.contoso.com/v1/upload",
	} {
		sensorEnv[k] = v
	}
	sensor := facts.Container{
		ID: strings.Repeat("c", 64), Name: "sensor", Image: "contoso.azurecr.io/sensor:1.2.3",
		Labels: labels(sensorImage, map[string]string{
			"net.azure-devices.edge.create-options": `{"Cmd":["--db-password","Planted-CmdArgPass"],"Env":["DB_PASSWORD=Planted-DbPassw0rd"]}`,
			"net.azure-devices.edge.env":            `{"DB_PASSWORD":{"value":"Planted-DbPassw0rd"}}`,
			"com.contoso.api-key":                   "Planted-LabelApiKey",
		}),
		Env: sensorEnv, State: running, NetworkMode: facts.EdgeNetwork,
		Networks: map[string]string{facts.EdgeNetwork: "172.18.0.4"}, LogConfig: facts.LogConfig{Type: "json-file"},
	}
	if cycleNo > 0 {
		sensor.State = facts.State{Status: "exited", ExitCode: 126, Created: running.Created, StartedAt: running.StartedAt,
			FinishedAt: at.Add(-time.Minute),
			Error:      `OCI runtime exec failed: exec: "/app/sensor --password=Planted-CmdLinePass": permission denied`}
	}
	system := func(name, image string, ip string) facts.Container {
		return facts.Container{ID: strings.Repeat(name[:1], 64), Name: name, Image: image, Labels: labels(image, nil),
			Env: runtimeEnv(name), State: running, NetworkMode: facts.EdgeNetwork,
			Networks: map[string]string{facts.EdgeNetwork: ip}, LogConfig: facts.LogConfig{Type: "json-file"}}
	}
	return &facts.Snapshot{
		Time: at,
		Engine: &facts.Engine{ServerVersion: "20.10.11+azure-3", APIVersion: "1.41", OS: "linux", Arch: "x86_64",
			KernelVersion: "5.15.0", OperatingSystem: "Ubuntu 22.04.4 LTS", Hostname: "edge-01", NCPU: 4, MemTotal: 4 << 30,
			LoggingDriver: "json-file", HTTPSProxy: "http://engine:Planted-EngineProxyPass@proxy.contoso.local:3128"},
		Containers: []facts.Container{
			system(facts.EdgeAgent, "mcr.microsoft.com/azureiotedge-agent:1.5", "172.18.0.2"),
			system(facts.EdgeHub, "mcr.microsoft.com/azureiotedge-hub:1.5", "172.18.0.3"),
			sensor,
		},
		Networks: []facts.Network{{Name: facts.EdgeNetwork, Driver: "bridge"}},
		Metrics: map[string]*facts.Scrape{
			facts.EdgeHub: {Endpoint: metricsURL, Time: at,
				Error: "reading metrics from " + metricsURL + ": 401 Unauthorized"},
			facts.EdgeAgent: {Endpoint: "http://edgeAgent:9600/metrics", Time: at},
		},
		Env: map[string]string{"IOTEDGE_IOTHUBHOSTNAME": "contoso-hub.azure-devices.net", "IOTEDGE_DEVICEID": "edge-01",
			"IOTEDGE_MODULEID": "readiness", "IOTEDGE_GATEWAYHOSTNAME": "edge-01", "https_proxy": proxyURL},
		ProbesOff: "--no-probes",
	}
}

// plantedGatherer returns the planted device, one cycle after the other.
type plantedGatherer struct {
	mu sync.Mutex
	n  int
	at time.Time
}

func (g *plantedGatherer) Gather(context.Context) *facts.Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return plantedSnapshot(g.at.Add(time.Duration(g.n)*time.Minute), g.n-1)
}

// device is what an output runs on: the planted device behind a runner, and
// the scrubber the module shares between its runner, its logs and its sinks.
type device struct {
	scrub  *redact.Scrubber
	runner *cycle.Runner
	logs   *syncBuffer
	log    zerolog.Logger
}

func newDevice() *device {
	d := &device{scrub: redact.NewScrubber(), logs: &syncBuffer{}}
	d.runner = &cycle.Runner{Gatherer: &plantedGatherer{at: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)},
		Checks: checks.All(), Scrubber: d.scrub, Self: "readiness"}
	d.log = zerolog.New(d.scrub.Writer(d.logs)).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	return d
}

func (d *device) defaultPolicy() cycle.PolicyRef {
	return cycle.PolicyRef{Policy: policy.Default(checks.Specs(checks.All())), Source: "default"}
}

// emitted is one piece of what an output sent out.
type emitted struct {
	what string
	text string
}

// outputs are every way a report leaves the module. Each runs on a fresh
// planted device and returns all it emitted.
var outputs = []struct {
	name string
	run  func(t *testing.T, d *device) []emitted
}{
	{"check --format table", func(t *testing.T, d *device) []emitted { return checkOutput(t, d, "table") }},
	{"check --format json", func(t *testing.T, d *device) []emitted { return checkOutput(t, d, "json") }},
	{"check --format junit", func(t *testing.T, d *device) []emitted { return checkOutput(t, d, "junit") }},
	{"check --format sarif", func(t *testing.T, d *device) []emitted { return checkOutput(t, d, "sarif") }},
	{"check --format html", func(t *testing.T, d *device) []emitted { return unescaped(checkOutput(t, d, "html")) }},
	{"module mode", moduleMode},
	{"check --save-snapshot", savedSnapshot},
}

// savedSnapshot is what check --save-snapshot writes of the device.
func savedSnapshot(t *testing.T, d *device) []emitted {
	var file bytes.Buffer
	s := d.runner.Gatherer.Gather(context.Background())
	if err := cli.SaveSnapshot(&file, s, nil, d.scrub); err != nil {
		t.Fatal(err)
	}
	if _, err := facts.DecodeSnapshot(file.Bytes()); err != nil {
		t.Fatalf("the saved snapshot does not load: %v", err)
	}
	return []emitted{{"saved snapshot", file.String()}}
}

// TestNoPlantedSecretLeaves runs every output on a device carrying secrets
// everywhere a module can and finds none of them in what it emitted.
func TestNoPlantedSecretLeaves(t *testing.T) {
	for _, o := range outputs {
		t.Run(o.name, func(t *testing.T) {
			d := newDevice()
			out := o.run(t, d)
			out = append(out, emitted{"logs", d.logs.String()})
			mentioned := false
			for _, e := range out {
				mentioned = mentioned || strings.Contains(e.text, "sensor")
				for _, p := range planted {
					if strings.Contains(e.text, p.value) {
						t.Errorf("%s holds the %s: %s", e.what, p.where, around(e.text, p.value))
					}
				}
				if strings.Contains(e.text, plantMark) {
					t.Errorf("%s holds part of a planted secret: %s", e.what, around(e.text, plantMark))
				}
			}
			if !mentioned {
				t.Errorf("no output mentions the module carrying the secrets: the test proves nothing\n%v", out)
			}
		})
	}
}

func around(s, sub string) string {
	i := strings.Index(s, sub)
	if i < 0 {
		return ""
	}
	return "…" + s[max(0, i-80):min(len(s), i+len(sub)+40)] + "…"
}

// checkOutput is the check command's output stage: the report through the
// publisher to the format's sink.
func checkOutput(t *testing.T, d *device, format string) []emitted {
	pol := d.defaultPolicy()
	rep := d.runner.Run(context.Background(), pol)
	var stdout bytes.Buffer
	pub := sink.NewPublisher(d.scrub, sink.Formats[format](&stdout))
	if err := pub.Publish(context.Background(), sink.Event{Time: rep.GeneratedAt, Report: rep, Changed: true}); err != nil {
		t.Fatal(err)
	}
	return []emitted{{"stdout", stdout.String()}}
}

// moduleMode runs the daemon against a recording hub: the first cycle, a
// runChecks that changes a finding, getReport, a rejected policy carrying a
// credential, a reconnection, and the stop.
func moduleMode(t *testing.T, d *device) []emitted {
	h := newRecordingHub()
	dm := &daemon.Daemon{Hub: h, Cycle: d.runner, Specs: checks.Specs(checks.All()), Scrubber: d.scrub, Log: d.log,
		Sinks: []sink.Sink{sink.NewTwin(h), sink.NewD2C(h, sink.DefaultOutput, sink.DefaultMaxQueue)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dm.Run(ctx) }()
	stopped := false
	stop := func() { // SIGTERM: the final state is flushed
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("module mode did not stop")
		}
	}
	defer stop()

	waitUntil(t, "the first report", func() bool { return h.count(sink.TypeReport) > 0 })
	if code, _ := h.call(t, "runChecks"); code != 200 {
		t.Errorf("runChecks = %d", code)
	}
	waitUntil(t, "a change message", func() bool { return h.count(sink.TypeChange) > 0 })
	if code, _ := h.call(t, "getReport"); code != 200 {
		t.Errorf("getReport = %d", code)
	}
	h.setDesired(map[string]any{"$version": float64(2), "metrics": map[string]any{"edgeHub": "http://scraper:Planted-PolicyPass@edgeHub:9600/metrics"}})
	h.desiredChanged <- struct{}{}
	waitUntil(t, "the rejection", func() bool { return strings.Contains(h.reportedJSON(), `"rejected"`) })
	reads := h.reads()
	h.reconnected <- struct{}{} // the module re-reads the twin and publishes only what IoT Hub lacks
	waitUntil(t, "the twin read after the reconnection", func() bool { return h.reads() > reads })
	if code, _ := h.call(t, "runChecks"); code != 200 { // a cycle after the resync, through every sink
		t.Errorf("runChecks after the reconnection = %d", code)
	}
	stop()

	out := h.emitted()
	if kinds := fmt.Sprint(h.kinds()); !strings.Contains(kinds, "patch") || !strings.Contains(kinds, "body") ||
		!strings.Contains(kinds, "properties") || !strings.Contains(kinds, "reply") {
		t.Errorf("module mode emitted only %s", kinds)
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordingHub is IoT Hub as module mode sees it, recording every patch,
// message body, message property and method reply.
type recordingHub struct {
	mu             sync.Mutex
	desired        map[string]any
	reported       map[string]any
	out            []emitted
	types          map[string]int
	methods        map[string]hub.MethodHandler
	twinReads      int
	reconnected    chan struct{}
	desiredChanged chan struct{}
}

var _ daemon.Hub = (*recordingHub)(nil)

func newRecordingHub() *recordingHub {
	return &recordingHub{desired: map[string]any{"$version": float64(1)}, reported: map[string]any{}, types: map[string]int{},
		methods: map[string]hub.MethodHandler{}, reconnected: make(chan struct{}), desiredChanged: make(chan struct{})}
}

func (h *recordingHub) Twin(context.Context) (map[string]any, map[string]any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.twinReads++
	return h.desired, sink.ApplyMergePatch(map[string]any{}, h.reported), nil
}

func (h *recordingHub) PatchReported(_ context.Context, p map[string]any) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.out = append(h.out, emitted{"reported-property patch", string(b)})
	var copied map[string]any
	_ = json.Unmarshal(b, &copied)
	h.reported = sink.ApplyMergePatch(h.reported, copied)
	return nil
}

func (h *recordingHub) Send(_ context.Context, output string, body []byte, props map[string]string, encoding string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if encoding == "gzip" { // a secret must not hide inside the compressed body
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return err
		}
	}
	kind := props["messageType"]
	h.types[kind]++
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var p strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&p, "%s=%s\n", k, props[k])
	}
	h.out = append(h.out, emitted{kind + " message body on " + output, string(body)},
		emitted{kind + " message properties", p.String()})
	return nil
}

func (h *recordingHub) RegisterMethod(_ context.Context, name string, fn hub.MethodHandler) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.methods[name] = fn
	return nil
}

func (h *recordingHub) Reconnected() <-chan struct{}    { return h.reconnected }
func (h *recordingHub) DesiredChanged() <-chan struct{} { return h.desiredChanged }

func (h *recordingHub) call(t *testing.T, method string) (int, map[string]any) {
	t.Helper()
	waitUntil(t, method+" to be registered", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.methods[method] != nil
	})
	h.mu.Lock()
	fn := h.methods[method]
	h.mu.Unlock()
	code, reply := fn(map[string]any{})
	b, _ := json.Marshal(reply)
	h.mu.Lock()
	h.out = append(h.out, emitted{method + " method reply", string(b)})
	h.mu.Unlock()
	return code, reply
}

func (h *recordingHub) setDesired(d map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.desired = d
}

func (h *recordingHub) reads() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.twinReads
}

func (h *recordingHub) count(kind string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.types[kind]
}

func (h *recordingHub) reportedJSON() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := json.Marshal(h.reported)
	return string(b)
}

func (h *recordingHub) emitted() []emitted {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]emitted(nil), h.out...)
}

func (h *recordingHub) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.out {
		switch {
		case strings.Contains(e.what, "patch"):
			out = append(out, "patch")
		case strings.Contains(e.what, "body"):
			out = append(out, "body")
		case strings.Contains(e.what, "properties"):
			out = append(out, "properties")
		case strings.Contains(e.what, "reply"):
			out = append(out, "reply")
		}
	}
	return out
}

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

// unescaped adds, to what an HTML page emitted, its text with character
// references decoded: a secret escaped (&#43; for +) is still a secret.
func unescaped(out []emitted) []emitted {
	for _, e := range out {
		out = append(out, emitted{e.what + " (unescaped)", html.UnescapeString(e.text)})
	}
	return out
}
