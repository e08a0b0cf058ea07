package facts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
)

// fakeDocker is a DockerAPI answering from fixed data.
type fakeDocker struct {
	pingErr    error
	pingWait   <-chan struct{} // when set, Ping blocks until it is closed
	version    types.Version
	versionErr error
	info       system.Info
	infoErr    error
	list       []container.Summary
	listErr    error
	inspect    map[string]container.InspectResponse // by ID
	inspectErr map[string]error                     // by ID
	images     []image.Summary
	imagesErr  error
	volumes    []*volume.Volume
	volumesErr error
	df         types.DiskUsage
	dfErr      error
	networks   []network.Summary
	networkErr error
	host       string

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	inspectWait time.Duration
}

var _ DockerAPI = (*fakeDocker)(nil)

func (f *fakeDocker) Ping(ctx context.Context) (types.Ping, error) {
	if f.pingWait != nil {
		select {
		case <-f.pingWait:
		case <-ctx.Done():
			return types.Ping{}, ctx.Err()
		}
	}
	return types.Ping{APIVersion: "1.41"}, f.pingErr
}

func (f *fakeDocker) ServerVersion(context.Context) (types.Version, error) {
	return f.version, f.versionErr
}
func (f *fakeDocker) Info(context.Context) (system.Info, error) { return f.info, f.infoErr }

func (f *fakeDocker) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	if !o.All {
		return nil, errors.New("fake: expected All=true")
	}
	return f.list, f.listErr
}

func (f *fakeDocker) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.inspectWait > 0 {
		select {
		case <-time.After(f.inspectWait):
		case <-ctx.Done():
			return container.InspectResponse{}, ctx.Err()
		}
	}
	if err := f.inspectErr[id]; err != nil {
		return container.InspectResponse{}, err
	}
	ic, ok := f.inspect[id]
	if !ok {
		return container.InspectResponse{}, fmt.Errorf("No such container: %s: %w", id, cerrdefs.ErrNotFound)
	}
	return ic, nil
}

func (f *fakeDocker) ImageList(_ context.Context, o image.ListOptions) ([]image.Summary, error) {
	if o.All {
		return nil, errors.New("fake: expected All=false")
	}
	return f.images, f.imagesErr
}

func (f *fakeDocker) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	return volume.ListResponse{Volumes: f.volumes}, f.volumesErr
}

func (f *fakeDocker) DiskUsage(context.Context, types.DiskUsageOptions) (types.DiskUsage, error) {
	return f.df, f.dfErr
}

func (f *fakeDocker) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	return f.networks, f.networkErr
}

func (f *fakeDocker) Close() error { return nil }

func (f *fakeDocker) DaemonHost() string { return f.host }

// edgeHubInspect is shaped like a real `docker inspect edgeHub` (see
// testdata/real/issue1309-… and issue2880-…), with the fields the
// conversion reads filled in.
const edgeHubInspect = `{
  "Id": "b5f0fa4c25b886f89eb1bec457d6c7cd4f754c0a2ba23a071f18eee2f287c6af",
  "Created": "2021-07-13T08:14:34.148309182Z",
  "State": {
    "Status": "running", "Running": true, "Paused": false, "Restarting": false,
    "OOMKilled": true, "Dead": false, "Pid": 30853, "ExitCode": 137, "Error": "",
    "StartedAt": "2021-07-13T09:01:05.123864453Z",
    "FinishedAt": "2021-07-13T09:01:02.376818405Z"
  },
  "Image": "sha256:97834f10b7b0f7903d28c9fb32ceae672a8a66ba1ea868739fc9818e184557c2",
  "Name": "/edgeHub",
  "RestartCount": 3,
  "HostConfig": {
    "Binds": ["/var/run/iotedge/workload.sock:/var/run/iotedge/workload.sock"],
    "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
    "NetworkMode": "azure-iot-edge",
    "PortBindings": {
      "8883/tcp": [{"HostIp": "", "HostPort": "8883"}],
      "443/tcp": [{"HostIp": "", "HostPort": "443"}],
      "5671/tcp": [{"HostIp": "", "HostPort": "5671"}, {"HostIp": "::", "HostPort": "5671"}]
    },
    "CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"],
    "Dns": ["1.1.1.1"],
    "IpcMode": "private", "PidMode": "host", "UTSMode": "", "UsernsMode": "host",
    "Privileged": true, "ReadonlyRootfs": true,
    "Memory": 536870912, "NanoCpus": 1500000000, "CpuQuota": 50000, "CpuPeriod": 100000
  },
  "Mounts": [
    {"Type": "bind", "Source": "/var/lib/aziot/edged/mnt/edgeHub.sock", "Destination": "/var/run/iotedge/workload.sock", "Mode": "", "RW": true, "Propagation": "rprivate"},
    {"Type": "volume", "Name": "edgehub-store", "Source": "/var/lib/docker/volumes/edgehub-store/_data", "Destination": "/tmp/edgeHub", "Driver": "local", "Mode": "z", "RW": true}
  ],
  "Config": {
    "Hostname": "6b5ab1d5d4f7",
    "Env": ["EdgeDeviceHostName=dev1.example.com", "IOTEDGE_MODULEID=$edgeHub", "SECRET=a=b=c", "EMPTY=", "NOVALUE"],
    "Image": "mcr.microsoft.com/azureiotedge-hub:1.4",
    "Volumes": {"/tmp/edgeHub": {}, "/app/data": {}},
    "Labels": {
      "net.azure-devices.edge.owner": "Microsoft.Azure.Devices.Edge.Agent",
      "net.azure-devices.edge.original-image": "mcr.microsoft.com/azureiotedge-hub:1.4"
    }
  },
  "NetworkSettings": {
    "Networks": {
      "azure-iot-edge": {"IPAddress": "172.18.0.3"},
      "bridge": {"IPAddress": ""}
    }
  }
}`

func decodeInspect(t testing.TB, js string) container.InspectResponse {
	t.Helper()
	var ic container.InspectResponse
	if err := json.Unmarshal([]byte(js), &ic); err != nil {
		t.Fatalf("decoding inspect JSON: %v", err)
	}
	return ic
}

func TestConvertContainer(t *testing.T) {
	mustTime := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		js   string
		want Container
	}{
		{
			name: "edgeHub with everything",
			js:   edgeHubInspect,
			want: Container{
				ID:      "b5f0fa4c25b886f89eb1bec457d6c7cd4f754c0a2ba23a071f18eee2f287c6af",
				Name:    "edgeHub",
				Image:   "mcr.microsoft.com/azureiotedge-hub:1.4",
				ImageID: "sha256:97834f10b7b0f7903d28c9fb32ceae672a8a66ba1ea868739fc9818e184557c2",
				Labels: map[string]string{
					OwnerLabel:         OwnerValue,
					OriginalImageLabel: "mcr.microsoft.com/azureiotedge-hub:1.4",
				},
				Env: map[string]string{
					"EdgeDeviceHostName": "dev1.example.com",
					"IOTEDGE_MODULEID":   "$edgeHub",
					"SECRET":             "a=b=c",
					"EMPTY":              "",
					"NOVALUE":            "",
				},
				State: State{
					Status: "running", Running: true, OOMKilled: true, ExitCode: 137,
					StartedAt:    mustTime("2021-07-13T09:01:05.123864453Z"),
					FinishedAt:   mustTime("2021-07-13T09:01:02.376818405Z"),
					Created:      mustTime("2021-07-13T08:14:34.148309182Z"),
					RestartCount: 3,
				},
				Mounts: []Mount{
					{Type: "bind", Source: "/var/lib/aziot/edged/mnt/edgeHub.sock", Destination: "/var/run/iotedge/workload.sock", RW: true},
					{Type: "volume", Name: "edgehub-store", Source: "/var/lib/docker/volumes/edgehub-store/_data", Destination: "/tmp/edgeHub", RW: true},
				},
				ConfigVolumes:  []string{"/app/data", "/tmp/edgeHub"},
				LogConfig:      LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
				Memory:         536870912,
				NanoCPUs:       1500000000,
				CPUQuota:       50000,
				CPUPeriod:      100000,
				Privileged:     true,
				CapAdd:         []string{"NET_ADMIN"},
				CapDrop:        []string{"MKNOD"},
				NetworkMode:    "azure-iot-edge",
				PidMode:        "host",
				IpcMode:        "private",
				UsernsMode:     "host",
				ReadonlyRootfs: true,
				DNS:            []string{"1.1.1.1"},
				Ports: []PortBinding{
					{ContainerPort: "443/tcp", HostPort: "443"},
					{ContainerPort: "5671/tcp", HostPort: "5671"},
					{ContainerPort: "5671/tcp", HostIP: "::", HostPort: "5671"},
					{ContainerPort: "8883/tcp", HostPort: "8883"},
				},
				Networks: map[string]string{"azure-iot-edge": "172.18.0.3", "bridge": ""},
			},
		},
		{
			name: "created, never started, no rotation, no labels",
			js: `{
  "Id": "c1", "Name": "/plain", "Created": "2024-01-02T03:04:05Z", "Image": "sha256:ab",
  "State": {"Status": "created", "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
  "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "default", "PortBindings": {}},
  "Config": {"Image": "alpine", "Env": null, "Volumes": null, "Labels": {}},
  "NetworkSettings": {"Networks": {}}
}`,
			want: Container{
				ID: "c1", Name: "plain", Image: "alpine", ImageID: "sha256:ab",
				State:       State{Status: "created", Created: mustTime("2024-01-02T03:04:05Z")},
				LogConfig:   LogConfig{Type: "json-file"},
				NetworkMode: "default",
			},
		},
		{
			name: "missing sections do not panic",
			js:   `{"Id": "c2", "Name": "/bare"}`,
			want: Container{ID: "c2", Name: "bare"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ic := decodeInspect(t, tt.js)
			got := convertContainer(&ic)
			if !reflect.DeepEqual(got, tt.want) {
				gj, _ := json.MarshalIndent(got, "", "  ")
				wj, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("convertContainer mismatch\ngot:  %s\nwant: %s", gj, wj)
			}
		})
	}
}

func TestConvertContainerModule(t *testing.T) {
	ic := decodeInspect(t, edgeHubInspect)
	c := convertContainer(&ic)
	if !c.IsModule() || !c.IsSystemModule() {
		t.Errorf("edgeHub with the owner label: IsModule=%v IsSystemModule=%v, want both true", c.IsModule(), c.IsSystemModule())
	}
	if v, ok := c.EnvValue("edgedevicehostname"); !ok || v != "dev1.example.com" {
		t.Errorf("EnvValue(edgedevicehostname) = %q, %v", v, ok)
	}
}

// healthyFake returns an engine with two containers, images, volumes and networks.
func healthyFake(t testing.TB) *fakeDocker {
	hub := decodeInspect(t, edgeHubInspect)
	agent := decodeInspect(t, `{"Id": "a1", "Name": "/edgeAgent", "State": {"Status": "running", "Running": true},
	  "Config": {"Image": "mcr.microsoft.com/azureiotedge-agent:1.4", "Labels": {"net.azure-devices.edge.owner": "Microsoft.Azure.Devices.Edge.Agent"}}}`)
	return &fakeDocker{
		host: "unix:///var/run/docker.sock",
		version: types.Version{
			Version: "20.10.11+azure-3", APIVersion: "1.41", Os: "linux", Arch: "amd64",
			Platform:   struct{ Name string }{"Moby Engine"},
			Components: []types.ComponentVersion{{Name: "Engine", Version: "20.10.11+azure-3"}, {Name: "containerd", Version: "1.4.12"}},
		},
		info: system.Info{
			Name: "dev1", ServerVersion: "20.10.11+azure-3", OSType: "linux", Architecture: "x86_64",
			KernelVersion: "5.15.0", OperatingSystem: "Ubuntu 22.04.3 LTS", NCPU: 4, MemTotal: 8 << 30,
			LoggingDriver: "json-file", HTTPProxy: "http://proxy:3128", HTTPSProxy: "http://proxy:3128",
			NoProxy: "localhost", DockerRootDir: "/var/lib/docker",
		},
		list: []container.Summary{
			{ID: hub.ID, Names: []string{"/edgeHub"}, Image: hub.Config.Image, Labels: hub.Config.Labels, State: container.StateRunning},
			{ID: "a1", Names: []string{"/edgeAgent"}, Image: agent.Config.Image, Labels: agent.Config.Labels, State: container.StateRunning},
		},
		inspect: map[string]container.InspectResponse{hub.ID: hub, "a1": agent},
		images: []image.Summary{
			{ID: "sha256:bb", RepoTags: []string{"mcr.microsoft.com/azureiotedge-hub:1.4"}, Size: 300, Containers: -1},
			{ID: "sha256:aa", RepoTags: []string{"mcr.microsoft.com/azureiotedge-agent:1.4"}, Size: 200, Containers: -1},
		},
		volumes: []*volume.Volume{
			{Name: "zeta", Driver: "local"},
			{Name: "edgehub-store", Driver: "local"},
		},
		df: types.DiskUsage{
			Images: []*image.Summary{
				{ID: "sha256:aa", Size: 200, Containers: 1},
				{ID: "sha256:cc", Size: 1000, Containers: 0},
				{ID: "sha256:dd", Size: 24, Containers: 0},
			},
			Volumes: []*volume.Volume{
				{Name: "edgehub-store", UsageData: &volume.UsageData{Size: 4096, RefCount: 1}},
			},
		},
		networks: []network.Summary{
			{Name: "host", Driver: "host"},
			{Name: "azure-iot-edge", Driver: "bridge", EnableIPv6: true},
			{Name: "bridge", Driver: "bridge"},
		},
	}
}

func gatherWith(t testing.TB, api DockerAPI) *Snapshot {
	t.Helper()
	g := NewGatherer(Config{DockerHost: "unix:///var/run/docker.sock"}, api, nil)
	s := &Snapshot{}
	newDockerSource(g).read(context.Background(), s)
	return s
}

func TestDockerFill(t *testing.T) {
	s := gatherWith(t, healthyFake(t))
	if s.DockerError != "" || len(s.PartialErrors) != 0 {
		t.Fatalf("DockerError=%q PartialErrors=%q, want none", s.DockerError, s.PartialErrors)
	}
	wantEngine := &Engine{
		ServerVersion: "20.10.11+azure-3", APIVersion: "1.41", PlatformName: "Moby Engine",
		Components: []string{"Engine 20.10.11+azure-3", "containerd 1.4.12"},
		OS:         "linux", Arch: "x86_64", KernelVersion: "5.15.0", OperatingSystem: "Ubuntu 22.04.3 LTS",
		Hostname: "dev1", NCPU: 4, MemTotal: 8 << 30, LoggingDriver: "json-file",
		HTTPProxy: "http://proxy:3128", HTTPSProxy: "http://proxy:3128", NoProxy: "localhost",
		DockerRootDir: "/var/lib/docker", ImagesReclaimable: 1024,
	}
	if !reflect.DeepEqual(s.Engine, wantEngine) {
		t.Errorf("Engine = %+v\nwant     %+v", s.Engine, wantEngine)
	}
	if names := containerNames(s); !reflect.DeepEqual(names, []string{"edgeAgent", "edgeHub"}) {
		t.Errorf("containers = %v, want sorted [edgeAgent edgeHub]", names)
	}
	if len(s.Modules()) != 2 || s.Module(EdgeHub) == nil {
		t.Errorf("modules = %d, want 2 with edgeHub", len(s.Modules()))
	}
	wantImages := []Image{
		// The image list says -1 (not counted); /system/df counted aa's container.
		{ID: "sha256:aa", RepoTags: []string{"mcr.microsoft.com/azureiotedge-agent:1.4"}, Size: 200, Containers: 1},
		{ID: "sha256:bb", RepoTags: []string{"mcr.microsoft.com/azureiotedge-hub:1.4"}, Size: 300, Containers: -1},
	}
	if !reflect.DeepEqual(s.Images, wantImages) {
		t.Errorf("Images = %+v, want %+v", s.Images, wantImages)
	}
	wantVolumes := []Volume{
		{Name: "edgehub-store", Driver: "local", Size: 4096, RefCount: 1},
		{Name: "zeta", Driver: "local", Size: -1, RefCount: -1},
	}
	if !reflect.DeepEqual(s.Volumes, wantVolumes) {
		t.Errorf("Volumes = %+v, want %+v", s.Volumes, wantVolumes)
	}
	wantNets := []Network{{"azure-iot-edge", "bridge", true}, {"bridge", "bridge", false}, {"host", "host", false}}
	if !reflect.DeepEqual(s.Networks, wantNets) {
		t.Errorf("Networks = %+v, want %+v", s.Networks, wantNets)
	}
}

func containerNames(s *Snapshot) []string {
	var out []string
	for _, c := range s.Containers {
		out = append(out, c.Name)
	}
	return out
}

func TestDockerFillErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name           string
		mutate         func(*fakeDocker)
		host           string
		wantDockerErr  []string // substrings; empty = no DockerError
		wantPartial    []string // exact PartialErrors
		wantContainers []string
		check          func(t *testing.T, s *Snapshot)
	}{
		{
			name: "ping fails on the default socket",
			mutate: func(f *fakeDocker) {
				f.pingErr = errors.New("dial unix /var/run/docker.sock: connect: no such file or directory")
			},
			wantDockerErr: []string{"cannot reach the Docker engine at unix:///var/run/docker.sock", "no such file or directory", "/var/run/docker.sock:/var/run/docker.sock:ro"},
		},
		{
			name: "ping fails on a TCP host",
			mutate: func(f *fakeDocker) {
				f.host = "tcp://10.0.0.5:2375"
				f.pingErr = errors.New("connection refused")
			},
			wantDockerErr: []string{"at tcp://10.0.0.5:2375", "connection refused", "DOCKER_HOST"},
		},
		{
			name: "ping denied",
			mutate: func(f *fakeDocker) {
				f.pingErr = errors.New("dial unix /var/run/docker.sock: connect: permission denied")
			},
			wantDockerErr: []string{"unix:///var/run/docker.sock", "permission denied", "run the module as a user"},
		},
		{
			name:           "one inspect fails",
			mutate:         func(f *fakeDocker) { f.inspectErr = map[string]error{"a1": boom} },
			wantPartial:    []string{"inspecting container edgeAgent: boom"},
			wantContainers: []string{"edgeAgent", "edgeHub"},
			check: func(t *testing.T, s *Snapshot) {
				// Kept with what the list told, so that checks report an error for it.
				c := s.Module(EdgeAgent)
				if c == nil || c.Inspected() || c.InspectError != "inspecting container edgeAgent: boom" {
					t.Fatalf("edgeAgent = %+v, want it kept, uninspected, with the error", c)
				}
				if c.State.Status == "" || c.Image == "" || c.Env != nil || c.Mounts != nil {
					t.Errorf("uninspected edgeAgent = %+v, want list facts only", c)
				}
				if got := s.UninspectedModules(); len(got) != 1 || got[0].Name != EdgeAgent {
					t.Errorf("UninspectedModules = %v", got)
				}
				if v := s.WithoutUninspected(); len(v.Containers) != 1 || v.Containers[0].Name != EdgeHub || len(s.Containers) != 2 {
					t.Errorf("WithoutUninspected = %v", containerNames(v))
				}
			},
		},
		{
			name: "container vanished between list and inspect",
			mutate: func(f *fakeDocker) {
				f.list = append(f.list, container.Summary{ID: "gone", Names: []string{"/gone"}})
			},
			wantContainers: []string{"edgeAgent", "edgeHub"},
		},
		{
			name:        "container list fails",
			mutate:      func(f *fakeDocker) { f.listErr = boom },
			wantPartial: []string{"listing containers: boom"},
		},
		{
			name: "everything after ping fails",
			mutate: func(f *fakeDocker) {
				f.versionErr, f.infoErr, f.imagesErr, f.volumesErr, f.dfErr, f.networkErr = boom, boom, boom, boom, boom, boom
			},
			wantPartial: []string{
				"reading disk usage: boom", "reading engine version: boom", "reading engine info: boom",
				"listing images: boom", "listing volumes: boom", "listing networks: boom",
			},
			wantContainers: []string{"edgeAgent", "edgeHub"},
			check: func(t *testing.T, s *Snapshot) {
				if s.Engine == nil || s.Engine.ImagesReclaimable != -1 {
					t.Errorf("Engine = %+v, want non-nil with ImagesReclaimable -1", s.Engine)
				}
			},
		},
		{
			name:           "disk usage fails: sizes unknown",
			mutate:         func(f *fakeDocker) { f.dfErr = boom },
			wantPartial:    []string{"reading disk usage: boom"},
			wantContainers: []string{"edgeAgent", "edgeHub"},
			check: func(t *testing.T, s *Snapshot) {
				if s.Engine.ImagesReclaimable != -1 {
					t.Errorf("ImagesReclaimable = %d, want -1", s.Engine.ImagesReclaimable)
				}
				for _, v := range s.Volumes {
					if v.Size != -1 || v.RefCount != -1 {
						t.Errorf("volume %+v: want Size and RefCount -1", v)
					}
				}
			},
		},
		{
			name: "inspect error never carries env values",
			mutate: func(f *fakeDocker) {
				f.inspectErr = map[string]error{"a1": errors.New("Error response from daemon: something")}
			},
			wantPartial:    []string{"inspecting container edgeAgent: Error response from daemon: something"},
			wantContainers: []string{"edgeAgent", "edgeHub"},
			check: func(t *testing.T, s *Snapshot) {
				for _, e := range s.PartialErrors {
					if strings.Contains(e, "dev1.example.com") || strings.Contains(e, "a=b=c") {
						t.Errorf("partial error %q carries an env value", e)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := healthyFake(t)
			tt.mutate(f)
			s := gatherWith(t, f)
			if len(tt.wantDockerErr) == 0 && s.DockerError != "" {
				t.Fatalf("DockerError = %q, want none", s.DockerError)
			}
			for _, sub := range tt.wantDockerErr {
				if !strings.Contains(s.DockerError, sub) {
					t.Errorf("DockerError = %q, want it to contain %q", s.DockerError, sub)
				}
			}
			if len(tt.wantDockerErr) > 0 {
				if s.Engine != nil || s.Containers != nil || s.DockerOK() {
					t.Errorf("engine unreachable: Engine=%v Containers=%v, want nil", s.Engine, s.Containers)
				}
				return
			}
			if !reflect.DeepEqual(s.PartialErrors, tt.wantPartial) {
				t.Errorf("PartialErrors = %q, want %q", s.PartialErrors, tt.wantPartial)
			}
			if got := containerNames(s); !reflect.DeepEqual(got, tt.wantContainers) {
				t.Errorf("containers = %v, want %v", got, tt.wantContainers)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestDockerInspectBounded(t *testing.T) {
	f := healthyFake(t)
	f.inspectWait = 20 * time.Millisecond
	base := f.inspect["a1"]
	for i := range 12 {
		id := fmt.Sprintf("m%02d", i)
		ic := base
		b := *base.ContainerJSONBase
		b.ID, b.Name = id, "/"+id
		ic.ContainerJSONBase = &b
		f.inspect[id] = ic
		f.list = append(f.list, container.Summary{ID: id, Names: []string{"/" + id}})
	}
	s := gatherWith(t, f)
	if len(s.Containers) != 14 {
		t.Fatalf("got %d containers, want 14", len(s.Containers))
	}
	if f.maxInFlight > inspectParallelism || f.maxInFlight < 2 {
		t.Errorf("max concurrent inspects = %d, want 2..%d", f.maxInFlight, inspectParallelism)
	}
}

func TestDockerCallTimeout(t *testing.T) {
	f := healthyFake(t)
	f.inspectWait = time.Hour
	g := NewGatherer(Config{}, f, nil)
	g.CallTimeout = 50 * time.Millisecond
	s := &Snapshot{}
	// The inspect hangs for an hour: only the call deadline brings the
	// gathering back (else the test's own timeout fails it).
	newDockerSource(g).read(context.Background(), s)
	if len(s.PartialErrors) != 2 || !strings.Contains(s.PartialErrors[0], "deadline exceeded") {
		t.Errorf("PartialErrors = %q, want two inspect deadline errors", s.PartialErrors)
	}
}

func TestNilDockerClient(t *testing.T) {
	g := NewGatherer(Config{DockerHost: "unix:///run/x.sock"}, nil, nil)
	s := &Snapshot{}
	newDockerSource(g).read(context.Background(), s)
	if !strings.Contains(s.DockerError, "unix:///run/x.sock") || s.Engine != nil {
		t.Errorf("DockerError = %q Engine = %v", s.DockerError, s.Engine)
	}
	g = OpenGatherer(Config{DockerHost: "not a host"})
	defer g.Close()
	s = &Snapshot{}
	newDockerSource(g).read(context.Background(), s)
	if !strings.Contains(s.DockerError, "not a host") {
		t.Errorf("DockerError = %q, want it to name the host", s.DockerError)
	}
}

func TestConvertPortsOrder(t *testing.T) {
	ic := decodeInspect(t, `{"Id":"x","Name":"/x","HostConfig":{"PortBindings":{
	  "10000/tcp":[{"HostPort":"10000"}], "9600/tcp":[{"HostIp":"127.0.0.1","HostPort":"9600"}],
	  "53/udp":[{"HostPort":"53"}], "53/tcp":[{"HostPort":"53"}], "80/tcp": []}}}`)
	got := convertContainer(&ic).Ports
	want := []PortBinding{
		{ContainerPort: "53/tcp", HostPort: "53"},
		{ContainerPort: "53/udp", HostPort: "53"},
		{ContainerPort: "9600/tcp", HostIP: "127.0.0.1", HostPort: "9600"},
		{ContainerPort: "10000/tcp", HostPort: "10000"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ports = %+v, want %+v", got, want)
	}
}
