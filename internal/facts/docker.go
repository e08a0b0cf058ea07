package facts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

// DockerAPI is the part of the Docker engine client that the facts use.
type DockerAPI interface {
	Ping(ctx context.Context) (types.Ping, error)
	ServerVersion(ctx context.Context) (types.Version, error)
	Info(ctx context.Context) (system.Info, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	DiskUsage(ctx context.Context, options types.DiskUsageOptions) (types.DiskUsage, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	Close() error
}

var _ DockerAPI = (*client.Client)(nil)

// listingContainers starts the partial error of a failed container list.
const listingContainers = "listing containers: "

// inspectParallelism bounds the concurrent container inspects.
const inspectParallelism = 4

// NewDockerClient creates an engine client from the environment (DOCKER_HOST,
// default unix:///var/run/docker.sock), with host overriding it when not
// empty. It negotiates the API version with the engine on first use, so it
// works with older engines (Moby 20.10 speaks API 1.41).
func NewDockerClient(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating Docker client for %s: %w", dockerHostName(host, nil), err)
	}
	return c, nil
}

// dockerHostName names the engine address for error messages: the client's
// own idea of it, else the configured host, else DOCKER_HOST, else the default.
func dockerHostName(configured string, api DockerAPI) string {
	if h, ok := api.(interface{ DaemonHost() string }); ok {
		if s := h.DaemonHost(); s != "" {
			return s
		}
	}
	if configured != "" {
		return configured
	}
	if env := os.Getenv(client.EnvOverrideHost); env != "" {
		return env
	}
	return client.DefaultDockerHost
}

// dockerSource is the Docker engine's fact source: the engine, its inventory
// (images, volumes, networks, /info settings) and the containers. The
// gatherer makes one each cycle (Gatherer.sources).
type dockerSource struct {
	api         DockerAPI
	apiErr      error         // why api is nil, when known
	host        string        // for messages
	timeout     time.Duration // bound on the source as a whole
	callTimeout time.Duration // bound on each engine call
}

var _ Source = (*dockerSource)(nil)

// newDockerSource makes the cycle's engine source from the gatherer's client
// and timeouts.
func newDockerSource(g *Gatherer) *dockerSource {
	overall := g.DockerTimeout
	if overall <= 0 {
		overall = DefaultTimeout
	}
	callTimeout := g.CallTimeout
	if callTimeout <= 0 {
		callTimeout = overall
	}
	return &dockerSource{api: g.docker, apiErr: g.dockerErr, host: dockerHostName(g.cfg.DockerHost, g.docker),
		timeout: overall, callTimeout: callTimeout}
}

func (d *dockerSource) Name() string { return SourceDocker }

// Gather reads the engine into the snapshot and says how each of its facts
// went: a failed container list leaves the containers fact in error, the
// engine's still ok.
func (d *dockerSource) Gather(ctx context.Context, run *Run) SourceRun {
	s := run.Snap
	d.read(ctx, s)
	if s.DockerError != "" {
		return SourceRun{Status: StatusError, Reason: s.DockerError,
			Facts: factStates(StatusError, s.DockerError, FactEngine, FactEngineInventory, FactContainers)}
	}
	sr := SourceRun{Status: StatusOK, Facts: factStates(StatusOK, "", FactEngine, FactEngineInventory, FactContainers), Partial: s.PartialErrors}
	for _, p := range s.PartialErrors {
		if strings.HasPrefix(p, listingContainers) {
			sr.Facts[FactContainers] = FactState{Status: StatusError, Reason: p}
		}
	}
	return sr
}

// read fills the Docker fields of s within the source's timeout; without a
// client it says why in DockerError.
func (d *dockerSource) read(ctx context.Context, s *Snapshot) {
	if d.api == nil {
		if d.apiErr != nil {
			s.DockerError = d.apiErr.Error() // names the host already
		} else {
			s.DockerError = "no Docker client configured for " + d.host
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	d.fill(ctx, s)
}

// call runs f with its own timeout derived from ctx.
func call[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(cctx)
}

// fill sets the Docker fields of s: Engine, Containers, Images, Volumes,
// Networks, DockerError and PartialErrors. It never panics on engine errors and
// never puts container environment values into messages.
func (d *dockerSource) fill(ctx context.Context, s *Snapshot) {
	if _, err := call(ctx, d.callTimeout, d.api.Ping); err != nil {
		s.DockerError = unreachableMessage(d.host, err)
		return
	}

	var (
		wg            sync.WaitGroup
		containers    []Container
		containerErrs []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		containers, containerErrs = d.containers(ctx)
	}()

	var partial []string
	fail := func(what string, err error) { partial = append(partial, what+": "+err.Error()) }

	df, dfErr := call(ctx, d.callTimeout, func(c context.Context) (types.DiskUsage, error) {
		return d.api.DiskUsage(c, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.ImageObject, types.VolumeObject}})
	})
	if dfErr != nil {
		fail("reading disk usage", dfErr)
	}

	eng := &Engine{ImagesReclaimable: -1}
	if v, err := call(ctx, d.callTimeout, d.api.ServerVersion); err != nil {
		fail("reading engine version", err)
	} else {
		eng.ServerVersion = v.Version
		eng.APIVersion = v.APIVersion
		eng.PlatformName = v.Platform.Name
		eng.OS = v.Os
		eng.Arch = v.Arch
		eng.KernelVersion = v.KernelVersion
		for _, c := range v.Components {
			eng.Components = append(eng.Components, strings.TrimSpace(c.Name+" "+c.Version))
		}
	}
	if info, err := call(ctx, d.callTimeout, d.api.Info); err != nil {
		fail("reading engine info", err)
	} else {
		fillEngineInfo(eng, &info)
	}
	if dfErr == nil {
		eng.ImagesReclaimable = reclaimableImages(df.Images)
	}
	s.Engine = eng

	if list, err := call(ctx, d.callTimeout, func(c context.Context) ([]image.Summary, error) {
		return d.api.ImageList(c, image.ListOptions{})
	}); err != nil {
		fail("listing images", err)
	} else {
		var usage []*image.Summary
		if dfErr == nil {
			usage = df.Images
		}
		s.Images = convertImages(list, usage)
	}

	if resp, err := call(ctx, d.callTimeout, func(c context.Context) (volume.ListResponse, error) {
		return d.api.VolumeList(c, volume.ListOptions{})
	}); err != nil {
		fail("listing volumes", err)
	} else {
		var usage []*volume.Volume
		if dfErr == nil {
			usage = df.Volumes
		}
		s.Volumes = convertVolumes(resp.Volumes, usage)
	}

	if list, err := call(ctx, d.callTimeout, func(c context.Context) ([]network.Summary, error) {
		return d.api.NetworkList(c, network.ListOptions{})
	}); err != nil {
		fail("listing networks", err)
	} else {
		s.Networks = convertNetworks(list)
	}

	wg.Wait()
	s.Containers = containers
	s.PartialErrors = slices.Concat(containerErrs, partial)
}

// unreachableMessage says why the engine did not answer and what to do.
func unreachableMessage(host string, err error) string {
	hint := "check that the engine listens there and that DOCKER_HOST is right"
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission) ||
		strings.Contains(err.Error(), "permission denied"):
		hint = "run the module as a user allowed to open the engine socket (root, or the socket's group)"
	case strings.HasPrefix(host, "unix://"):
		hint = "mount the engine socket into the module (bind /var/run/docker.sock:/var/run/docker.sock:ro) or start the engine"
	case strings.HasPrefix(host, "npipe://"):
		hint = `mount the engine pipe into the module (bind \\.\pipe\docker_engine) or start the engine`
	}
	return fmt.Sprintf("cannot reach the Docker engine at %s: %v; %s", host, err, hint)
}

func fillEngineInfo(eng *Engine, info *system.Info) {
	if eng.ServerVersion == "" {
		eng.ServerVersion = info.ServerVersion
	}
	if eng.OS == "" {
		eng.OS = info.OSType
	}
	if info.Architecture != "" {
		eng.Arch = info.Architecture
	}
	if info.KernelVersion != "" {
		eng.KernelVersion = info.KernelVersion
	}
	eng.OperatingSystem = info.OperatingSystem
	eng.Hostname = info.Name
	eng.NCPU = info.NCPU
	eng.MemTotal = info.MemTotal
	eng.LoggingDriver = info.LoggingDriver
	eng.HTTPProxy = info.HTTPProxy
	eng.HTTPSProxy = info.HTTPSProxy
	eng.NoProxy = info.NoProxy
	eng.DockerRootDir = info.DockerRootDir
}

// reclaimableImages sums the sizes of the images no container uses.
func reclaimableImages(imgs []*image.Summary) int64 {
	var n int64
	for _, im := range imgs {
		if im != nil && im.Containers == 0 {
			n += im.Size
		}
	}
	return n
}

// containers lists every container and inspects each, at most
// inspectParallelism at a time. A container removed between the list and its
// inspect is dropped silently.
func (d *dockerSource) containers(ctx context.Context) ([]Container, []string) {
	list, err := call(ctx, d.callTimeout, func(c context.Context) ([]container.Summary, error) {
		return d.api.ContainerList(c, container.ListOptions{All: true})
	})
	if err != nil {
		return nil, []string{listingContainers + err.Error()}
	}
	type result struct {
		c    *Container
		errs string
	}
	results := make([]result, len(list))
	sem := make(chan struct{}, inspectParallelism)
	var wg sync.WaitGroup
	for i := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			id := list[i].ID
			ic, err := call(ctx, d.callTimeout, func(c context.Context) (container.InspectResponse, error) {
				return d.api.ContainerInspect(c, id)
			})
			switch {
			case cerrdefs.IsNotFound(err):
				// Removed since the list: not part of this snapshot.
			case err != nil:
				results[i].errs = fmt.Sprintf("inspecting container %s: %v", summaryName(&list[i]), err)
				results[i].c = uninspected(&list[i], results[i].errs)
			case ic.ContainerJSONBase == nil:
				results[i].errs = fmt.Sprintf("inspecting container %s: empty answer", summaryName(&list[i]))
				results[i].c = uninspected(&list[i], results[i].errs)
			default:
				c := convertContainer(&ic)
				results[i].c = &c
			}
		}(i)
	}
	wg.Wait()

	out := make([]Container, 0, len(list))
	var errs []string
	for _, r := range results {
		if r.c != nil {
			out = append(out, *r.c)
		}
		if r.errs != "" {
			errs = append(errs, r.errs)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	sort.Strings(errs)
	return out, errs
}

// uninspected keeps a container whose inspect failed in the snapshot with
// what the list told (name, image, labels, state), so that the checks that
// need its configuration report an error for it instead of leaving it out.
func uninspected(c *container.Summary, why string) *Container {
	return &Container{ID: c.ID, Name: summaryName(c), Image: c.Image, Labels: c.Labels,
		State: State{Status: c.State, Running: c.State == container.StateRunning}, InspectError: why}
}

func summaryName(c *container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return shortID(c.ID)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// convertContainer turns an inspect answer into a Container.
func convertContainer(ic *container.InspectResponse) Container {
	b := ic.ContainerJSONBase
	c := Container{
		ID:      b.ID,
		Name:    strings.TrimPrefix(b.Name, "/"),
		ImageID: b.Image,
	}
	if t, ok := parseTime(b.Created); ok {
		c.State.Created = t
	}
	c.State.RestartCount = b.RestartCount
	if st := b.State; st != nil {
		c.State.Status = st.Status
		c.State.Running = st.Running
		c.State.Restarting = st.Restarting
		c.State.OOMKilled = st.OOMKilled
		c.State.ExitCode = st.ExitCode
		c.State.Error = st.Error
		c.State.StartedAt, _ = parseTime(st.StartedAt)
		c.State.FinishedAt, _ = parseTime(st.FinishedAt)
	}
	if cfg := ic.Config; cfg != nil {
		c.Image = cfg.Image
		if len(cfg.Labels) > 0 {
			c.Labels = make(map[string]string, len(cfg.Labels))
			for k, v := range cfg.Labels {
				c.Labels[k] = v
			}
		}
		c.Env = parseEnv(cfg.Env)
		if st := b.State; st != nil {
			c.State.Health = convertHealth(st.Health, c.Env)
		}
		for v := range cfg.Volumes {
			c.ConfigVolumes = append(c.ConfigVolumes, v)
		}
		sort.Strings(c.ConfigVolumes)
	}
	for _, m := range ic.Mounts {
		c.Mounts = append(c.Mounts, Mount{
			Type:        string(m.Type),
			Name:        m.Name,
			Source:      m.Source,
			Destination: m.Destination,
			RW:          m.RW,
		})
	}
	if hc := b.HostConfig; hc != nil {
		c.LogConfig.Type = hc.LogConfig.Type
		if len(hc.LogConfig.Config) > 0 {
			c.LogConfig.Config = make(map[string]string, len(hc.LogConfig.Config))
			for k, v := range hc.LogConfig.Config {
				c.LogConfig.Config[k] = v
			}
		}
		c.Memory = hc.Memory
		c.NanoCPUs = hc.NanoCPUs
		c.CPUQuota = hc.CPUQuota
		c.CPUPeriod = hc.CPUPeriod
		c.Privileged = hc.Privileged
		c.CapAdd = append([]string(nil), hc.CapAdd...)
		c.CapDrop = append([]string(nil), hc.CapDrop...)
		c.NetworkMode = string(hc.NetworkMode)
		c.PidMode = string(hc.PidMode)
		c.IpcMode = string(hc.IpcMode)
		c.UTSMode = string(hc.UTSMode)
		c.UsernsMode = string(hc.UsernsMode)
		c.ReadonlyRootfs = hc.ReadonlyRootfs
		c.DNS = append([]string(nil), hc.DNS...)
		c.Ports = convertPorts(hc.PortBindings)
	}
	if ns := ic.NetworkSettings; ns != nil && len(ns.Networks) > 0 {
		c.Networks = make(map[string]string, len(ns.Networks))
		for name, ep := range ns.Networks {
			ip := ""
			if ep != nil {
				ip = ep.IPAddress
			}
			c.Networks[name] = ip
		}
	}
	return c
}

// parseTime reads the engine's RFC 3339 times; Docker's zero time
// ("0001-01-01T00:00:00Z") and garbage both give the zero time.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return time.Time{}, false
	}
	return t, true
}

// parseEnv splits "K=V" entries; an entry without '=' is a name with an empty
// value. Later entries win, as in the container.
func parseEnv(env []string) map[string]string {
	if len(env) == 0 {
		return nil
	}
	out := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		out[k] = v
	}
	return out
}

// convertPorts flattens the published ports, ordered by port number,
// protocol, host IP and host port.
func convertPorts(pm nat.PortMap) []PortBinding {
	var out []PortBinding
	for port, bindings := range pm {
		for _, b := range bindings {
			out = append(out, PortBinding{ContainerPort: string(port), HostIP: b.HostIP, HostPort: b.HostPort})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		pa, pb := nat.Port(a.ContainerPort), nat.Port(b.ContainerPort)
		if na, nb := pa.Int(), pb.Int(); na != nb {
			return na < nb
		}
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		return a.HostPort < b.HostPort
	})
	return out
}

// convertImages takes each image's container count from the disk usage
// answer when it has it: GET /images/json answers -1 for that count (the
// engine computes it only for /system/df); -1 when neither knows.
func convertImages(list []image.Summary, usage []*image.Summary) []Image {
	used := make(map[string]int64, len(usage))
	for _, u := range usage {
		if u != nil && u.Containers >= 0 {
			used[u.ID] = u.Containers
		}
	}
	out := make([]Image, 0, len(list))
	for _, im := range list {
		n := im.Containers
		if c, ok := used[im.ID]; ok {
			n = c
		}
		if n < 0 {
			n = -1
		}
		out = append(out, Image{
			ID:          im.ID,
			RepoTags:    append([]string(nil), im.RepoTags...),
			RepoDigests: append([]string(nil), im.RepoDigests...),
			Size:        im.Size,
			Containers:  n,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// convertVolumes takes size and reference count from the disk usage answer
// when it has them; -1 otherwise.
func convertVolumes(list, usage []*volume.Volume) []Volume {
	byName := make(map[string]*volume.UsageData, len(usage))
	for _, u := range usage {
		if u != nil && u.UsageData != nil {
			byName[u.Name] = u.UsageData
		}
	}
	out := make([]Volume, 0, len(list))
	for _, v := range list {
		if v == nil {
			continue
		}
		vol := Volume{Name: v.Name, Driver: v.Driver, Size: -1, RefCount: -1}
		if u := byName[v.Name]; u != nil {
			vol.Size, vol.RefCount = u.Size, u.RefCount
		} else if v.UsageData != nil {
			vol.Size, vol.RefCount = v.UsageData.Size, v.UsageData.RefCount
		}
		out = append(out, vol)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func convertNetworks(list []network.Summary) []Network {
	out := make([]Network, 0, len(list))
	for _, n := range list {
		out = append(out, Network{Name: n.Name, Driver: n.Driver, EnableIPv6: n.EnableIPv6})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
