package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// Images as a correctly configured deployment names them.
const (
	EdgeAgentImage = "mcr.microsoft.com/azureiotedge-agent:1.6.8"
	EdgeHubImage   = "mcr.microsoft.com/azureiotedge-hub:1.6.8"
	// StorageFolder is the storageFolder of the system modules; their state
	// lives in StorageFolder/<module>, bound from the host.
	StorageFolder = "/iotedge/storage"
	// MetricsPort is where edgeHub and edgeAgent serve Prometheus text.
	MetricsPort = 9600
	// DeviceLabelValue is the value of TestLabel on a Device's objects.
	DeviceLabelValue = "device"
)

// Module describes one module container, which Device.Start creates as the
// IoT Edge runtime would. Fields are used as they are: constructors
// (EdgeAgentModule, EdgeHubModule, CustomModule) give a correctly configured
// module, and a test changes one field to break one thing.
type Module struct {
	Name string
	// Image is the image as the deployment names it: the container gets it
	// as the net.azure-devices.edge.original-image label.
	Image string
	// RunImage is the local image the container really runs; empty means
	// BusyboxImage.
	RunImage string
	// Env is the module's env from the deployment; Start adds what the
	// runtime adds (IOTEDGE_*, EdgeDeviceHostName, ...).
	Env map[string]string
	// Cmd is the container's command; empty means: serve Metrics with busybox
	// httpd when set, else sleep.
	Cmd []string
	// Binds are HostConfig.Binds ("host:container[:ro]"); VolumeMounts mounts
	// named volumes (name -> container path).
	Binds        []string
	VolumeMounts map[string]string
	LogConfig    container.LogConfig
	Memory       int64
	NanoCPUs     int64
	// Ports are container ports ("5678/tcp") published on the same host port,
	// on all interfaces.
	Ports []string
	// Network is the network to join; empty means azure-iot-edge. Aliases
	// are extra names on it.
	Network string
	Aliases []string
	// DNS are the module's DNS servers (HostConfig.Dns).
	DNS []string
	// RestartPolicy is the engine's restart policy ("", "always", ...).
	RestartPolicy container.RestartPolicyMode
	Privileged    bool
	// PidMode, IpcMode and UTSMode share host namespaces when "host".
	PidMode, IpcMode, UTSMode string
	CapAdd                    []string
	CapDrop                   []string
	ReadonlyRootfs            bool
	// GroupAdd are supplementary groups of the container's user
	// (HostConfig.GroupAdd), such as the engine socket's group for a module
	// that runs as a user other than root.
	GroupAdd []string
	// Labels are added to the runtime's labels.
	Labels map[string]string
	// Healthcheck is the container's health check (createOptions'
	// Healthcheck); nil means the image's, which busybox has none of.
	Healthcheck *container.HealthConfig
	// ServeMetrics makes the container serve Prometheus text on port 9600 at
	// /metrics with busybox httpd; Metrics is the page (for edgeAgent and
	// edgeHub, nil means the device's default page).
	ServeMetrics bool
	Metrics      []byte
	// What Start waits for after starting the container: by default that it
	// runs (and answers on port 9600 when it serves metrics); WaitExit waits
	// until it exits; WaitRestarts until the engine has restarted it that many
	// times. NoStart leaves it created. StartLast starts it only once every
	// other module is up (for a module that inspects the device, such as
	// edge-readiness itself).
	WaitExit     bool
	WaitRestarts int
	// WaitHealth waits until the engine reports this health status
	// ("healthy", "unhealthy") of the container's health check.
	WaitHealth string
	NoStart    bool
	StartLast  bool
}

// Device is a simulated IoT Edge device: edgeAgent, edgeHub and custom
// modules as containers of busybox on the azure-iot-edge network.
// Start it once; it is removed when the test ends. Devices use fixed
// container names: tests that start one must not run in parallel.
type Device struct {
	// Hostname is the device's EdgeDeviceHostName, also edgeHub's alias on
	// the azure-iot-edge network.
	Hostname string
	DeviceID string
	IoTHub   string
	// EdgeAgent and EdgeHub are the system modules; nil means no container.
	EdgeAgent *Module
	EdgeHub   *Module
	// Modules are the custom modules.
	Modules []*Module
	// Agent shapes edgeAgent's default metrics page. Agent.Modules empty
	// means every module of the device plus ExpectedOnly.
	Agent AgentMetrics
	// ExpectedOnly names modules edgeAgent expects (its metrics say so) that
	// have no container.
	ExpectedOnly []string
	// UnusedVolumes are named volumes created that no container uses.
	UnusedVolumes []string
	// HostDir is a host directory for the device's bind mounts (storage,
	// sockets), under the test's temporary directory.
	HostDir string

	cli        *client.Client
	containers map[string]string // name -> ID
	started    bool
}

// NewDevice returns a correctly configured device: edgeAgent and edgeHub
// 1.6.8 with host storage and the same UpstreamProtocol (and edgeAgent's
// ModuleUpdateMode WaitForAllPulls), two custom modules from
// myregistry.azurecr.io tagged 1.2.3, json-file logs with max-size and
// max-file, memory and CPU limits and a DNS server on every module, plenty
// of disk.
func NewDevice(t testing.TB) *Device {
	t.Helper()
	dir := t.TempDir()
	d := &Device{
		Hostname: "er-e2e-device",
		DeviceID: "er-e2e-device",
		IoTHub:   "er-e2e-hub.azure-devices.net",
		HostDir:  dir,
	}
	d.EdgeAgent = EdgeAgentModule(filepath.Join(dir, "storage", "edgeAgent"))
	d.EdgeHub = EdgeHubModule(filepath.Join(dir, "storage", "edgeHub"))
	d.Modules = []*Module{
		CustomModule("filter", "myregistry.azurecr.io/filter:1.2.3"),
		CustomModule("sensor", "myregistry.azurecr.io/sensor:1.2.3"),
	}
	return d
}

// ModuleDNS is the DNS server every module of a correct device names (the
// checklist asks for one): a loopback address, so that no query a module
// makes leaves the machine.
var ModuleDNS = []string{"127.0.0.1"}

// RotatedLogs is the json-file configuration with rotation.
func RotatedLogs() container.LogConfig {
	return container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}}
}

// EdgeAgentModule returns edgeAgent as a correct deployment has it, with its
// storage bound from hostStorage.
func EdgeAgentModule(hostStorage string) *Module {
	return &Module{
		Name:  facts.EdgeAgent,
		Image: EdgeAgentImage,
		Env: map[string]string{
			"UpstreamProtocol": "Amqp",
			"storageFolder":    StorageFolder,
			"ModuleUpdateMode": "WaitForAllPulls",
		},
		Binds:        []string{hostStorage + ":" + StorageFolder},
		LogConfig:    RotatedLogs(),
		DNS:          ModuleDNS,
		Memory:       256 << 20,
		NanoCPUs:     500_000_000,
		ServeMetrics: true,
	}
}

// EdgeHubModule returns edgeHub as a correct deployment has it, with its
// storage bound from hostStorage and ports 443, 5671 and 8883 published.
func EdgeHubModule(hostStorage string) *Module {
	return &Module{
		Name:  facts.EdgeHub,
		Image: EdgeHubImage,
		Env: map[string]string{
			"UpstreamProtocol": "Amqp",
			"storageFolder":    StorageFolder,
		},
		Binds:        []string{hostStorage + ":" + StorageFolder},
		LogConfig:    RotatedLogs(),
		DNS:          ModuleDNS,
		Memory:       512 << 20,
		NanoCPUs:     1_000_000_000,
		Ports:        []string{"443/tcp", "5671/tcp", "8883/tcp"},
		ServeMetrics: true,
	}
}

// CustomModule returns a correctly configured custom module running image
// (as the deployment names it).
func CustomModule(name, image string) *Module {
	return &Module{
		Name:      name,
		Image:     image,
		Env:       map[string]string{},
		LogConfig: RotatedLogs(),
		DNS:       ModuleDNS,
		Memory:    128 << 20,
		NanoCPUs:  250_000_000,
	}
}

// SleepCmd keeps a busybox container running.
func SleepCmd() []string { return []string{"/bin/busybox", "sleep", "2147483647"} }

// ExitCmd makes a busybox container exit at once with code.
func ExitCmd(code int) []string {
	return []string{"/bin/busybox", "sh", "-c", "exit " + strconv.Itoa(code)}
}

// All returns the device's modules: edgeAgent, edgeHub, then the custom ones.
func (d *Device) All() []*Module {
	var out []*Module
	for _, m := range []*Module{d.EdgeAgent, d.EdgeHub} {
		if m != nil {
			out = append(out, m)
		}
	}
	return append(out, d.Modules...)
}

// Module returns the module with the given name, or nil.
func (d *Device) Module(name string) *Module {
	for _, m := range d.All() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Client returns the engine client of a started device.
func (d *Device) Client() *client.Client { return d.cli }

// ContainerID returns the ID of a module's container once started.
func (d *Device) ContainerID(name string) string { return d.containers[name] }

// Start waits its turn for the engine's module names (hostlock.Modules: one
// device at a time on the engine, whatever test process starts it), removes
// leftovers of an earlier run, creates the azure-iot-edge
// network when missing and the device's containers, starts them and waits
// for them as each Module says. Everything it creates is removed when the
// test ends.
func (d *Device) Start(t testing.TB) {
	t.Helper()
	if d.started {
		t.Fatal("testenv: Device.Start called twice")
	}
	d.started = true
	d.cli = RequireDocker(t)
	// Before anything is created: the lock is released after the cleanup
	// below has removed the device (cleanups run last in, first out).
	hostlock.Modules(t)
	busybox := BusyboxImage(t)
	ctx, cancel := ctxFor(t, 5*time.Minute)
	defer cancel()

	mods := d.All()
	seen := map[string]bool{}
	for _, m := range mods {
		if m.Name == "" || seen[m.Name] {
			t.Fatalf("testenv: module name %q is empty or used twice", m.Name)
		}
		seen[m.Name] = true
	}
	d.removeLeftovers(ctx, t, mods)

	createdNet := d.ensureNetwork(ctx, t)
	d.containers = map[string]string{}
	var volumes []string
	t.Cleanup(func() { d.cleanup(t, createdNet, volumes) })

	for _, name := range d.UnusedVolumes {
		volumes = append(volumes, d.createVolume(ctx, t, name))
	}
	for _, m := range mods {
		for name := range m.VolumeMounts {
			volumes = append(volumes, d.createVolume(ctx, t, name))
		}
	}

	if err := os.MkdirAll(filepath.Join(d.HostDir, "mnt"), 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pages := make([][]byte, len(mods))
	for i, m := range mods {
		pages[i] = d.metricsPage(t, m)
	}
	ids := make([]string, len(mods))
	errs := parallel(len(mods), func(i int) error {
		id, err := d.createModule(ctx, mods[i], busybox, pages[i])
		ids[i] = id
		return err
	})
	for i, m := range mods {
		if ids[i] != "" {
			d.containers[m.Name] = ids[i]
		}
	}
	for _, err := range errs {
		t.Fatalf("testenv: %v", err)
	}
	var first, last []*Module
	for _, m := range mods {
		switch {
		case m.NoStart:
		case m.StartLast:
			last = append(last, m)
		default:
			first = append(first, m)
		}
	}
	d.startAndWait(ctx, t, first)
	d.startAndWait(ctx, t, last)
}

// startAndWait starts the modules' containers concurrently, then waits for
// each as its Module says.
func (d *Device) startAndWait(ctx context.Context, t testing.TB, mods []*Module) {
	t.Helper()
	errs := parallel(len(mods), func(i int) error {
		if err := d.cli.ContainerStart(ctx, d.containers[mods[i].Name], container.StartOptions{}); err != nil {
			return fmt.Errorf("starting %s: %w", mods[i].Name, err)
		}
		return nil
	})
	for _, err := range errs {
		t.Fatalf("testenv: %v", err)
	}
	for _, m := range mods {
		d.wait(ctx, t, m)
	}
}

// parallelism bounds concurrent engine calls of a Device.
const parallelism = 4

// parallel runs f(0..n-1), parallelism at a time, and returns the errors.
func parallel(n int, f func(i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// removeLeftovers removes containers named like the device's modules and
// every container and volume an earlier (aborted) run of testenv left. A
// same-named container that no test made (neither testenv's label nor an
// er-test/ image) is not touched: the test fails instead, since it may be a
// real IoT Edge device's module.
func (d *Device) removeLeftovers(ctx context.Context, t testing.TB, mods []*Module) {
	t.Helper()
	remove := map[string]string{} // id -> name
	for _, m := range mods {
		ic, err := d.cli.ContainerInspect(ctx, m.Name)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			t.Fatalf("testenv: inspecting leftover container %s: %v", m.Name, err)
		}
		img := ""
		var labels map[string]string
		if ic.Config != nil {
			img, labels = ic.Config.Image, ic.Config.Labels
		}
		if labels[TestLabel] == "" && !strings.HasPrefix(img, "er-test/") {
			t.Fatalf("testenv: a container named %s (image %s) exists that no test created; refusing to remove it: "+
				"run the engine tests on an engine without IoT Edge modules", m.Name, img)
		}
		remove[ic.ID] = m.Name
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", TestLabel+"="+DeviceLabelValue))})
	if err != nil {
		t.Fatalf("testenv: listing containers: %v", err)
	}
	for _, c := range list {
		remove[c.ID] = strings.TrimPrefix(firstOr(c.Names, c.ID), "/")
	}
	for id, name := range remove {
		if err := removeContainer(ctx, d.cli, id); err != nil {
			t.Fatalf("testenv: removing leftover container %s: %v", name, err)
		}
	}
	if len(remove) > 0 {
		t.Logf("testenv: removed %d leftover containers", len(remove))
	}
	vols, err := d.cli.VolumeList(ctx, volume.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", TestLabel+"="+DeviceLabelValue))})
	if err != nil {
		t.Fatalf("testenv: listing volumes: %v", err)
	}
	for _, v := range vols.Volumes {
		if err := d.cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Fatalf("testenv: removing leftover volume %s: %v", v.Name, err)
		}
	}
}

func firstOr(l []string, def string) string {
	if len(l) > 0 {
		return l[0]
	}
	return def
}

// ensureNetwork creates the azure-iot-edge bridge network unless it exists,
// and tells whether this device owns it (created it, or a testenv run did).
// The network it creates is internal: the host reaches the containers (and
// they reach each other by name), but nothing in them reaches beyond the
// machine, not even a DNS server, so a module under test (edge-readiness and
// its connectivity probes) stays on the machine.
func (d *Device) ensureNetwork(ctx context.Context, t testing.TB) bool {
	t.Helper()
	n, err := d.cli.NetworkInspect(ctx, facts.EdgeNetwork, network.InspectOptions{})
	switch {
	case err == nil && n.Labels[TestLabel] == DeviceLabelValue && !n.Internal && len(n.Containers) == 0:
		// An earlier testenv's network that lets containers out: replace it.
		if err := d.cli.NetworkRemove(ctx, n.ID); err != nil {
			t.Fatalf("testenv: removing network %s: %v", facts.EdgeNetwork, err)
		}
	case err == nil:
		if !n.Internal {
			t.Logf("testenv: network %s exists and is not internal: the device's containers can reach beyond the machine",
				facts.EdgeNetwork)
		}
		return n.Labels[TestLabel] == DeviceLabelValue
	case !cerrdefs.IsNotFound(err):
		t.Fatalf("testenv: inspecting network %s: %v", facts.EdgeNetwork, err)
	}
	_, err = d.cli.NetworkCreate(ctx, facts.EdgeNetwork, network.CreateOptions{Driver: "bridge",
		Internal: true, Labels: map[string]string{TestLabel: DeviceLabelValue}})
	if err != nil {
		t.Fatalf("testenv: creating network %s: %v", facts.EdgeNetwork, err)
	}
	return true
}

func (d *Device) createVolume(ctx context.Context, t testing.TB, name string) string {
	t.Helper()
	v, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: map[string]string{TestLabel: DeviceLabelValue}})
	if err != nil {
		t.Fatalf("testenv: creating volume %s: %v", name, err)
	}
	return v.Name
}

// runtimeEnv returns the module's environment as edgeAgent sets it
// (Agent.Edgelet CreateOrUpdateCommand.GetEnvVars): the deployment's env plus
// the runtime's variables.
func (d *Device) runtimeEnv(m *Module) []string {
	env := map[string]string{}
	for k, v := range m.Env {
		env[k] = v
	}
	set := func(k, v string) { env[k] = v }
	setIfAbsent := func(k, v string) {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	setIfAbsent("IOTEDGE_WORKLOADURI", "unix:///var/run/iotedge/workload.sock")
	set("IOTEDGE_AUTHSCHEME", "sasToken")
	setIfAbsent("IOTEDGE_MODULEGENERATIONID", fmt.Sprintf("63%016d", rand.Int64N(1e16)))
	set("IOTEDGE_IOTHUBHOSTNAME", d.IoTHub)
	set("IOTEDGE_DEVICEID", d.DeviceID)
	set("IOTEDGE_MODULEID", m.Name)
	set("IOTEDGE_APIVERSION", "2022-08-03")
	setIfAbsent("RuntimeLogLevel", "info")
	if d.EdgeAgent != nil {
		if p, ok := d.EdgeAgent.Env["UpstreamProtocol"]; ok {
			setIfAbsent("UpstreamProtocol", p)
		}
	}
	switch m.Name {
	case facts.EdgeAgent:
		set("EdgeDeviceHostName", d.Hostname)
		set("IOTEDGE_MANAGEMENTURI", "unix:///var/run/iotedge/mgmt.sock")
		set("NetworkId", facts.EdgeNetwork)
		set("IOTEDGE_WORKLOADLISTEN_MNTURI", "unix:///var/lib/aziot/edged/mnt")
		set("Mode", "iotedged")
	case facts.EdgeHub:
		set("EdgeDeviceHostName", d.Hostname)
	default:
		set("IOTEDGE_GATEWAYHOSTNAME", d.Hostname)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// metricsPage returns what the module serves, or nil.
func (d *Device) metricsPage(t testing.TB, m *Module) []byte {
	t.Helper()
	if !m.ServeMetrics {
		return nil
	}
	if m.Metrics != nil {
		return m.Metrics
	}
	switch m.Name {
	case facts.EdgeHub:
		return EdgeHubMetrics(t)
	case facts.EdgeAgent:
		am := d.Agent
		if len(am.Modules) == 0 {
			for _, mm := range d.All() {
				am.Modules = append(am.Modules, mm.Name)
			}
			am.Modules = append(am.Modules, d.ExpectedOnly...)
		}
		return EdgeAgentMetrics(t, am)
	}
	t.Fatalf("testenv: module %s serves metrics but has no Metrics page", m.Name)
	return nil
}

// createModule creates the module's container with the page it serves (or
// nil) at /www/metrics, and returns its ID. It may run concurrently.
func (d *Device) createModule(ctx context.Context, m *Module, busybox string, page []byte) (string, error) {
	img := m.RunImage
	if img == "" {
		img = busybox
	}
	cmd := m.Cmd
	if len(cmd) == 0 {
		if page != nil {
			cmd = []string{"/bin/busybox", "httpd", "-f", "-p", strconv.Itoa(MetricsPort), "-h", "/www"}
		} else {
			cmd = SleepCmd()
		}
	}
	labels := map[string]string{
		facts.OwnerLabel:         facts.OwnerValue,
		facts.OriginalImageLabel: m.Image,
		TestLabel:                DeviceLabelValue,
	}
	if m.Name == facts.EdgeAgent {
		envJSON, _ := json.Marshal(m.Env)
		labels["net.azure-devices.edge.env"] = string(envJSON)
		labels["net.azure-devices.edge.create-options"] = "{}"
	}
	for k, v := range m.Labels {
		labels[k] = v
	}

	// The workload socket (and edgeAgent's management socket) edged mounts,
	// simulated by empty host files.
	sockDir := filepath.Join(d.HostDir, "mnt")
	binds := append([]string(nil), m.Binds...)
	for _, hb := range m.Binds {
		host, _, _ := strings.Cut(hb, ":")
		if filepath.IsAbs(host) && strings.HasPrefix(host, d.HostDir) {
			if err := os.MkdirAll(host, 0o777); err != nil {
				return "", err
			}
		}
	}
	sock := filepath.Join(sockDir, m.Name+".sock")
	if err := os.WriteFile(sock, nil, 0o666); err != nil {
		return "", err
	}
	binds = append(binds, sock+":/var/run/iotedge/workload.sock")
	if m.Name == facts.EdgeAgent {
		mgmt := filepath.Join(sockDir, "mgmt.sock")
		if err := os.WriteFile(mgmt, nil, 0o666); err != nil {
			return "", err
		}
		binds = append(binds, mgmt+":/var/run/iotedge/mgmt.sock")
	}
	for name, dest := range m.VolumeMounts {
		binds = append(binds, name+":"+dest)
	}

	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range m.Ports {
		port := nat.Port(p)
		if !strings.Contains(p, "/") {
			port = nat.Port(p + "/tcp")
		}
		exposed[port] = struct{}{}
		bindings[port] = []nat.PortBinding{{HostPort: port.Port()}}
	}

	netName := m.Network
	if netName == "" {
		netName = facts.EdgeNetwork
	}
	var netCfg *network.NetworkingConfig
	if netName != "none" && netName != "host" && netName != "bridge" && netName != "default" {
		aliases := append([]string(nil), m.Aliases...)
		if m.Name == facts.EdgeHub && d.Hostname != "" {
			aliases = append(aliases, d.Hostname)
		}
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {Aliases: aliases},
		}}
	}

	cfg := &container.Config{
		Image:        img,
		Cmd:          cmd,
		Env:          d.runtimeEnv(m),
		Labels:       labels,
		ExposedPorts: exposed,
		Hostname:     containerHostname(m.Name),
		Healthcheck:  m.Healthcheck,
	}
	hc := &container.HostConfig{
		Binds:          binds,
		LogConfig:      m.LogConfig,
		NetworkMode:    container.NetworkMode(netName),
		PortBindings:   bindings,
		RestartPolicy:  container.RestartPolicy{Name: m.RestartPolicy},
		Privileged:     m.Privileged,
		PidMode:        container.PidMode(m.PidMode),
		IpcMode:        container.IpcMode(m.IpcMode),
		UTSMode:        container.UTSMode(m.UTSMode),
		CapAdd:         m.CapAdd,
		CapDrop:        m.CapDrop,
		ReadonlyRootfs: m.ReadonlyRootfs,
		GroupAdd:       m.GroupAdd,
		DNS:            m.DNS,
		Resources:      container.Resources{Memory: m.Memory, NanoCPUs: m.NanoCPUs},
	}
	resp, err := d.cli.ContainerCreate(ctx, cfg, hc, netCfg, nil, m.Name)
	if err != nil {
		return "", fmt.Errorf("creating container %s: %w", m.Name, err)
	}
	if page != nil {
		if err := d.cli.CopyToContainer(ctx, resp.ID, "/", bytes.NewReader(metricsTar(page)),
			container.CopyToContainerOptions{}); err != nil {
			return resp.ID, fmt.Errorf("copying metrics into %s: %w", m.Name, err)
		}
	}
	return resp.ID, nil
}

// containerHostname is the short container hostname: module names may hold
// characters a hostname may not.
func containerHostname(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// metricsTar holds www/metrics, for CopyToContainer at /.
func metricsTar(page []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "www/", Mode: 0o755, ModTime: time.Now()})
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "www/metrics", Mode: 0o644, Size: int64(len(page)),
		ModTime: time.Now()})
	_, _ = tw.Write(page)
	_ = tw.Close()
	return buf.Bytes()
}

// wait waits for the module's container as the Module says.
func (d *Device) wait(ctx context.Context, t testing.TB, m *Module) {
	t.Helper()
	id := d.containers[m.Name]
	deadline := time.Now().Add(60 * time.Second)
	for {
		ic, err := d.cli.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatalf("testenv: inspecting %s: %v", m.Name, err)
		}
		st := ic.State
		switch {
		case m.WaitExit:
			if st.Status == container.StateExited || st.Status == container.StateDead {
				return
			}
		case m.WaitRestarts > 0:
			if ic.RestartCount >= m.WaitRestarts {
				return
			}
		case m.WaitHealth != "":
			if st.Health != nil && st.Health.Status == m.WaitHealth {
				return
			}
			if !st.Running {
				t.Fatalf("testenv: %s exited with code %d while waiting for its health check to say %s", m.Name, st.ExitCode, m.WaitHealth)
			}
		default:
			if st.Status == container.StateExited || st.Status == container.StateDead {
				t.Fatalf("testenv: %s exited with code %d (%s) instead of running", m.Name, st.ExitCode, st.Error)
			}
			if st.Running && (!m.ServeMetrics || metricsAnswer(ctx, &ic)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s: still %s (restarts %d) after 60 s", m.Name, st.Status, ic.RestartCount)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: waiting for %s: %v", m.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// metricsAnswer tells whether the container answers on its metrics port
// (from the host, by its address); true when it has no address to try.
func metricsAnswer(ctx context.Context, ic *container.InspectResponse) bool {
	if ic.NetworkSettings == nil {
		return true
	}
	ip := ""
	for _, ep := range ic.NetworkSettings.Networks {
		if ep != nil && ep.IPAddress != "" {
			ip = ep.IPAddress
			break
		}
	}
	if ip == "" {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(MetricsPort)) + "/metrics"
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Inspect returns a module container's inspect answer.
func (d *Device) Inspect(t testing.TB, name string) container.InspectResponse {
	t.Helper()
	ctx, cancel := ctxFor(t, 30*time.Second)
	defer cancel()
	ic, err := d.cli.ContainerInspect(ctx, d.containers[name])
	if err != nil {
		t.Fatalf("testenv: inspecting %s: %v", name, err)
	}
	return ic
}

// Logs returns a module container's stdout and stderr.
func (d *Device) Logs(t testing.TB, name string) (stdout, stderr []byte) {
	t.Helper()
	return ContainerLogs(t, d.cli, d.containers[name])
}

// cleanup removes the containers, the volumes and (when owned) the network.
func (d *Device) cleanup(t testing.TB, ownNetwork bool, volumes []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names := make([]string, 0, len(d.containers))
	for name := range d.containers {
		names = append(names, name)
	}
	for _, err := range parallel(len(names), func(i int) error {
		if err := removeContainer(ctx, d.cli, d.containers[names[i]]); err != nil {
			return fmt.Errorf("removing container %s: %w", names[i], err)
		}
		return nil
	}) {
		t.Errorf("testenv: %v", err)
	}
	for _, v := range volumes {
		if err := d.cli.VolumeRemove(ctx, v, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("testenv: removing volume %s: %v", v, err)
		}
	}
	if ownNetwork {
		n, err := d.cli.NetworkInspect(ctx, facts.EdgeNetwork, network.InspectOptions{})
		if err == nil && len(n.Containers) == 0 {
			if err := d.cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("testenv: removing network %s: %v", facts.EdgeNetwork, err)
			}
		}
	}
}

// removeContainer force-removes a container and waits until it is gone. A
// removal the engine already has under way (an earlier call that timed out
// on the client side) is waited for, not reported.
func removeContainer(ctx context.Context, cli *client.Client, id string) error {
	err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	if !strings.Contains(err.Error(), "already in progress") {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, ierr := cli.ContainerInspect(ctx, id); cerrdefs.IsNotFound(ierr) {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}
