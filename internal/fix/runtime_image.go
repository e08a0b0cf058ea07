package fix

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/distribution/reference"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// runtimeRepos are the runtime images Microsoft publishes.
var runtimeRepos = map[string]string{facts.EdgeAgent: "azureiotedge-agent", facts.EdgeHub: "azureiotedge-hub"}

var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`) })

// fixRuntimeImage sets edgeAgent's and edgeHub's image to the newest patch
// (runtime-version-supported's newestPatches) of the release its lifecycle
// table services the longest,
// from mcr.microsoft.com; a custom module's version, a private registry's
// copy, a digest and a variable are left to the owner.
func fixRuntimeImage(c *Context, f *checks.Finding) Outcome {
	mod := c.Module(f.Module)
	repo, system := runtimeRepos[f.Module]
	if mod == nil || !system {
		return decision("which version of %s's image to deploy is the owner's choice: name a tag that was built and tested", f.Module)
	}
	if hasVariable(mod.Image.Raw) {
		return placeholder("the image holds a placeholder (%s): set the version where it is defined", mod.Image.Raw)
	}
	newest, _, _ := strings.Cut(checks.LifecycleNewest(c.pol), "=")
	target := newestPatch(c.Params("runtime-version-supported").Strings("newestPatches"), newest)
	if target == "" {
		return decision("the policy names no patch of %s, the newest release of its lifecycle (runtime-version-supported.newestPatches)", orAny(newest))
	}
	named, err := reference.ParseNormalizedNamed(mod.Image.Raw)
	if err != nil {
		return decision("the image %q is not an image reference (see image-tags-pinned)", mod.Image.Raw)
	}
	if _, ok := named.(reference.Digested); ok {
		return decision("the image is pinned by digest: choose the digest of a supported release")
	}
	if reference.Domain(named) != "mcr.microsoft.com" || reference.Path(named) != repo {
		return decision("the image comes from %s/%s: import %s:%s into that registry first, then name it", reference.Domain(named),
			reference.Path(named), "mcr.microsoft.com/"+repo, target)
	}
	p, o := c.plan(f.Module)
	if o != nil {
		return *o
	}
	img := "mcr.microsoft.com/" + repo + ":" + target
	p.image = &img
	return fixed("image set to %s (upgrade the device's aziot-edge to the same release)", img).touching(facts.SettingImage)
}

// newestPatch is the highest full version of the list of the release
// (major.minor; "" for any).
func newestPatch(versions []string, release string) string {
	best, bestKey := "", [3]int{-1}
	for _, v := range versions {
		m := versionRE().FindStringSubmatch(strings.TrimSpace(v))
		if m == nil || (release != "" && m[1]+"."+m[2] != release) {
			continue
		}
		var k [3]int
		for i := range k {
			k[i], _ = strconv.Atoi(m[i+1])
		}
		if k[0] > bestKey[0] || k[0] == bestKey[0] && (k[1] > bestKey[1] || k[1] == bestKey[1] && k[2] > bestKey[2]) {
			best, bestKey = m[0], k
		}
	}
	return best
}

func orAny(release string) string {
	if release == "" {
		return "any release"
	}
	return release
}
