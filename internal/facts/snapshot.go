// Package facts gathers one immutable snapshot of a device per cycle: the
// container engine, the containers IoT Edge runs, images, volumes, the
// built-in metrics of edgeHub and edgeAgent, and the IoT Edge environment.
// A source that fails is recorded in the snapshot; the others still run.
package facts

import (
	"sort"
	"strings"
	"time"
)

// Labels and names that the IoT Edge runtime gives its containers.
const (
	OwnerLabel         = "net.azure-devices.edge.owner"
	OwnerValue         = "Microsoft.Azure.Devices.Edge.Agent"
	OriginalImageLabel = "net.azure-devices.edge.original-image"
	EdgeAgent          = "edgeAgent"
	EdgeHub            = "edgeHub"
	EdgeNetwork        = "azure-iot-edge"
)

// SnapshotSchemaVersion is the version of the snapshot's JSON. Bump it on a
// change that an older reader would misread.
const SnapshotSchemaVersion = "1"

// Source names, as Snapshot.Sources records them.
const (
	SourceDocker  = "docker"
	SourceMetrics = "metrics"
)

// Snapshot is everything known about the device at one moment.
// It is not modified after Gather returns.
type Snapshot struct {
	// SchemaVersion versions the snapshot's JSON (saved snapshots).
	SchemaVersion string    `json:"schemaVersion"`
	Time          time.Time `json:"time"`

	// Sources records what each fact source did: its status, the facts it
	// provides with theirs, its duration and partial failures.
	Sources []SourceRun `json:"sources,omitempty"`

	// Engine is nil when the Docker engine could not be reached; DockerError says why.
	Engine      *Engine `json:"engine,omitempty"`
	DockerError string  `json:"dockerError,omitempty"`

	Containers []Container `json:"containers,omitempty"`
	Images     []Image     `json:"images,omitempty"`
	Volumes    []Volume    `json:"volumes,omitempty"`
	Networks   []Network   `json:"networks,omitempty"`
	// PartialErrors lists engine calls that failed while the engine itself answered
	// (an image list, one container's inspect, ...).
	PartialErrors []string `json:"partialErrors,omitempty"`

	// Metrics is keyed by endpoint name ("edgeHub", "edgeAgent").
	Metrics map[string]*Scrape `json:"metrics,omitempty"`

	// Env holds the IoT Edge environment variables (IOTEDGE_*) the module sees.
	Env map[string]string `json:"env,omitempty"`

	// DaemonJSON is the engine's /etc/docker/daemon.json when it is mounted
	// (read-only) into the module; nil when it is not there.
	DaemonJSON *DaemonJSON `json:"daemonJson,omitempty"`

	// Certs holds the Edge CA and edgeHub's certificates; nil when not gathered.
	Certs *Certs `json:"certs,omitempty"`
	// Probes are DNS and TLS probes of IoT Hub and the registries; Clock is the
	// reference time read from IoT Hub.
	Probes []Probe `json:"probes,omitempty"`
	Clock  *Clock  `json:"clock,omitempty"`
	// Parent is the probe of a child device's parent (nested IoT Edge); its
	// Host is empty when the device has no parent, and it is nil when the
	// probes did not run.
	Parent *ParentProbe `json:"parent,omitempty"`
	// ProbesOff says why probes and the clock reference were not run, when
	// the operator turned them off.
	ProbesOff string `json:"probesOff,omitempty"`

	// Deployment is the manifest's own content when the facts come from a
	// deployment manifest (check --manifest); nil on a device. It holds
	// values as written, secrets among them, and is never saved.
	Deployment *Deployment `json:"-"`
}

// Certs are the certificates that decide the device's TLS identity.
type Certs struct {
	// TrustBundle is the workload API's /trust-bundle (in module mode).
	TrustBundle      []Cert `json:"trustBundle,omitempty"`
	TrustBundleError string `json:"trustBundleError,omitempty"`
	// EdgeHubChain is the chain edgeHub presents on EdgeHubEndpoint, leaf first.
	EdgeHubEndpoint string `json:"edgeHubEndpoint,omitempty"`
	EdgeHubChain    []Cert `json:"edgeHubChain,omitempty"`
	EdgeHubError    string `json:"edgeHubError,omitempty"`
	// EdgeHubVerifyError says why the chain did not verify against the trust
	// bundle (or the system roots on the host); empty when it verified.
	EdgeHubVerifyError string `json:"edgeHubVerifyError,omitempty"`
}

// Cert is what the checks need of an X.509 certificate.
type Cert struct {
	Subject    string    `json:"subject"`
	CommonName string    `json:"commonName"`
	Issuer     string    `json:"issuer"`
	NotBefore  time.Time `json:"notBefore"`
	NotAfter   time.Time `json:"notAfter"`
	IsCA       bool      `json:"isCA"`
	SelfSigned bool      `json:"selfSigned"` // issuer == subject and the signature verifies with its own key
	HasAKID    bool      `json:"hasAuthorityKeyId"`
	DNSNames   []string  `json:"dnsNames,omitempty"`
}

// Probe is one reachability test from the module's network namespace.
type Probe struct {
	Purpose   string   `json:"purpose"` // iothub, registry
	Host      string   `json:"host"`
	Port      string   `json:"port"`
	ViaProxy  bool     `json:"viaProxy,omitempty"`
	Addrs     []string `json:"addrs,omitempty"`
	DNSError  string   `json:"dnsError,omitempty"`
	TLSError  string   `json:"tlsError,omitempty"`
	LatencyMs int64    `json:"latencyMs"`
}

// OK tells whether the host resolved and the TLS handshake succeeded.
func (p *Probe) OK() bool { return p.DNSError == "" && p.TLSError == "" }

// Clock compares the local clock with a reference.
type Clock struct {
	Source      string    `json:"source"` // the URL whose Date header was read
	Reference   time.Time `json:"reference"`
	Local       time.Time `json:"local"`
	SkewSeconds float64   `json:"skewSeconds"` // local - reference, corrected by half the round trip
	Error       string    `json:"error,omitempty"`
}

// DaemonJSON is what the checks read of the engine's configuration file.
type DaemonJSON struct {
	Path      string            `json:"path"`
	Error     string            `json:"error,omitempty"` // unreadable or unparsable
	DNS       []string          `json:"dns,omitempty"`
	LogDriver string            `json:"logDriver,omitempty"`
	LogOpts   map[string]string `json:"logOpts,omitempty"`
}

// Engine describes the container engine (GET /version and /info).
type Engine struct {
	ServerVersion   string   `json:"serverVersion"`
	APIVersion      string   `json:"apiVersion"`
	PlatformName    string   `json:"platformName,omitempty"`
	Components      []string `json:"components,omitempty"` // "Engine 20.10.11+azure-3", ...
	OS              string   `json:"os"`
	Arch            string   `json:"arch"`
	KernelVersion   string   `json:"kernelVersion"`
	OperatingSystem string   `json:"operatingSystem"`
	Hostname        string   `json:"hostname"`
	NCPU            int      `json:"ncpu"`
	MemTotal        int64    `json:"memTotal"`
	LoggingDriver   string   `json:"loggingDriver"`
	HTTPProxy       string   `json:"httpProxy,omitempty"`
	HTTPSProxy      string   `json:"httpsProxy,omitempty"`
	NoProxy         string   `json:"noProxy,omitempty"`
	DockerRootDir   string   `json:"dockerRootDir,omitempty"`
	// ImagesReclaimable is the size of images used by no container (GET /system/df);
	// -1 when unknown.
	ImagesReclaimable int64 `json:"imagesReclaimable"`
	// IoTEdgeVersion is the IoT Edge daemon's version (aziot-edged, or
	// iotedged up to 1.1) when the source reports it: a support bundle's
	// check.json does; on a device edgeAgent_metadata's host_information does.
	IoTEdgeVersion string `json:"iotedgeVersion,omitempty"`
}

// Container is the part of `docker inspect` the checks use.
type Container struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"` // without the leading slash
	Image   string            `json:"image"`
	ImageID string            `json:"imageId,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Env holds the container's environment. Values are secrets until proven
	// otherwise: never copy them into findings or logs (see package redact).
	Env map[string]string `json:"env,omitempty"`

	State State `json:"state"`

	Mounts        []Mount  `json:"mounts,omitempty"`
	ConfigVolumes []string `json:"configVolumes,omitempty"` // Config.Volumes keys

	LogConfig LogConfig `json:"logConfig"`

	Memory    int64 `json:"memory,omitempty"` // bytes, 0 = unlimited
	NanoCPUs  int64 `json:"nanoCpus,omitempty"`
	CPUQuota  int64 `json:"cpuQuota,omitempty"`
	CPUPeriod int64 `json:"cpuPeriod,omitempty"`

	Privileged     bool     `json:"privileged,omitempty"`
	CapAdd         []string `json:"capAdd,omitempty"`
	CapDrop        []string `json:"capDrop,omitempty"`
	NetworkMode    string   `json:"networkMode,omitempty"`
	PidMode        string   `json:"pidMode,omitempty"`
	IpcMode        string   `json:"ipcMode,omitempty"`
	UTSMode        string   `json:"utsMode,omitempty"`
	UsernsMode     string   `json:"usernsMode,omitempty"`
	ReadonlyRootfs bool     `json:"readonlyRootfs,omitempty"`
	DNS            []string `json:"dns,omitempty"`

	Ports []PortBinding `json:"ports,omitempty"`
	// Networks maps network name to the container's IPv4 address on it.
	Networks map[string]string `json:"networks,omitempty"`

	// InspectError says why the container could not be inspected: only its
	// list entry (name, image, labels, state) is known, and checks that need
	// its configuration report an error for it.
	InspectError string `json:"inspectError,omitempty"`

	// Unresolved lists the variables a deployment manifest leaves in the
	// module's settings (check --manifest): the checks that read those
	// settings skip the module, naming the variable.
	Unresolved []Unresolved `json:"unresolved,omitempty"`
}

// Inspected tells whether the container's configuration is known.
func (c *Container) Inspected() bool { return c.InspectError == "" }

// State is the container's runtime state.
type State struct {
	Status       string    `json:"status"` // created, running, restarting, exited, ...
	Running      bool      `json:"running"`
	Restarting   bool      `json:"restarting,omitempty"`
	OOMKilled    bool      `json:"oomKilled,omitempty"`
	ExitCode     int       `json:"exitCode,omitempty"`
	Error        string    `json:"error,omitempty"`
	StartedAt    time.Time `json:"startedAt,omitempty"`
	FinishedAt   time.Time `json:"finishedAt,omitempty"`
	RestartCount int       `json:"restartCount,omitempty"`
	Created      time.Time `json:"created,omitempty"`
	// Health is the health check's state; nil when there is none.
	Health *Health `json:"health,omitempty"`
}

// Mount is one entry of the container's Mounts.
type Mount struct {
	Type        string `json:"type"` // bind, volume, tmpfs
	Name        string `json:"name,omitempty"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
}

// LogConfig is the effective HostConfig.LogConfig.
type LogConfig struct {
	Type   string            `json:"type"`
	Config map[string]string `json:"config,omitempty"`
}

// PortBinding is a published port.
type PortBinding struct {
	ContainerPort string `json:"containerPort"` // "8883/tcp"
	HostIP        string `json:"hostIp,omitempty"`
	HostPort      string `json:"hostPort"`
}

// Image is one local image.
type Image struct {
	ID          string   `json:"id"`
	RepoTags    []string `json:"repoTags,omitempty"`
	RepoDigests []string `json:"repoDigests,omitempty"`
	Size        int64    `json:"size"`
	Containers  int64    `json:"containers"` // -1 when unknown
}

// Volume is one local volume.
type Volume struct {
	Name     string `json:"name"`
	Driver   string `json:"driver"`
	Size     int64  `json:"size"`     // -1 when unknown
	RefCount int64  `json:"refCount"` // -1 when unknown
}

// Network is one engine network.
type Network struct {
	Name       string `json:"name"`
	Driver     string `json:"driver"`
	EnableIPv6 bool   `json:"enableIpv6,omitempty"`
}

// IsModule tells whether edgeAgent (the IoT Edge runtime) owns the container.
func (c *Container) IsModule() bool { return c.Labels[OwnerLabel] == OwnerValue }

// IsSystemModule tells whether the container is edgeAgent or edgeHub.
func (c *Container) IsSystemModule() bool {
	return c.IsModule() && (c.Name == EdgeAgent || c.Name == EdgeHub)
}

// OriginalImage is the image as the deployment names it, falling back to the
// image the container was created from.
func (c *Container) OriginalImage() string {
	if img := c.Labels[OriginalImageLabel]; img != "" {
		return img
	}
	return c.Image
}

// EnvValue looks an environment variable up case-insensitively, as the
// IoT Edge runtime reads its settings.
func (c *Container) EnvValue(name string) (string, bool) {
	if v, ok := c.Env[name]; ok {
		return v, true
	}
	for k, v := range c.Env {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// Modules returns the containers owned by edgeAgent, in snapshot order.
func (s *Snapshot) Modules() []*Container {
	var out []*Container
	for i := range s.Containers {
		if s.Containers[i].IsModule() {
			out = append(out, &s.Containers[i])
		}
	}
	return out
}

// Module returns the module container with the given name, or nil.
func (s *Snapshot) Module(name string) *Container {
	for i := range s.Containers {
		if s.Containers[i].Name == name && s.Containers[i].IsModule() {
			return &s.Containers[i]
		}
	}
	return nil
}

// WithoutUninspected returns s itself when every container was inspected,
// else a shallow copy whose Containers leave out those that were not.
func (s *Snapshot) WithoutUninspected() *Snapshot {
	n := 0
	for i := range s.Containers {
		if s.Containers[i].Inspected() {
			n++
		}
	}
	if n == len(s.Containers) {
		return s
	}
	cp := *s
	cp.Containers = make([]Container, 0, n)
	for _, c := range s.Containers {
		if c.Inspected() {
			cp.Containers = append(cp.Containers, c)
		}
	}
	return &cp
}

// UninspectedModules lists the module containers whose inspect failed.
func (s *Snapshot) UninspectedModules() []*Container {
	var out []*Container
	for _, m := range s.Modules() {
		if !m.Inspected() {
			out = append(out, m)
		}
	}
	return out
}

// DockerOK tells whether the engine answered.
func (s *Snapshot) DockerOK() bool { return s.Engine != nil }

func containerIP(c *Container) string {
	if ip := c.Networks[EdgeNetwork]; ip != "" {
		return ip
	}
	names := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ip := c.Networks[n]; ip != "" {
			return ip
		}
	}
	return ""
}
