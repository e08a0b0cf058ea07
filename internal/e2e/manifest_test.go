package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	manifestlint "github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// This file needs no Docker engine: it checks the shipped manifest,
// module.json and dev container definition.

// moduleJSON is module.json in the IoT Edge tooling's format.
type moduleJSON struct {
	SchemaVersion string `json:"$schema-version"`
	Description   string `json:"description"`
	Image         struct {
		Repository string `json:"repository"`
		Tag        struct {
			Version   string            `json:"version"`
			Platforms map[string]string `json:"platforms"`
		} `json:"tag"`
		BuildOptions []string `json:"buildOptions"`
		ContextPath  string   `json:"contextPath"`
	} `json:"image"`
	Language string `json:"language"`
}

// manifestModule is a module entry of $edgeAgent's desired properties.
type manifestModule struct {
	Version       string `json:"version"`
	Type          string `json:"type"`
	Status        string `json:"status"`
	RestartPolicy string `json:"restartPolicy"`
	StartupOrder  *int   `json:"startupOrder"`
	Settings      struct {
		Image         string `json:"image"`
		CreateOptions string `json:"createOptions"`
	} `json:"settings"`
	Env map[string]struct {
		Value string `json:"value"`
	} `json:"env"`
}

type manifest struct {
	SchemaTemplate string `json:"$schema-template"`
	ModulesContent struct {
		EdgeAgent struct {
			Desired struct {
				SchemaVersion string `json:"schemaVersion"`
				Runtime       struct {
					Type     string `json:"type"`
					Settings struct {
						MinDockerVersion    string                       `json:"minDockerVersion"`
						LoggingOptions      string                       `json:"loggingOptions"`
						RegistryCredentials map[string]map[string]string `json:"registryCredentials"`
					} `json:"settings"`
				} `json:"runtime"`
				SystemModules map[string]manifestModule `json:"systemModules"`
				Modules       map[string]manifestModule `json:"modules"`
			} `json:"properties.desired"`
		} `json:"$edgeAgent"`
		EdgeHub struct {
			Desired struct {
				SchemaVersion string `json:"schemaVersion"`
				Routes        map[string]struct {
					Route          string `json:"route"`
					Priority       int    `json:"priority"`
					TimeToLiveSecs int    `json:"timeToLiveSecs"`
				} `json:"routes"`
				StoreAndForward struct {
					TimeToLiveSecs int `json:"timeToLiveSecs"`
				} `json:"storeAndForwardConfiguration"`
			} `json:"properties.desired"`
		} `json:"$edgeHub"`
		Readiness struct {
			Desired json.RawMessage `json:"properties.desired"`
		} `json:"readiness"`
	} `json:"modulesContent"`
}

// createOptions is what the runtime passes to the engine's container create.
type createOptions struct {
	container.Config
	HostConfig *container.HostConfig `json:"HostConfig,omitempty"`
}

const registry = "myregistry.azurecr.io"

func decodeStrict(t *testing.T, what string, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestModuleJSON(t *testing.T) {
	var m moduleJSON
	decodeStrict(t, "module.json", readRepoFile(t, "module.json"), &m)
	if m.SchemaVersion != "0.0.1" || m.Language != "go" || m.Image.ContextPath != "./" || m.Description == "" {
		t.Errorf("module.json header = %+v", m)
	}
	if !strings.HasPrefix(m.Image.Repository, "$CONTAINER_REGISTRY_ADDRESS/") {
		t.Errorf("image.repository = %q, want a $CONTAINER_REGISTRY_ADDRESS placeholder", m.Image.Repository)
	}
	root, _ := repoRoot()
	// Per platform: the target the file builds when the builder gives none
	// (the classic builder), and the --platform it accepts from BuildKit.
	wantArch := map[string][]string{
		"amd64":   {`GOARCH="${TARGETARCH:-amd64}"`, `"${TARGETPLATFORM:-linux/amd64}"`},
		"arm32v7": {`GOARCH="${TARGETARCH:-arm}"`, `goarm="${TARGETVARIANT:-v7}"`, `GOARM="${goarm#v}"`, `"${TARGETPLATFORM:-linux/arm/v7}"`},
		"arm64v8": {`GOARCH="${TARGETARCH:-arm64}"`, `"${TARGETPLATFORM:-linux/arm64}"`},
	}
	if len(m.Image.Tag.Platforms) != len(wantArch) {
		t.Errorf("platforms = %v, want %d", m.Image.Tag.Platforms, len(wantArch))
	}
	for plat, goenv := range wantArch {
		df := m.Image.Tag.Platforms[plat]
		b, err := os.ReadFile(filepath.Join(root, filepath.Clean(df)))
		if err != nil {
			t.Errorf("platform %s: %v", plat, err)
			continue
		}
		for _, s := range append(goenv, "ARG BUILDER_IMAGE=golang:1.26-bookworm",
			"FROM --platform=${BUILDPLATFORM:-linux} ${BUILDER_IMAGE} AS build", "RUN go mod download",
			"ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT", `GOOS="${TARGETOS:-linux}"`,
			"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X github.com/edge-readiness/edge-readiness/internal/cli.Version=${VERSION}"`,
			"FROM scratch", "USER "+imageUser, `ENTRYPOINT ["/edge-readiness"]`, `CMD ["run"]`) {
			if !strings.Contains(string(b), s) {
				t.Errorf("%s does not hold %q", df, s)
			}
		}
	}
	// Each entry one whole option, as iotedgedev reads them (tooling_test.go).
	if want := []string{"--build-arg VERSION=" + m.Image.Tag.Version}; strings.Join(m.Image.BuildOptions, "\n") != strings.Join(want, "\n") {
		t.Errorf("buildOptions = %q, want %q (the VERSION build argument = tag.version)", m.Image.BuildOptions, want)
	}
}

func TestDevcontainer(t *testing.T) {
	var dc struct {
		Name  string `json:"name"`
		Build struct {
			Dockerfile string `json:"dockerfile"`
		} `json:"build"`
		Features          map[string]map[string]any `json:"features"`
		Mounts            []string                  `json:"mounts"`
		RunArgs           []string                  `json:"runArgs"`
		WorkspaceMount    string                    `json:"workspaceMount"`
		WorkspaceFolder   string                    `json:"workspaceFolder"`
		PostCreateCommand string                    `json:"postCreateCommand"`
		Customizations    struct {
			VSCode struct {
				Extensions []string `json:"extensions"`
			} `json:"vscode"`
		} `json:"customizations"`
	}
	decodeStrict(t, ".devcontainer/devcontainer.json", readRepoFile(t, ".devcontainer/devcontainer.json"), &dc)
	if dc.PostCreateCommand != "go mod download" {
		t.Errorf("postCreateCommand = %q", dc.PostCreateCommand)
	}
	if !strings.Contains(strings.Join(dc.Mounts, " "), "/var/run/docker.sock") {
		t.Errorf("mounts = %v, want the host's Docker socket", dc.Mounts)
	}
	if !strings.Contains(strings.Join(dc.Customizations.VSCode.Extensions, " "), "golang.go") {
		t.Errorf("extensions = %v, want golang.go", dc.Customizations.VSCode.Extensions)
	}
	if _, ok := dc.Features["ghcr.io/devcontainers/features/docker-outside-of-docker:1"]; !ok {
		t.Errorf("features = %v, want docker-outside-of-docker", dc.Features)
	}
	df := string(readRepoFile(t, ".devcontainer/"+dc.Build.Dockerfile))
	for _, s := range []string{"FROM golang:1.26-bookworm", "busybox-static", "time"} {
		if !strings.Contains(df, s) {
			t.Errorf(".devcontainer/%s does not hold %q", dc.Build.Dockerfile, s)
		}
	}
}

// dockerGID is the engine socket's group on the synthetic device, the
// template's ${DOCKER_GID}.
const dockerGID = "998"

// loadManifest reads the deployment template with its variables and image
// placeholder filled as the IoT Edge tooling does for amd64 (tooling_test.go).
func loadManifest(t *testing.T) (*manifest, *moduleJSON) {
	t.Helper()
	env := map[string]string{"CONTAINER_REGISTRY_ADDRESS": registry, "DOCKER_GID": dockerGID}
	var mj moduleJSON
	decodeStrict(t, "module.json", []byte(expandVars(string(readRepoFile(t, "module.json")), env)), &mj)
	raw := expandVars(string(readRepoFile(t, "deployment/deployment.template.json")), env)
	if !strings.Contains(raw, `"image": "${MODULEDIR<..>}"`) {
		t.Errorf("the template does not name the module image as ${MODULEDIR<..>} (module.json in the repository root)")
	}
	raw = strings.ReplaceAll(raw, "${MODULEDIR<..>}", moduleImage(&mj, "", "amd64"))
	var m manifest
	decodeStrict(t, "deployment/deployment.template.json", []byte(raw), &m)
	return &m, &mj
}

func TestDeploymentManifest(t *testing.T) {
	m, _ := loadManifest(t)
	ea := m.ModulesContent.EdgeAgent.Desired
	if ea.SchemaVersion != "1.1" || ea.Runtime.Type != "docker" {
		t.Errorf("$edgeAgent: schemaVersion %q, runtime %q", ea.SchemaVersion, ea.Runtime.Type)
	}
	for name, img := range map[string]string{"edgeAgent": testenv.EdgeAgentImage, "edgeHub": testenv.EdgeHubImage} {
		sm, ok := ea.SystemModules[name]
		if !ok || sm.Settings.Image != img {
			t.Errorf("system module %s: image %q, want %s", name, sm.Settings.Image, img)
		}
	}
	hub := m.ModulesContent.EdgeHub.Desired
	r, ok := hub.Routes["readinessToUpstream"]
	if !ok || r.Route != "FROM /messages/modules/readiness/outputs/readiness INTO $upstream" {
		t.Errorf("$edgeHub routes = %+v", hub.Routes)
	}
	if hub.StoreAndForward.TimeToLiveSecs <= 0 {
		t.Errorf("$edgeHub storeAndForwardConfiguration.timeToLiveSecs = %d", hub.StoreAndForward.TimeToLiveSecs)
	}
	if _, err := policy.Decode(m.ModulesContent.Readiness.Desired, checks.Specs(checks.All())); err != nil {
		t.Errorf("readiness desired properties: %v", err)
	}
	// The image runs as 65532:65532: the socket's group is added, from the
	// ${DOCKER_GID} the tooling fills in.
	var co createOptions
	decodeStrict(t, "readiness createOptions", []byte(ea.Modules["readiness"].Settings.CreateOptions), &co)
	if co.HostConfig == nil || strings.Join(co.HostConfig.GroupAdd, ",") != dockerGID {
		t.Errorf("readiness createOptions: GroupAdd %v, want [${DOCKER_GID}] = [%s]", co.HostConfig, dockerGID)
	} else if !strings.Contains(strings.Join(co.HostConfig.Binds, ","), "/var/run/docker.sock:/var/run/docker.sock:ro") {
		t.Errorf("readiness createOptions: Binds %v, want the socket read-only", co.HostConfig.Binds)
	}
}

// Identity of the synthetic device the manifest is deployed to.
const (
	deviceHost = "edge-device-01"
	deviceHub  = "contoso-hub.azure-devices.net"
)

// TestManifestPassesChecks turns the manifest's modules into the containers
// the runtime would create and runs every check on a synthetic production
// device: Moby 20.10.11+azure-3, plenty of disk, DNS set in daemon.json, an
// Edge CA issued by the owner's root, IoT Hub and the registries reachable,
// the clock right. The manifest's own modules pass every check; what the
// manifest chooses on purpose shows: the runtime comes from
// mcr.microsoft.com and no metrics collector is deployed (both info), and
// the readiness module's own socket mount is exempted by the built-in
// exemption.
func TestManifestPassesChecks(t *testing.T) {
	m, _ := loadManifest(t)
	checkManifestDevice(t, m)
}

// checkManifestDevice runs every check on the synthetic device m deploys,
// with the readiness module's desired properties as the policy.
func checkManifestDevice(t *testing.T, m *manifest) {
	t.Helper()
	pol, err := policy.Decode(m.ModulesContent.Readiness.Desired, checks.Specs(checks.All()))
	if err != nil {
		t.Fatalf("readiness desired properties: %v", err)
	}
	now := time.Now()
	ea := m.ModulesContent.EdgeAgent.Desired
	var containers []facts.Container
	add := func(name string, mm manifestModule) {
		containers = append(containers, manifestContainer(t, name, mm, now, len(containers)+2))
	}
	add("edgeAgent", ea.SystemModules["edgeAgent"])
	add("edgeHub", ea.SystemModules["edgeHub"])
	if len(ea.Modules) != 1 {
		t.Errorf("modules = %d, want only readiness", len(ea.Modules))
	}
	add("readiness", ea.Modules["readiness"])

	names := []string{"edgeAgent", "edgeHub", "readiness"}
	scrape := func(name string, page []byte) *facts.Scrape {
		samples, err := facts.ParseMetrics(bytes.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		return &facts.Scrape{Endpoint: "http://" + name + ":9600/metrics", Samples: samples, Time: now}
	}
	day := 24 * time.Hour
	root := facts.Cert{Subject: "CN=Contoso Root CA", CommonName: "Contoso Root CA", Issuer: "CN=Contoso Root CA",
		NotBefore: now.Add(-365 * day), NotAfter: now.Add(10 * 365 * day), IsCA: true, SelfSigned: true}
	edgeCA := facts.Cert{Subject: "CN=" + deviceHost + " Edge CA", CommonName: deviceHost + " Edge CA", Issuer: root.Subject,
		NotBefore: now.Add(-30 * day), NotAfter: now.Add(335 * day), IsCA: true, HasAKID: true}
	leaf := facts.Cert{Subject: "CN=" + deviceHost, CommonName: deviceHost, Issuer: edgeCA.Subject,
		NotBefore: now.Add(-2 * day), NotAfter: now.Add(28 * day), HasAKID: true, DNSNames: []string{deviceHost}}
	snap := &facts.Snapshot{
		Time: now,
		Engine: &facts.Engine{ServerVersion: "20.10.11+azure-3", APIVersion: "1.41", OS: "linux", Arch: "x86_64",
			KernelVersion: "5.15.0-1057-azure", OperatingSystem: "Ubuntu 22.04.4 LTS", Hostname: deviceHost, NCPU: 4,
			MemTotal: 4 << 30, LoggingDriver: "json-file", DockerRootDir: "/var/lib/docker", ImagesReclaimable: 0,
			Components: []string{"Engine 20.10.11+azure-3"}},
		DaemonJSON: &facts.DaemonJSON{Path: "/etc/docker/daemon.json", DNS: []string{"10.0.0.2"}, LogDriver: "local"},
		Containers: containers,
		Networks:   []facts.Network{{Name: facts.EdgeNetwork, Driver: "bridge"}},
		Metrics: map[string]*facts.Scrape{
			facts.EdgeHub:   scrape(facts.EdgeHub, testenv.EdgeHubMetrics(t)),
			facts.EdgeAgent: scrape(facts.EdgeAgent, testenv.EdgeAgentMetrics(t, testenv.AgentMetrics{Modules: names, DiskFreeRatio: 0.6})),
		},
		Certs: &facts.Certs{TrustBundle: []facts.Cert{root}, EdgeHubEndpoint: deviceHost + ":8883",
			EdgeHubChain: []facts.Cert{leaf, edgeCA}},
		Probes: []facts.Probe{
			{Purpose: "iothub", Host: deviceHub, Port: "5671", Addrs: []string{"20.0.0.10"}, LatencyMs: 40},
			{Purpose: "registry", Host: "mcr.microsoft.com", Port: "443", Addrs: []string{"20.0.0.20"}, LatencyMs: 30},
			{Purpose: "registry", Host: registry, Port: "443", Addrs: []string{"20.0.0.30"}, LatencyMs: 35},
		},
		Clock: &facts.Clock{Source: "https://" + deviceHub + "/", Reference: now, Local: now.Add(300 * time.Millisecond),
			SkewSeconds: 0.3},
		Parent: &facts.ParentProbe{}, // not a child device
		Env:    runtimeEnv("readiness"),
	}
	found := checks.Run(checks.All(), checks.Input{Snap: snap, Self: "readiness"}, pol)
	rep := &report.Report{Findings: found}
	expectAll(t, rep, names, func(f checks.Finding) want {
		if w, ok := undecided[f.ID]; ok {
			return w
		}
		switch f.ID {
		case "edgehub-optimize-for-performance":
			return want{status: checks.Skip, contains: []string{"not constrained"}}
		case "runtime-images-private-registry":
			return want{status: checks.Fail, severity: policy.Info, contains: []string{"comes from mcr.microsoft.com"}}
		case "observability-module":
			return want{status: checks.Fail, severity: policy.Info, contains: []string{"no module ships logs or metrics"}}
		}
		return want{status: checks.Pass}
	}, map[key]want{
		{"docker-socket-mounts", "readiness"}: {status: checks.Skip, contains: []string{"exempted by policy (builtin-own-docker-socket)"}},
	})
	if s := report.Summarize(found); s.Status != report.Ready {
		t.Errorf("the manifest's device is %s, want ready", s.Status)
	}
}

// runtimeEnv is what the IoT Edge runtime adds to a module's env.
func runtimeEnv(module string) map[string]string {
	env := map[string]string{
		"IOTEDGE_WORKLOADURI":    "unix:///var/run/iotedge/workload.sock",
		"IOTEDGE_AUTHSCHEME":     "sasToken",
		"IOTEDGE_IOTHUBHOSTNAME": deviceHub,
		"IOTEDGE_DEVICEID":       deviceHost,
		"IOTEDGE_MODULEID":       module,
		"IOTEDGE_APIVERSION":     "2022-08-03",
	}
	switch module {
	case "edgeAgent", "edgeHub":
		env["EdgeDeviceHostName"] = deviceHost
	default:
		env["IOTEDGE_GATEWAYHOSTNAME"] = deviceHost
	}
	return env
}

// manifestContainer is the container the runtime creates for a module
// entry on the synthetic device: the product reads the entry as check
// --manifest does (internal/manifest), and the device adds what the runtime
// and the engine give a running module (its env, identity, state, address).
func manifestContainer(t *testing.T, name string, mm manifestModule, now time.Time, ipLast int) facts.Container {
	t.Helper()
	entry, err := json.Marshal(mm)
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"modulesContent":{"$edgeAgent":{"properties.desired":{"modules":{%q:%s}}}}}`, name, entry)
	m, err := manifestlint.Parse([]byte(doc), "deployment.json", manifestlint.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c := m.Modules[0].Container()
	if c.InspectError != "" || len(c.Unresolved) > 0 {
		t.Fatalf("%s: %s %+v", name, c.InspectError, c.Unresolved)
	}
	for k, v := range runtimeEnv(name) {
		c.Env[k] = v
	}
	c.ID = strings.Repeat(string(rune('a'+ipLast)), 64)
	c.State = facts.State{Status: "running", Running: true, StartedAt: now.Add(-time.Hour), Created: now.Add(-2 * time.Hour)}
	c.Networks = map[string]string{facts.EdgeNetwork: "172.18.0." + string(rune('0'+ipLast))}
	return c
}
