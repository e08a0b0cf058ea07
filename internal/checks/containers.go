package checks

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

var fullVersionRE = regexp.MustCompile(`^\d+\.\d+\.\d+`)

var imageTagsPinned = &Check{
	Meta: Meta{
		ID: "image-tags-pinned", Title: "Image tags are pinned",
		Section: SecContainers, Seed: "Use tags to manage versions", Severity: policy.Critical,
		Decides: "edgeAgent and edgeHub must name a full version (1.6.8) or a digest, not a rolling tag (1.6); a custom module " +
			"must name a tag other than latest, or a digest. Images are read as the deployment names them " +
			"(label net.azure-devices.edge.original-image).",
		Remediation: "Name every image by a specific version in the deployment manifest (mcr.microsoft.com/azureiotedge-hub:1.6.8, " +
			"myregistry.azurecr.io/filter:2.3.1) or by digest, and bump it deliberately with each release.",
		Reference: seedRef("use-tags-to-manage-versions"),
		Needs:     []facts.Fact{NeedContainers},
		Reads:     []facts.Setting{facts.SettingImage},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Modules() {
			img := m.OriginalImage()
			ref, err := parseImage(img)
			r := Result{Module: m.Name}.with("image", img)
			switch {
			case err != nil:
				r.Status, r.Message = Fail, fmt.Sprintf("%s's image %q is not a valid reference: %v", m.Name, img, err)
			case ref.digest != "":
				r.Status, r.Message = Pass, fmt.Sprintf("%s's image is pinned by digest", m.Name)
			case m.IsSystemModule() && !fullVersionRE.MatchString(ref.tag):
				r.Status, r.Message = Fail, fmt.Sprintf("%s uses the rolling tag %q (%s): the runtime changes under you when the tag "+
					"moves; name a full version such as 1.6.8", m.Name, orName(ref.tag, "latest"), img)
			case !m.IsSystemModule() && (ref.tag == "" || ref.tag == "latest"):
				r.Status, r.Message = Fail, fmt.Sprintf("%s's image %s has no version tag (latest): name a version", m.Name, img)
			default:
				r.Status, r.Message = Pass, fmt.Sprintf("%s's image is tagged %s", m.Name, ref.tag)
			}
			out = append(out, r)
		}
		return out
	},
}

var unusedVolumes = &Check{
	Meta: Meta{
		ID: "unused-volumes", Title: "No unused volumes",
		Section: SecContainers, Seed: "Manage volumes", Severity: policy.Warning, Helpful: true,
		Decides: "Counts the engine's volumes that no container (running or not) mounts; more than maxDangling fails.",
		Remediation: "Remove volumes no module uses (`docker volume rm <name>`, or `docker volume prune` after checking), and " +
			"name volumes in createOptions so that recreated modules reuse them.",
		Reference: seedRef("manage-volumes"),
		Needs:     []facts.Fact{NeedContainers, NeedEngineInventory},
		Params: []policy.ParamSpec{{Name: "maxDangling", Kind: policy.Int, Max: 10000, Default: 0,
			Doc: "how many unused volumes are tolerated"}},
	},
	Eval: func(in *Input) []Result {
		used := map[string]bool{}
		for _, c := range in.Snap.Containers {
			for _, m := range c.Mounts {
				if m.Type == "volume" {
					used[m.Name] = true
				}
			}
		}
		type vol struct {
			Name string `json:"name"`
			Size int64  `json:"sizeBytes"`
		}
		var unused []vol
		var total int64
		unknown := 0 // volumes of unknown size (-1: the engine's disk usage was not read)
		for _, v := range in.Snap.Volumes {
			if !used[v.Name] {
				unused = append(unused, vol{v.Name, v.Size})
				if v.Size > 0 {
					total += v.Size
				} else if v.Size < 0 {
					unknown++
				}
			}
		}
		sort.Slice(unused, func(i, j int) bool { return unused[i].Name < unused[j].Name })
		max := in.Params.Int("maxDangling")
		r := Result{}.with("unused", len(unused)).with("volumes", len(in.Snap.Volumes))
		if len(unused) <= max {
			r.Status, r.Message = Pass, fmt.Sprintf("%d of %d volumes unused (at most %d allowed)", len(unused), len(in.Snap.Volumes), max)
			return []Result{r}
		}
		names := make([]string, 0, len(unused))
		for _, v := range unused {
			names = append(names, v.Name)
		}
		if len(names) > 10 {
			names = append(names[:10], fmt.Sprintf("and %d more", len(unused)-10))
		}
		r = r.with("unusedVolumes", unused).with("reclaimableBytes", total)
		size := facts.BytesIEC(total) + " reclaimable"
		switch {
		case unknown == len(unused):
			size = "size unknown"
		case unknown > 0:
			size = "at least " + size
		}
		r.Status, r.Message = Fail, fmt.Sprintf("%s used by no container (%s): %s", pluralVerb(len(unused), "volume is", "volumes are"),
			size, strings.Join(names, ", "))
		return []Result{r}
	},
}

var runtimeImagesPrivateRegistry = &Check{
	Meta: Meta{
		ID: "runtime-images-private-registry", Title: "Runtime images come from a private registry",
		Section: SecContainers, Seed: "Store runtime containers in your private registry", Severity: policy.Info, Helpful: true,
		Decides:     "edgeAgent's and edgeHub's images (as the deployment names them) must not come from mcr.microsoft.com.",
		Remediation: "Import the azureiotedge-agent and azureiotedge-hub images into your registry (`az acr import`), and point the deployment and [agent] in /etc/aziot/config.toml at it.",
		Reference:   seedRef("store-runtime-containers-in-your-private-registry"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.SettingImage},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, name := range []string{facts.EdgeAgent, facts.EdgeHub} {
			m := in.Snap.Module(name)
			if m == nil {
				out = append(out, skip(name, "no %s container (see modules-running)", name))
				continue
			}
			img := m.OriginalImage()
			ref, err := parseImage(img)
			if err == nil && ref.domain == "mcr.microsoft.com" {
				out = append(out, fail(name, "%s's image %s comes from mcr.microsoft.com: the device depends on a public registry to recover", name, img).with("image", img))
			} else {
				out = append(out, pass(name, "%s's image %s comes from a private registry", name, img).with("image", img))
			}
		}
		return out
	},
}

var imageGarbageCollection = &Check{
	Meta: Meta{
		ID: "image-garbage-collection", Title: "Unused images are collected",
		Section: SecContainers, Seed: "Configure image garbage collection", Severity: policy.Warning, Helpful: true,
		Decides:     "Images used by no container (GET /system/df) must hold less than maxReclaimableBytes.",
		Remediation: "Enable image garbage collection in /etc/aziot/config.toml ([image_garbage_collection] enabled = true, cleanup_recurrence, image_age_cleanup_threshold) or prune with `docker image prune -a`.",
		Reference:   seedRef("configure-image-garbage-collection"),
		Needs:       []facts.Fact{NeedContainers, NeedEngineInventory},
		Params: []policy.ParamSpec{{Name: "maxReclaimableBytes", Kind: policy.Int, Max: 1 << 50, Default: 1 << 30,
			Doc: "bytes of unused images tolerated"}},
	},
	Eval: func(in *Input) []Result {
		e := in.Snap.Engine
		max := int64(in.Params.Int("maxReclaimableBytes"))
		if e.ImagesReclaimable < 0 {
			return []Result{skip("", "the engine's disk usage (/system/df) could not be read")}
		}
		unused, known := unusedImages(in.Snap)
		r := Result{}.with("reclaimableBytes", e.ImagesReclaimable).with("maxReclaimableBytes", max)
		inImages := "in images"
		if known {
			r = r.with("unusedImages", unused)
			inImages = "in " + plural(unused, "image")
		}
		if e.ImagesReclaimable > max {
			r.Status, r.Message = Fail, fmt.Sprintf("%s %s that no container uses could be reclaimed (more than %s)",
				facts.BytesIEC(e.ImagesReclaimable), inImages, facts.BytesIEC(max))
		} else {
			r.Status, r.Message = Pass, fmt.Sprintf("%s in unused images (at most %s allowed)", facts.BytesIEC(e.ImagesReclaimable), facts.BytesIEC(max))
		}
		return []Result{r}
	},
}

// unusedImages counts the images no container uses. The engine's image list
// says -1 for an image's containers when it did not count them: such an
// image is counted by the containers' image ids, when every container has
// one; otherwise the count is unknown (known is false).
func unusedImages(s *facts.Snapshot) (unused int, known bool) {
	used := map[string]bool{}
	byContainers := true
	for i := range s.Containers {
		if s.Containers[i].ImageID == "" {
			byContainers = false
		}
		used[s.Containers[i].ImageID] = true
	}
	for _, img := range s.Images {
		switch {
		case img.Containers == 0:
			unused++
		case img.Containers < 0 && !byContainers:
			return 0, false
		case img.Containers < 0 && !used[img.ID]:
			unused++
		}
	}
	return unused, true
}
