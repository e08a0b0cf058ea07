package emulator

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestServiceTwinAPI(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	url := e.ServiceURL() + "/twins/device1/modules/" + testModule + "?api-version=2021-04-12"

	var tw ModuleTwin
	status, raw := doJSON(t, nil, "GET", url, nil, &tw)
	if status != 200 || tw.DeviceID != "device1" || tw.ModuleID != testModule || tw.Etag == "" ||
		tw.Properties.Desired["$version"] != float64(1) || tw.Properties.Reported["$version"] != float64(1) {
		t.Fatalf("initial twin: %d %s", status, raw)
	}
	if _, ok := tw.Properties.Desired["$metadata"].(map[string]any)["$lastUpdated"]; !ok {
		t.Fatalf("no $metadata.$lastUpdated: %s", raw)
	}

	status, raw = doJSON(t, nil, "PATCH", url, `{"properties":{"desired":{"a":{"x":1,"y":2},"b":"keep"}}}`, &tw)
	if status != 200 || tw.Properties.Desired["$version"] != float64(2) {
		t.Fatalf("patch: %d %s", status, raw)
	}
	tw = ModuleTwin{}
	status, raw = doJSON(t, nil, "PATCH", url, `{"properties":{"desired":{"a":{"x":null}}}}`, &tw)
	if status != 200 || tw.Properties.Desired["$version"] != float64(3) {
		t.Fatalf("patch: %d %s", status, raw)
	}
	if a := tw.Properties.Desired["a"].(map[string]any); len(a) != 1 || a["y"] != float64(2) || tw.Properties.Desired["b"] != "keep" {
		t.Fatalf("null did not delete only a.x: %s", raw)
	}
	version := tw.Version

	// If-Match with a stale etag is refused.
	req, _ := http.NewRequest("PATCH", url, strings.NewReader(`{"properties":{"desired":{"c":1}}}`))
	req.Header.Set("If-Match", `"AAAAAAAAAAE="`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d", resp.StatusCode)
	}

	tw = ModuleTwin{}
	status, raw = doJSON(t, nil, "PUT", url, `{"properties":{"desired":{"only":true,"$version":99}}}`, &tw)
	if status != 200 || tw.Properties.Desired["$version"] != float64(4) || tw.Properties.Desired["only"] != true ||
		tw.Properties.Desired["a"] != nil || tw.Version != version+1 {
		t.Fatalf("put: %d %s", status, raw)
	}

	for _, bad := range []string{`[]`, `{"properties":{"desired":5}}`, `{`} {
		if status, raw := doJSON(t, nil, "PATCH", url, bad, nil); status != 400 {
			t.Errorf("%s: %d %s", bad, status, raw)
		}
	}
	var herr map[string]string
	status, _ = doJSON(t, nil, "GET", e.ServiceURL()+"/twins/device1/modules/ghost", nil, &herr)
	if status != 404 || !strings.HasPrefix(herr["Message"], "ErrorCode:ModuleNotFound;") {
		t.Fatalf("unknown module: %d %v", status, herr)
	}
	status, _ = doJSON(t, nil, "GET", e.ServiceURL()+"/twins/device2/modules/"+testModule, nil, &herr)
	if status != 404 || !strings.HasPrefix(herr["Message"], "ErrorCode:DeviceNotFound;") {
		t.Fatalf("unknown device: %d %v", status, herr)
	}
}

func TestServiceMethodModuleNotOnline(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	var got map[string]string
	status, raw := doJSON(t, nil, "POST", e.ServiceURL()+"/twins/device1/modules/"+testModule+"/methods?api-version=2021-04-12",
		map[string]any{"methodName": "ping", "payload": map[string]any{}, "responseTimeoutInSeconds": 5}, &got)
	if status != 404 {
		t.Fatalf("got %d %s", status, raw)
	}
	var inner map[string]any
	if err := json.Unmarshal([]byte(got["Message"]), &inner); err != nil || inner["errorCode"] != float64(404103) {
		t.Fatalf("error body: %s (%v)", raw, err)
	}
	status, raw = doJSON(t, nil, "POST", e.ServiceURL()+"/twins/device1/modules/"+testModule+"/methods",
		map[string]any{"methodName": ""}, nil)
	if status != 400 {
		t.Fatalf("empty method name: %d %s", status, raw)
	}
}

func TestEmulatorEndpoints(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	var h Health
	if status, raw := doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/health", nil, &h); status != 200 || h.Status != "ok" || len(h.Modules) != 1 {
		t.Fatalf("health: %d %s", status, raw)
	}
	var conns struct{ Connections []Connection }
	if status, raw := doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/connections", nil, &conns); status != 200 || conns.Connections == nil {
		t.Fatalf("connections: %d %s", status, raw)
	}
	m1, _ := newMessage("device1", testModule, "%24.on=out1&k=v", []byte("one"), e.now())
	m2, _ := newMessage("device1", testModule, "%24.on=out2", []byte{0xff, 0xfe}, e.now())
	e.recordMessage(m1)
	e.recordMessage(m2)
	var list MessageList
	doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/messages?output=out2", nil, &list)
	if len(list.Messages) != 1 || list.Messages[0].BodyEncoding != "base64" || list.LastIndex != 2 {
		t.Fatalf("filter by output: %+v", list)
	}
	doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/messages?since=1&moduleId="+testModule, nil, &list)
	if len(list.Messages) != 1 || list.Messages[0].Index != 2 {
		t.Fatalf("since: %+v", list)
	}
	if status, _ := doJSON(t, nil, "DELETE", e.ServiceURL()+"/emulator/messages", nil, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/messages", nil, &list)
	if len(list.Messages) != 0 || list.LastIndex != 2 {
		t.Fatalf("after delete: %+v", list)
	}
	if status, _ := doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/messages?since=x", nil, nil); status != 400 {
		t.Fatalf("bad since: %d", status)
	}

	// Generated metrics parse as Prometheus text.
	resp, err := http.Get(e.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	f := fams["edgehub_connected_clients"]
	if f == nil || f.GetMetric()[0].GetGauge().GetValue() != 0 {
		t.Fatalf("edgehub_connected_clients: %v", f)
	}
}

func TestMetricsFileServedVerbatim(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MetricsFile = filepath.Join(t.TempDir(), "edgehub.prom")
	const text = "# TYPE edgehub_queue_length gauge\nedgehub_queue_length{endpoint=\"iothub\",priority=\"2000000000\"} 3\n"
	if err := os.WriteFile(cfg.MetricsFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e := startEmulator(t, cfg)
	status, raw := doJSON(t, nil, "GET", e.MetricsURL(), nil, nil)
	if status != 200 || string(raw) != text {
		t.Fatalf("got %d %q", status, raw)
	}
	cfg2 := testConfig(t)
	cfg2.MetricsFile = filepath.Join(t.TempDir(), "missing.prom")
	if _, err := New(cfg2); err == nil {
		t.Fatal("missing metrics file accepted")
	}
}
