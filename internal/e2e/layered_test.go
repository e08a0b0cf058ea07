package e2e

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// This file needs no Docker engine: it checks the ADM files of the fleet
// view, deployment/readiness.layered.json and readiness.metrics.json.

// layered is an IoT Edge layered deployment's content, as
// az iot edge deployment create --layered --content takes it: dot-notation
// keys only, so that it adds to the base deployment instead of replacing it.
type layered struct {
	Content struct {
		ModulesContent struct {
			EdgeAgent map[string]json.RawMessage `json:"$edgeAgent"`
			EdgeHub   map[string]json.RawMessage `json:"$edgeHub"`
			Readiness map[string]json.RawMessage `json:"readiness"`
		} `json:"modulesContent"`
	} `json:"content"`
}

const (
	layeredModuleKey = "properties.desired.modules.readiness"
	layeredRouteKey  = "properties.desired.routes.readinessToHub"
	readinessRoute   = "FROM /messages/modules/readiness/outputs/readiness INTO $upstream"
)

func loadLayered(t *testing.T) (*layered, manifestModule) {
	t.Helper()
	var l layered
	decodeStrict(t, "deployment/readiness.layered.json", readRepoFile(t, "deployment/readiness.layered.json"), &l)
	mc := l.Content.ModulesContent
	keys := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	// Nothing but the module, its route and its policy: no runtime, no
	// system modules, no whole properties.desired of edgeAgent or edgeHub,
	// which would replace the base deployment's.
	if k := keys(mc.EdgeAgent); len(k) != 1 || k[0] != layeredModuleKey {
		t.Fatalf("$edgeAgent keys = %v, want only %s", k, layeredModuleKey)
	}
	if k := keys(mc.EdgeHub); len(k) != 1 || k[0] != layeredRouteKey {
		t.Fatalf("$edgeHub keys = %v, want only %s", k, layeredRouteKey)
	}
	if k := keys(mc.Readiness); len(k) != 1 || k[0] != "properties.desired" {
		t.Fatalf("readiness keys = %v, want only properties.desired (the whole policy: the decoder refuses a sub-section)", k)
	}
	var mod manifestModule
	decodeStrict(t, "the layered readiness module", mc.EdgeAgent[layeredModuleKey], &mod)
	return &l, mod
}

// templateModule is the base template's readiness module, placeholders
// left as they are.
func templateModule(t *testing.T) manifestModule {
	t.Helper()
	var tmpl struct {
		ModulesContent struct {
			EdgeAgent struct {
				Desired struct {
					Modules map[string]json.RawMessage `json:"modules"`
				} `json:"properties.desired"`
			} `json:"$edgeAgent"`
		} `json:"modulesContent"`
	}
	if err := json.Unmarshal(readRepoFile(t, "deployment/deployment.template.json"), &tmpl); err != nil {
		t.Fatal(err)
	}
	var mod manifestModule
	decodeStrict(t, "the template's readiness module", tmpl.ModulesContent.EdgeAgent.Desired.Modules["readiness"], &mod)
	return mod
}

func TestLayeredDeployment(t *testing.T) {
	l, mod := loadLayered(t)
	mc := l.Content.ModulesContent

	var route string
	if err := json.Unmarshal(mc.EdgeHub[layeredRouteKey], &route); err != nil || route != readinessRoute {
		t.Errorf("route = %s, want %q", mc.EdgeHub[layeredRouteKey], readinessRoute)
	}
	if _, err := policy.Decode(mc.Readiness["properties.desired"], checks.Specs(checks.All())); err != nil {
		t.Errorf("default policy: %v", err)
	}

	// The image is module.json's, for amd64, with the registry left to fill.
	var mj moduleJSON
	decodeStrict(t, "module.json", readRepoFile(t, "module.json"), &mj)
	if want := mj.Image.Repository + ":" + mj.Image.Tag.Version + "-amd64"; mod.Settings.Image != want {
		t.Errorf("image = %q, want %q (module.json)", mod.Settings.Image, want)
	}
	// Everything else is the base template's module, so that the layer
	// deploys what the repository tests.
	base := templateModule(t)
	mod.Settings.Image, base.Settings.Image = "", ""
	if !reflect.DeepEqual(mod, base) {
		t.Errorf("the layered readiness module differs from deployment/deployment.template.json's (keep them the same but for the image):\nlayered  %+v\ntemplate %+v", mod, base)
	}
	if mod.Status != "running" || mod.RestartPolicy != "always" || mod.Type != "docker" || mod.Settings.CreateOptions == "" {
		t.Errorf("module = %+v", mod)
	}
}

// TestLayeredDeploymentPassesChecks layers the module on the base
// template's device and runs every check with the layer's default policy:
// its createOptions pass the module's own checks (socket bound read-only,
// memory and CPU limits, log rotation, capabilities, read-only root) and
// the device is ready.
func TestLayeredDeploymentPassesChecks(t *testing.T) {
	l, mod := loadLayered(t)
	m, _ := loadManifest(t)
	base := m.ModulesContent.EdgeAgent.Desired.Modules["readiness"]
	// The template's, with its placeholders filled (TestLayeredDeployment
	// proves the layer's equal), under the layer's image.
	base.Settings.Image = strings.ReplaceAll(mod.Settings.Image, "$CONTAINER_REGISTRY_ADDRESS", registry)
	m.ModulesContent.EdgeAgent.Desired.Modules["readiness"] = base
	m.ModulesContent.Readiness.Desired = l.Content.ModulesContent.Readiness["properties.desired"]
	checkManifestDevice(t, m)
}

// admMetricName: ADM metric names are used as JSON keys and in the portal.
var admMetricName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

func TestADMMetrics(t *testing.T) {
	var f struct {
		Queries map[string]string `json:"queries"`
	}
	decodeStrict(t, "deployment/readiness.metrics.json", readRepoFile(t, "deployment/readiness.metrics.json"), &f)
	if n := len(f.Queries); n == 0 || n > 5 {
		t.Fatalf("%d metrics: ADM takes 1 to 5 custom metrics per configuration", n)
	}
	// Each query counts the readiness module's twins (the layer's module
	// name) by the summary's status, or those without one.
	prefix := "SELECT deviceId FROM devices.modules WHERE moduleId = 'readiness' AND "
	status := "properties.reported." + sink.KeyReadiness + ".status"
	covered := map[string]bool{}
	for name, q := range f.Queries {
		if !admMetricName.MatchString(name) {
			t.Errorf("metric name %q", name)
		}
		if strings.Contains(q, `"`) {
			t.Errorf("%s: double quotes; IoT Hub queries take single-quoted strings", name)
		}
		cond, ok := strings.CutPrefix(q, prefix)
		if !ok {
			t.Errorf("%s: %q does not start with %q", name, q, prefix)
			continue
		}
		switch cond {
		case status + " = '" + report.Ready + "'":
			covered[report.Ready] = true
		case status + " = '" + report.Degraded + "'":
			covered[report.Degraded] = true
		case status + " = '" + report.NotReady + "'":
			covered[report.NotReady] = true
		case "NOT IS_DEFINED(" + status + ")":
			covered["notReporting"] = true
		default:
			t.Errorf("%s: unexpected condition %q", name, cond)
		}
	}
	for _, want := range []string{report.Ready, report.Degraded, report.NotReady, "notReporting"} {
		if !covered[want] {
			t.Errorf("no metric counts %s", want)
		}
	}
	// The module name in the queries is the layer's.
	l, _ := loadLayered(t)
	if _, ok := l.Content.ModulesContent.EdgeAgent["properties.desired.modules.readiness"]; !ok {
		t.Error("the metrics query module readiness, which the layer does not deploy")
	}
}
