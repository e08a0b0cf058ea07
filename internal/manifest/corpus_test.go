package manifest_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// corpusDir holds real deployment manifests from public repositories
// (testdata/manifests/SOURCES.md says where each comes from).
var corpusDir = filepath.Join("..", "..", "testdata", "manifests")

// judged are the checks whose findings were judged by reading each manifest.
var judged = []string{"schema-version-supported", "create-options-valid", "routes-valid", "manifest-secrets",
	"image-tags-pinned", "module-resource-limits", "privileged-containers", "host-namespaces", "container-engine-logrotate"}

// corpusWant is what reading a manifest of the corpus by hand found: the
// findings of each judged check that fail, skip or error, by module (or by
// subject: $edgeAgent, a route's name, a secret's place; "-" for a finding
// about the whole deployment); "*" stands for every module. Every other
// finding of a judged check passes. err is the start of the error that
// refuses a manifest the runtime cannot read.
type corpusWant struct {
	err              string
	fail, skip, errs map[string]string
}

// Shorthands of the table.
const (
	imgs = "image-tags-pinned"
	lims = "module-resource-limits"
	priv = "privileged-containers"
	ns   = "host-namespaces"
	logs = "container-engine-logrotate"
	sv   = "schema-version-supported"
	co   = "create-options-valid"
	rv   = "routes-valid"
	ms   = "manifest-secrets"
)

var corpus = map[string]corpusWant{
	// az iot hub configuration show: content.modulesContent, 1.0-preview runtime.
	"azcli-config-show.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub temp-sensor-module", lims: "*"},
		skip: map[string]string{logs: "*"}},
	"azcli-ea11-eh12.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub filtermodule", lims: "*"},
		skip: map[string]string{logs: "*"}},
	// A layered deployment: MemorySwap outside HostConfig, an image without a tag.
	"azcli-layered.json": {
		fail: map[string]string{imgs: "mymodule0", lims: "*", co: "mymodule0"},
		skip: map[string]string{logs: "*", sv: "$edgeAgent $edgeHub"}},
	// The legacy moduleContent key inside content.
	"azcli-legacy-modulecontent.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub temp-sensor-module", lims: "*"},
		skip: map[string]string{logs: "*"}},
	// Empty runtime images and a route that is no route.
	"azcli-malformed.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*", rv: "route1"},
		skip: map[string]string{logs: "*"}},
	"azcli-nested-top-layer.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub registry", lims: "*"},
		skip: map[string]string{logs: "*"}},
	// Schema 9.0 / 9.1: refused by both.
	"azcli-schema-9.json": {
		fail: map[string]string{sv: "$edgeAgent $edgeHub", imgs: "edgeAgent edgeHub filtermodule", lims: "*"},
		skip: map[string]string{logs: "*"}},
	// CRLF line ends; empty routes; placeholders in angle brackets.
	"azure-iotedge-metrics-collector-example.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{logs: "edgeAgent edgeHub", rv: "-"}},
	// Pipeline placeholders (<Container_Registry>, <Build.BuildNumber>) make no image reference.
	"azure-iotedge-module-to-module.template.json": {
		fail: map[string]string{imgs: "*", lims: "*"},
		skip: map[string]string{logs: "*"}},
	// Nested edge: $upstream:443 images, LogConfig with rotation everywhere.
	"azure-iotedge-nested-middle-layer-mqtt.json": {
		fail: map[string]string{imgs: "*", lims: "*"}},
	"azure-iotedge-nested-top-layer-amqp.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub IoTEdgeAPIProxy", lims: "*"}},
	"azure-iotedge-quickstart.template.json": {
		fail: map[string]string{imgs: "*", lims: "*"},
		skip: map[string]string{logs: "*"}},
	// The storage account key written twice (value replaced, shape kept).
	"blobstorage.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub azureblobstorageoniotedge", lims: "*",
			ms: "createOptions_Env_LOCAL_STORAGE_ACCOUNT_KEY createOptions_Env_storageconnectionstring"},
		skip: map[string]string{imgs: "blobWriterModule", logs: "*"}},
	// A privileged module, a route from a module that is not deployed.
	"custom-vision-rpi.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*", priv: "sensehat-display", rv: "CameraCaptureGAToIoTHub"},
		skip: map[string]string{imgs: "camera-capture sensehat-display image-classifier-service", logs: "*"}},
	"devops-dotnet.debug.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{imgs: "FilterModule", logs: "*"}},
	"devops-dotnet.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{imgs: "FilterModule", logs: "*"}},
	"event-grid.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{imgs: "egcustompublisher egcustomsubscriber", logs: "*"}},
	"hmi-module.template.json": {
		fail: map[string]string{imgs: "edgeHub", lims: "*"},
		skip: map[string]string{imgs: "WebAppModule", logs: "*", rv: "-"}},
	// createOptions holding ${VAR}s in Env and Binds: the checks reading those
	// fields skip those modules (create-options-valid reads all of it); the
	// others decide: no limits, not privileged, no host namespace.
	"influxdb-grafana.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{imgs: "simulator orchestrator influxdb grafana", logs: "*",
			co: "orchestrator influxdb grafana"}},
	// iotedgedev's own bad manifest: chunks missing from the sequence, createOptions
	// that is an array, a registry password written out.
	"iotedgedev-invalid-createoptions.json": {
		fail: map[string]string{imgs: "", lims: "edgeAgent edgeHub tempSensor csharpmodule", co: "csharpmodule csharpfunction csharpfunction2",
			ms: "registryCredentials.test.password"},
		skip: map[string]string{sv: "$edgeAgent $edgeHub", imgs: "edgeAgent edgeHub csharpmodule csharpfunction csharpfunction2",
			logs: "edgeAgent edgeHub tempSensor csharpmodule"},
		errs: map[string]string{lims: "csharpfunction csharpfunction2", priv: "csharpfunction csharpfunction2",
			ns: "csharpfunction csharpfunction2", logs: "csharpfunction csharpfunction2"}},
	"iotedgedev-layered-flattened.template.json": {
		fail: map[string]string{lims: "*"},
		skip: map[string]string{sv: "$edgeAgent $edgeHub", imgs: "*", logs: "*"}},
	"iotedgedev-shared-lib.debug.template.json": {
		fail: map[string]string{lims: "*"},
		skip: map[string]string{sv: "$edgeAgent $edgeHub", imgs: "edgeAgent edgeHub sample_module sample_module_2", logs: "*"}},
	// The solution template iotedgedev copies: its route names %MODULE%.
	"iotedgedev-solution.template.json": {
		fail: map[string]string{lims: "*", rv: "sensorTo%MODULE%"},
		skip: map[string]string{sv: "$edgeAgent $edgeHub", imgs: "edgeAgent edgeHub", logs: "*"}},
	"logging-monitoring-azuremonitor.template.json": {
		fail: map[string]string{lims: "*"},
		skip: map[string]string{sv: "$edgeAgent $edgeHub", logs: "*", rv: "-"}},
	"logging-monitoring-e2e.template.json": {
		fail: map[string]string{lims: "*"},
		skip: map[string]string{logs: "*"}},
	"logging-monitoring-logging.json": {
		fail: map[string]string{imgs: "*", lims: "*"},
		skip: map[string]string{sv: "$edgeAgent $edgeHub", logs: "*", rv: "-"}},
	// A template of the LoRaWAN CLI's own ([$x] placeholders): not JSON until the CLI fills it.
	"lorawan-cli-gateway.template.json": {err: "not JSON: line 77, column 15"},
	"lorawan-observability.layered.template.json": {
		fail: map[string]string{lims: "*"},
		skip: map[string]string{sv: "$edgeAgent $edgeHub", logs: "*", rv: "-"}},
	// Privileged on the host network; the one route is a variable.
	"lorawan.template.json": {
		fail: map[string]string{lims: "*", priv: "LoRaBasicsStationModule", ns: "LoRaBasicsStationModule"},
		skip: map[string]string{imgs: "*", logs: "*", rv: "route"}},
	"offline-dashboarding.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{imgs: "influxdb edgetoinfluxdb grafana opcpublisher opcsimulator", logs: "*",
			co: "grafana"}},
	// Routes to and from PostProcessingModule, which the deployment lacks;
	// NetworkMode "Host" is a network's name, not the host's namespace; a
	// device mapping's PathnContainer (line 88), which reading missed at first.
	"onnxruntime-l4t.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub azureblobstorageoniotedge",
			lims: "*", rv: "InferenceModuleToPostModule PostModuleToIoTHub",
			co: "inferencemodule"},
		skip: map[string]string{imgs: "inferencemodule CameraCaptureModule", logs: "*",
			co: "azureblobstorageoniotedge"}}, // $MY_STORAGE_ACCOUNT_* in its createOptions Env
	// __AML_ tokens a pipeline replaces; privileged on the host's network and IPC.
	"onnxruntime-openvino.template.json": {
		fail: map[string]string{imgs: "*", lims: "*", priv: "__AML_MODULE_NAME", ns: "__AML_MODULE_NAME"},
		skip: map[string]string{logs: "*"}},
	// A "comment" written as an env entry (line 61): edgeAgent cannot read it
	// as {"value": ...} and refuses the deployment; the rest is linted.
	"opc-edgetranslator.template.json": {
		fail: map[string]string{sv: "uaedgetranslator", imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{logs: "*"}},
	// ExposedPorts inside HostConfig: the engine ignores it.
	"opc-flattener.template.json": {
		fail: map[string]string{imgs: "edgeAgent edgeHub opcplc", lims: "*", co: "opcplc publisher"},
		skip: map[string]string{imgs: "flattener", logs: "*"}},
	// A generated manifest whose edgeAgent env entry RuntimeLogLevel (line 18)
	// is a string: edgeAgent cannot read it; the rest is linted.
	"raalabs-modbus-generated.amd64.json": {
		fail: map[string]string{sv: "edgeAgent", imgs: "edgeAgent edgeHub", lims: "*"},
		skip: map[string]string{logs: "*"}},
	"vscode-solution.template.json": {
		fail: map[string]string{imgs: "*", lims: "*"},
		skip: map[string]string{logs: "*", rv: "-"}},
}

// TestCorpus runs check --manifest's logic on every manifest of the corpus
// and compares the judged checks' findings with what reading it found.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("the corpus has %d manifests, want at least 30", len(files))
	}
	pol := policy.Default(checks.Specs(checks.All()))
	agree, total := 0, 0
	failures := map[string]int{} // manifests in which a check fails, over the whole catalog
	for _, f := range files {
		name := filepath.Base(f)
		want, ok := corpus[name]
		if !ok {
			t.Errorf("%s: not judged in the table", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			m, err := manifest.Load(f, manifest.Options{})
			if want.err != "" {
				total++
				if err == nil || !strings.Contains(err.Error(), want.err) {
					t.Errorf("error %v, want one holding %q", err, want.err)
					return
				}
				agree++
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			snap := manifest.Snapshot(m, time.Now())
			var names []string
			for _, mod := range m.Modules {
				names = append(names, mod.Name)
			}
			fs := checks.Run(checks.All(), checks.Input{Snap: snap, Self: "readiness"}, pol)
			failed := map[string]bool{}
			for _, f := range fs {
				if f.Status == checks.Fail && !failed[f.ID] {
					failed[f.ID] = true
					failures[f.ID]++
				}
			}
			for _, id := range judged {
				got := map[checks.Status][]string{}
				for _, f := range fs {
					if f.ID == id {
						got[f.Status] = append(got[f.Status], findingKey(f))
					}
				}
				for _, st := range []struct {
					status checks.Status
					want   string
				}{{checks.Fail, want.fail[id]}, {checks.Skip, want.skip[id]}, {checks.Error, want.errs[id]}} {
					w := expand(st.want, names)
					g := sorted(got[st.status])
					total++
					if strings.Join(g, " ") != strings.Join(w, " ") {
						t.Errorf("%s %s: %q, judged %q", id, st.status, g, w)
						for _, f := range fs {
							if f.ID == id && f.Status == st.status {
								t.Logf("  %s %s: %s", findingKey(f), f.Status, f.Message)
							}
						}
						continue
					}
					agree++
				}
			}
		})
	}
	t.Logf("corpus: %d manifests, %d of %d judgements agree", len(files), agree, total)
	ids := make([]string, 0, len(failures))
	for id := range failures {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		return failures[ids[i]] > failures[ids[j]] || failures[ids[i]] == failures[ids[j]] && ids[i] < ids[j]
	})
	for _, id := range ids {
		t.Logf("  %-36s fails in %d manifests", id, failures[id])
	}
}

// findingKey names a finding as the table does.
func findingKey(f checks.Finding) string {
	switch {
	case f.Subject != "":
		return strings.ReplaceAll(f.Subject, " ", "_")
	case f.Module != "":
		return f.Module
	}
	return "-"
}

func expand(s string, modules []string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		if w == "*" {
			out = append(out, modules...)
			continue
		}
		out = append(out, w)
	}
	return sorted(out)
}

func sorted(l []string) []string {
	out := append([]string(nil), l...)
	sort.Strings(out)
	return out
}

// TestCorpusSources: every manifest of the corpus is listed in SOURCES.md.
func TestCorpusSources(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(corpusDir, "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	for _, f := range files {
		if !strings.Contains(string(src), "`"+filepath.Base(f)+"`") {
			t.Errorf("%s is not in SOURCES.md", filepath.Base(f))
		}
	}
}
