package checks_test

import (
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func TestImageTagsPinned(t *testing.T) {
	img := func(module, ref string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { setImage(mod(s, module), ref) }
	}
	runCases(t, "image-tags-pinned", []checkCase{
		{
			name: "full versions pass",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent's image is tagged 1.5.21"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub's image is tagged 1.5.21"},
				{module: "filter", status: checks.Pass, msg: "filter's image is tagged 2.3.1"},
				{module: "sensor", status: checks.Pass, msg: "sensor's image is tagged 1.2.3"},
			},
		},
		{
			name:   "edgeAgent on the rolling tag 1.5 fails",
			mutate: img("edgeAgent", "mcr.microsoft.com/azureiotedge-agent:1.5"),
			want: []want{{module: "edgeAgent", status: checks.Fail,
				msg: `edgeAgent uses the rolling tag "1.5" (mcr.microsoft.com/azureiotedge-agent:1.5)`}},
		},
		{
			name:   "edgeHub on the rolling tag 1.5 fails",
			mutate: img("edgeHub", "mcr.microsoft.com/azureiotedge-hub:1.5"),
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: `rolling tag "1.5"`}},
		},
		{
			name:   "edgeHub untagged is latest and fails",
			mutate: img("edgeHub", "mcr.microsoft.com/azureiotedge-hub"),
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: `rolling tag "latest"`}},
		},
		{
			name:   "edgeAgent by digest passes",
			mutate: img("edgeAgent", agentDigest),
			want:   []want{{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent's image is pinned by digest"}},
		},
		{
			name:   "custom latest fails",
			mutate: img("filter", "contoso.azurecr.io/filter:latest"),
			want: []want{{module: "filter", status: checks.Fail,
				msg: "filter's image contoso.azurecr.io/filter:latest has no version tag"}},
		},
		{
			name:   "custom untagged fails",
			mutate: img("sensor", "contoso.azurecr.io/sensor"),
			want:   []want{{module: "sensor", status: checks.Fail, msg: "sensor's image contoso.azurecr.io/sensor has no version tag"}},
		},
		{
			name:   "custom by tag and digest passes",
			mutate: img("sensor", "contoso.azurecr.io/sensor:latest@sha256:4a1e4bd6e1bbbd1d5e5a87cb1b6d2f6b5ce9d1c6c6c0f8d2e1e3b0a9f8e7d6c5"),
			want:   []want{{module: "sensor", status: checks.Pass, msg: "pinned by digest"}},
		},
		{
			name: "the deployment's image counts, not the container's",
			mutate: func(s *facts.Snapshot) {
				mod(s, "filter").Labels[facts.OriginalImageLabel] = "contoso.azurecr.io/filter:latest"
			},
			want: []want{{module: "filter", status: checks.Fail, msg: "contoso.azurecr.io/filter:latest has no version tag"}},
		},
		{
			name:   "an invalid reference fails",
			mutate: img("filter", "contoso.azurecr.io/Filter:2.3.1"),
			want:   []want{{module: "filter", status: checks.Fail, msg: `filter's image "contoso.azurecr.io/Filter:2.3.1" is not a valid reference`}},
		},
	})
}

func TestUnusedVolumes(t *testing.T) {
	addVolume := func(name string, size int64) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			s.Volumes = append(s.Volumes, facts.Volume{Name: name, Driver: "local", Size: size, RefCount: 0})
		}
	}
	runCases(t, "unused-volumes", []checkCase{
		{
			name: "no unused volume passes",
			want: []want{{status: checks.Pass, msg: "0 of 2 volumes unused (at most 0 allowed)"}},
		},
		{
			name:   "one unused volume fails, named with its size",
			mutate: addVolume("old-cache", 3*gib/2),
			want:   []want{{status: checks.Fail, msg: "(1.5 GiB reclaimable): old-cache"}},
		},
		{
			name:   "maxDangling=1 tolerates one",
			mutate: addVolume("old-cache", 3*gib/2),
			policy: `{"checks":{"unused-volumes":{"params":{"maxDangling":1}}}}`,
			want:   []want{{status: checks.Pass, msg: "1 of 3 volumes unused (at most 1 allowed)"}},
		},
		{
			name: "maxDangling=1 with two fails, sorted by name",
			mutate: func(s *facts.Snapshot) {
				addVolume("zz-tmp", 512*mib)(s)
				addVolume("aa-cache", 512*mib)(s)
			},
			policy: `{"checks":{"unused-volumes":{"params":{"maxDangling":1}}}}`,
			want:   []want{{status: checks.Fail, msg: "(1.0 GiB reclaimable): aa-cache, zz-tmp"}},
		},
		{
			name: "a volume a non-module container mounts is used",
			mutate: func(s *facts.Snapshot) {
				addVolume("portainer_data", 20*mib)(s)
				s.Containers = append(s.Containers, facts.Container{ID: "e5", Name: "portainer",
					Image: "portainer/portainer-ce:2.19.4", State: facts.State{Status: "exited"},
					Mounts: []facts.Mount{{Type: "volume", Name: "portainer_data", Destination: "/data", RW: true}}})
			},
			want: []want{{status: checks.Pass, msg: "0 of 3 volumes unused"}},
		},
		{
			name: "a bind mount does not use a volume of the same name",
			mutate: func(s *facts.Snapshot) {
				addVolume("sensor-data", 0)(s)
				c := mod(s, "sensor")
				c.Mounts = append(c.Mounts, facts.Mount{Type: "bind", Name: "", Source: "/srv/sensor-data", Destination: "/data"})
			},
			want: []want{{status: checks.Fail, msg: "sensor-data"}},
		},
		{
			name:   "an unused volume of unknown size does not claim 0 B",
			mutate: addVolume("old-cache", -1),
			want:   []want{{status: checks.Fail, msg: "(size unknown): old-cache"}},
		},
		{
			name: "unknown sizes make the reclaimable size a lower bound",
			mutate: func(s *facts.Snapshot) {
				addVolume("old-cache", -1)(s)
				addVolume("old-logs", 3*gib/2)(s)
			},
			want: []want{{status: checks.Fail, msg: "(at least 1.5 GiB reclaimable): old-cache, old-logs"}},
		},
	})
}

func TestRuntimeImagesPrivateRegistry(t *testing.T) {
	runCases(t, "runtime-images-private-registry", []checkCase{
		{
			name: "good device: both from the company registry",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, severity: policy.Info, msg: "edgeAgent's image contoso.azurecr.io/azureiotedge-agent:1.5.21 comes from a private registry"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub's image contoso.azurecr.io/azureiotedge-hub:1.5.21 comes from a private registry"},
			},
		},
		{
			name:   "edgeHub from mcr.microsoft.com fails (as info)",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:1.5.21") },
			want: []want{{module: "edgeHub", status: checks.Fail, severity: policy.Info,
				msg: "edgeHub's image mcr.microsoft.com/azureiotedge-hub:1.5.21 comes from mcr.microsoft.com: the device depends on a public registry to recover"}},
		},
		{
			name:   "by digest from mcr.microsoft.com fails too",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), agentDigest) },
			want:   []want{{module: "edgeAgent", status: checks.Fail, msg: "comes from mcr.microsoft.com"}},
		},
		{
			name: "read as the deployment names it, not as the container was created",
			mutate: func(s *facts.Snapshot) {
				mod(s, "edgeAgent").Labels[facts.OriginalImageLabel] = "mcr.microsoft.com/azureiotedge-agent:1.5.21"
			},
			want: []want{{module: "edgeAgent", status: checks.Fail, msg: "mcr.microsoft.com/azureiotedge-agent:1.5.21 comes from mcr.microsoft.com"}},
		},
		{
			name:   "no edgeHub: skip for it",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "no edgeHub container"}},
		},
	})
}

func TestImageGarbageCollection(t *testing.T) {
	reclaimable := func(n int64) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			s.Engine.ImagesReclaimable = n
			s.Images = append(s.Images,
				facts.Image{ID: "sha256:aa", RepoTags: []string{"contoso.azurecr.io/filter:2.3.0"}, Size: n / 2, Containers: 0},
				facts.Image{ID: "sha256:bb", RepoTags: []string{"contoso.azurecr.io/filter:2.2.9"}, Size: n / 2, Containers: 0})
		}
	}
	runCases(t, "image-garbage-collection", []checkCase{
		{name: "good device", want: []want{{status: checks.Pass, severity: policy.Warning, msg: "0 B in unused images (at most 1.0 GiB allowed)"}}},
		{
			name: "2 GiB reclaimable fails", mutate: reclaimable(2 * gib),
			want: []want{{status: checks.Fail, severity: policy.Warning, msg: "2.0 GiB in 2 images that no container uses could be reclaimed (more than 1.0 GiB)"}},
		},
		{name: "exactly the limit passes", mutate: reclaimable(gib), want: []want{{status: checks.Pass, msg: "1.0 GiB in unused images"}}},
		{
			name: "limit raised by policy", mutate: reclaimable(2 * gib),
			policy: `{"checks":{"image-garbage-collection":{"params":{"maxReclaimableBytes":4294967296}}}}`,
			want:   []want{{status: checks.Pass, msg: "at most 4.0 GiB allowed"}},
		},
		{
			name:   "unknown disk usage: skip",
			mutate: func(s *facts.Snapshot) { s.Engine.ImagesReclaimable = -1 },
			want:   []want{{status: checks.Skip, msg: "the engine's disk usage (/system/df) could not be read"}},
		},
		{name: "the development profile reports it as info", mutate: reclaimable(2 * gib), policy: `{"profile":"development"}`,
			want: []want{{status: checks.Fail, severity: policy.Info, msg: "could be reclaimed"}}},
		{
			// A real engine's image list says -1 containers for every image
			// (it counts them only for /system/df): not "0 images".
			name: "-1 containers per image: counted from the containers' image ids",
			mutate: func(s *facts.Snapshot) {
				for i := range s.Containers {
					s.Containers[i].ImageID = "sha256:in-use"
				}
				s.Images = []facts.Image{{ID: "sha256:in-use", Size: 5, Containers: -1}}
				reclaimable(2 * gib)(s)
				for i := range s.Images {
					s.Images[i].Containers = -1
				}
			},
			want: []want{{status: checks.Fail, msg: "2.0 GiB in 2 images that no container uses could be reclaimed"}},
		},
		{
			name: "-1 containers and containers without image ids: no count rather than a wrong one",
			mutate: func(s *facts.Snapshot) {
				reclaimable(2 * gib)(s)
				for i := range s.Images {
					s.Images[i].Containers = -1
				}
				s.Containers[0].ImageID = ""
			},
			want: []want{{status: checks.Fail, msg: "2.0 GiB in images that no container uses could be reclaimed (more than 1.0 GiB)"}},
		},
	})
}
