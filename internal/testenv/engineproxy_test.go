package testenv

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

func TestNormaliseEndpoint(t *testing.T) {
	for _, tc := range []struct{ path, endpoint, object string }{
		{"/_ping", "/_ping", ""},
		{"/info", "/info", ""},
		{"/system/df", "/system/df", ""},
		{"/containers/json", "/containers/json", ""},
		{"/containers/edgeHub/json", "/containers/{id}/json", "edgeHub"},
		{"/containers/0123456789ab/logs", "/containers/{id}/logs", "0123456789ab"},
		{"/containers/filter", "/containers/{id}", "filter"},
		{"/containers/create", "/containers/create", ""},
		{"/images/json", "/images/json", ""},
		{"/images/myregistry.azurecr.io/filter:1.2.3/json", "/images/{name}/json", "myregistry.azurecr.io/filter:1.2.3"},
		{"/images/busybox", "/images/{name}", "busybox"},
		{"/volumes", "/volumes", ""},
		{"/volumes/data", "/volumes/{name}", "data"},
		{"/networks", "/networks", ""},
		{"/networks/azure-iot-edge/connect", "/networks/{id}/connect", "azure-iot-edge"},
		{"/exec/abc/start", "/exec/{id}/start", "abc"},
	} {
		e, o := normaliseEndpoint(tc.path)
		if e != tc.endpoint || o != tc.object {
			t.Errorf("normaliseEndpoint(%q) = %q, %q; want %q, %q", tc.path, e, o, tc.endpoint, tc.object)
		}
	}
}

// TestEngineProxy talks to the engine through the proxy: the API version is
// negotiated, requests are recorded, and a fault answers in the engine's
// place as the engine would.
func TestEngineProxy(t *testing.T) {
	p := NewEngineProxy(t)
	cli, err := client.NewClientWithOpts(client.WithHost(p.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatalf("version through the proxy: %v", err)
	}
	p.Fail(Fault{Method: http.MethodGet, Endpoint: "/info", Message: "no info today"})
	if _, err := cli.Info(ctx); err == nil || !strings.Contains(err.Error(), "no info today") {
		t.Errorf("info through the failing proxy: err = %v, want the fault's message", err)
	}
	var got []string
	for _, r := range p.Requests() {
		got = append(got, r.String())
		if r.Endpoint != "/_ping" && r.Version != v.APIVersion {
			t.Errorf("%s: version %q, want %s", r, r.Version, v.APIVersion)
		}
	}
	if want := "HEAD /_ping,GET /version,GET /info"; strings.Join(got, ",") != want {
		t.Errorf("requests = %v, want %s", got, want)
	}
	if rs := p.Requests(); rs[len(rs)-1].Status != http.StatusInternalServerError || !rs[len(rs)-1].Injected {
		t.Errorf("last request %+v, want an injected 500", rs[len(rs)-1])
	}
}
