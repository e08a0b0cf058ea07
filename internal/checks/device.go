package checks

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// releaseEnds records when older IoT Edge releases left support.
var releaseEnds = map[string]string{
	"1.4": "2024-11-12", "1.3": "2022-12-31", "1.2": "2023-03-31", "1.1": "2022-12-13", "1.0": "2021-06-30",
}

var releaseRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

var runtimeVersionSupported = &Check{
	Meta: Meta{
		ID: "runtime-version-supported", Title: "IoT Edge runtime is a supported release",
		Section: SecDevice, Seed: "Tags for the IoT Edge runtime", Severity: policy.Critical,
		Decides: "Reads the release (major.minor) from the image tags of edgeAgent and edgeHub as the deployment names them " +
			"(label net.azure-devices.edge.original-image), falling back to edgeAgent_metadata's edge_agent_version for a digest; " +
			"the release must be in supportedReleases.",
		Remediation: "Move the device to a supported IoT Edge release: upgrade the host packages (aziot-edge) and set the " +
			"edgeAgent and edgeHub images in the deployment to that release (for example mcr.microsoft.com/azureiotedge-hub:1.5.x).",
		Reference: "https://learn.microsoft.com/azure/iot-edge/version-history",
		Needs:     []facts.Fact{NeedContainers},
		Reads:     []facts.Setting{facts.SettingImage},
		Params: []policy.ParamSpec{{Name: "supportedReleases", Kind: policy.StringList, Default: []string{"1.5"},
			Doc: "IoT Edge releases (major.minor) under support"},
			{Name: "newestPatches", Kind: policy.StringList, Default: []string{"1.6.8"},
				Doc: "the newest patch of each LTS release (1.6.8 released 2026-11-02): `fix` sets edgeAgent and edgeHub to the newest of them"}},
	},
	Eval: func(in *Input) []Result {
		supported := in.Params.Strings("supportedReleases")
		var out []Result
		for _, name := range []string{facts.EdgeAgent, facts.EdgeHub} {
			m := in.Snap.Module(name)
			if m == nil {
				out = append(out, skip(name, "no %s container (see modules-running)", name))
				continue
			}
			img := m.OriginalImage()
			rel, from := "", "image "+img
			if ref, err := parseImage(img); err == nil && ref.tag != "" {
				if mm := releaseRE.FindStringSubmatch(ref.tag); mm != nil {
					rel = mm[1] + "." + mm[2]
				}
			}
			if rel == "" && name == facts.EdgeAgent {
				if v := agentVersion(in.Snap); v != "" {
					if mm := releaseRE.FindStringSubmatch(v); mm != nil {
						rel, from = mm[1]+"."+mm[2], "edgeAgent_metadata version "+v
					}
				}
			}
			if rel == "" {
				out = append(out, skip(name, "cannot tell the release of %s from %s", name, from))
				continue
			}
			r := Result{Module: name}.with("release", rel).with("image", img).with("supportedReleases", supported)
			if contains(supported, rel) {
				r.Status, r.Message = Pass, fmt.Sprintf("%s runs IoT Edge %s (%s), a supported release", name, rel, from)
			} else {
				end := ""
				if d, ok := releaseEnds[rel]; ok {
					end = "; its support ended on " + d
				}
				r.Status, r.Message = Fail, fmt.Sprintf("%s runs IoT Edge %s (%s), which is not a supported release (supported: %s)%s",
					name, rel, from, strings.Join(supported, ", "), end)
			}
			out = append(out, r)
		}
		return out
	},
}

func agentVersion(s *facts.Snapshot) string {
	for _, smp := range s.Metrics[facts.EdgeAgent].Find("edgeAgent_metadata", nil) {
		if v := smp.Labels["edge_agent_version"]; v != "" {
			return v
		}
	}
	return ""
}

var containerEngineMoby = &Check{
	Meta: Meta{
		ID: "container-engine-moby", Title: "Container engine is Moby",
		Section: SecDevice, Seed: "Container engine", Severity: policy.Critical,
		Decides: "The engine's server version (GET /version, /info) must carry Microsoft's `+azure` build suffix (moby-engine), " +
			"or the engine must be the Docker snap on Ubuntu Core.",
		Remediation: "Install Microsoft's Moby engine (package moby-engine from packages.microsoft.com) in place of Docker CE " +
			"or the distribution's docker.io, then restart aziot-edged.",
		Reference:    seedRef("container-engine"),
		IotedgeCheck: "container-engine-is-moby (1.1)",
		Needs:        []facts.Fact{NeedEngine},
	},
	Eval: func(in *Input) []Result {
		e := in.Snap.Engine
		r := Result{}.with("serverVersion", e.ServerVersion).with("operatingSystem", e.OperatingSystem)
		isMoby := strings.Contains(e.ServerVersion, "+azure")
		for _, c := range e.Components {
			isMoby = isMoby || strings.Contains(c, "+azure")
		}
		snap := strings.Contains(e.OperatingSystem, "Ubuntu Core") || strings.Contains(e.DockerRootDir, "/snap/docker/")
		switch {
		case isMoby:
			r.Status, r.Message = Pass, "the engine is Moby "+e.ServerVersion
		case snap:
			r.Status, r.Message = Pass, "the engine is the Docker snap on Ubuntu Core ("+e.ServerVersion+")"
		default:
			r.Status, r.Message = Fail, fmt.Sprintf("the engine is %s %s, not Microsoft's Moby (moby-engine, versions ending in +azure), "+
				"the only engine supported in production besides the Docker snap on Ubuntu Core", orName(e.PlatformName, "Docker"), e.ServerVersion)
		}
		return []Result{r}
	},
}

func orName(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
