package checks_test

import (
	"encoding/json"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
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

func TestObservabilityModule(t *testing.T) {
	runCases(t, "observability-module", []checkCase{
		{
			name: "good device: the metrics collector",
			want: []want{{status: checks.Pass, severity: policy.Info,
				msg: "metricsCollector ships logs or metrics (contoso.azurecr.io/azureiotedge-metrics-collector:2.0.0)"}},
		},
		{
			name:   "none deployed fails (as info)",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "metricsCollector") },
			want: []want{{status: checks.Fail, severity: policy.Info,
				msg: "no module ships logs or metrics off the device (looked for images matching metrics-collector)"}},
		},
		{
			name: "Microsoft's image from mcr.microsoft.com",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "metricsCollector"), "mcr.microsoft.com/azureiotedge-metrics-collector:1.1")
			},
			want: []want{{status: checks.Pass, msg: "(mcr.microsoft.com/azureiotedge-metrics-collector:1.1)"}},
		},
		{
			name: "a shipper listed in observabilityImages, matched in any case",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "metricsCollector"), "contoso.azurecr.io/Fluent-Bit:3.0.4")
				mod(s, "metricsCollector").Labels[facts.OriginalImageLabel] = "contoso.azurecr.io/fluent-bit:3.0.4"
			},
			policy: `{"checks":{"observability-module":{"params":{"observabilityImages":["metrics-collector","FLUENT-BIT"]}}}}`,
			want:   []want{{status: checks.Pass, msg: "metricsCollector ships logs or metrics (contoso.azurecr.io/fluent-bit:3.0.4)"}},
		},
		{
			name: "a container not owned by IoT Edge does not count",
			mutate: func(s *facts.Snapshot) {
				c := *mod(s, "metricsCollector")
				c.Labels = map[string]string{facts.OriginalImageLabel: c.OriginalImage()}
				removeContainer(s, "metricsCollector")
				s.Containers = append(s.Containers, c)
			},
			want: []want{{status: checks.Fail, msg: "no module ships logs or metrics"}},
		},
	})
}
