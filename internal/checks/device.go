package checks

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// defaultLifecycle is the end of servicing of each IoT Edge LTS release, the
// last day it is serviced (learn.microsoft.com "Azure IoT Edge version
// history" and the release notes of Azure/azure-iotedge 1.5.0 and 1.6.0).
var defaultLifecycle = []string{"1.1=2022-12-13", "1.4=2024-11-12", "1.5=2026-11-10", "1.6=2028-11-14"}

var releaseRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

// releaseKey is the pattern of a lifecycle entry's name.
var releaseKey = regexp.MustCompile(`^\d{1,4}\.\d{1,4}$`)

// release is an IoT Edge major.minor release.
type release struct{ major, minor int }

func parseRelease(s string) (release, bool) {
	m := releaseRE.FindStringSubmatch(s)
	if m == nil || m[0] != s {
		return release{}, false
	}
	a, err1 := strconv.Atoi(m[1])
	b, err2 := strconv.Atoi(m[2])
	return release{a, b}, err1 == nil && err2 == nil
}

func (r release) less(o release) bool {
	return r.major < o.major || (r.major == o.major && r.minor < o.minor)
}

// lifecycleEntry is one release of the lifecycle table.
type lifecycleEntry struct {
	name string
	rel  release
	end  time.Time // the last day of servicing, UTC midnight
}

// lifecycle is the table a check judges releases against.
type lifecycle []lifecycleEntry

func lifecycleOf(p policy.Params) lifecycle {
	var out lifecycle
	for name, end := range p.Dates("lifecycle") {
		if rel, ok := parseRelease(name); ok {
			out = append(out, lifecycleEntry{name: name, rel: rel, end: end})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel.less(out[j].rel) })
	return out
}

func (l lifecycle) find(rel release) (lifecycleEntry, bool) {
	for _, e := range l {
		if e.rel == rel {
			return e, true
		}
	}
	return lifecycleEntry{}, false
}

// newest is the release serviced the longest (the latest end; the higher
// release on a tie).
func (l lifecycle) newest() (lifecycleEntry, bool) {
	var best lifecycleEntry
	for i, e := range l {
		if i == 0 || e.end.After(best.end) || (e.end.Equal(best.end) && best.rel.less(e.rel)) {
			best = e
		}
	}
	return best, len(l) > 0
}

// nextAfter is the oldest entry newer than rel.
func (l lifecycle) nextAfter(rel release) (lifecycleEntry, bool) {
	for _, e := range l {
		if rel.less(e.rel) {
			return e, true
		}
	}
	return lifecycleEntry{}, false
}

// LifecycleNewest names the newest entry of the lifecycle table a policy
// judges runtime releases against ("1.6=2028-11-14"), so that a report
// says how fresh its knowledge of IoT Edge releases was.
func LifecycleNewest(p *policy.Policy) string {
	if p == nil {
		return ""
	}
	cp, ok := p.Checks[runtimeVersionSupported.ID]
	if !ok {
		return ""
	}
	if n, ok := lifecycleOf(cp.Params).newest(); ok {
		return n.name + "=" + n.end.Format(time.DateOnly)
	}
	return ""
}

var runtimeVersionSupported = &Check{
	Meta: Meta{
		ID: "runtime-version-supported", Title: "IoT Edge runtime is a supported release",
		Section: SecDevice, Seed: "Tags for the IoT Edge runtime", Severity: policy.Critical,
		Decides: "Reads the release (major.minor) from the image tags of edgeAgent and edgeHub as the deployment names them " +
			"(label net.azure-devices.edge.original-image), falling back to edgeAgent_metadata's edge_agent_version for a digest, " +
			"and judges it against its end of servicing in lifecycle at the snapshot's time: after the last day of servicing it " +
			"fails, naming the date and the newest release of the table; within warningDays of it, it fails as a warning. " +
			"A release not in the table passes when it is newer than every entry, fails when a newer entry has ended, and " +
			"cannot be decided otherwise. When supportedReleases is set, a release it does not list fails too, and a listed " +
			"release the table does not know passes.",
		Remediation: "Move the device to a supported IoT Edge release: upgrade the host packages (aziot-edge) and set the " +
			"edgeAgent and edgeHub images in the deployment to that release (for example mcr.microsoft.com/azureiotedge-hub:1.6.8).",
		Reference: "https://learn.microsoft.com/azure/iot-edge/version-history",
		Needs:     []facts.Fact{NeedContainers},
		Reads:     []facts.Setting{facts.SettingImage},
		Params: []policy.ParamSpec{
			{Name: "lifecycle", Kind: policy.DateTable, Default: defaultLifecycle, KeyPattern: releaseKey,
				KeyDoc: "must name a release as major.minor such as 1.6",
				Doc:    "each release's last day of servicing, as release=YYYY-MM-DD; entries given add to or replace the defaults"},
			{Name: "warningDays", Kind: policy.Int, Max: 3650, Default: 180,
				Doc: "days before the end of servicing from which a release fails as a warning"},
			{Name: "supportedReleases", Kind: policy.StringList, Default: []string{},
				Doc: "when set, the only releases (major.minor) allowed, each still judged by lifecycle; empty: lifecycle alone decides"},
			{Name: "newestPatches", Kind: policy.StringList, Default: []string{"1.6.8"},
				Doc: "the newest patch of each LTS release (1.6.8 released 2026-11-02): `fix` sets edgeAgent and edgeHub to the newest of them"},
		},
	},
	Eval: func(in *Input) []Result {
		if in.Snap.Time.IsZero() {
			return []Result{skip("", "the snapshot has no time to judge the end of servicing against")}
		}
		table := lifecycleOf(in.Params)
		supported := in.Params.Strings("supportedReleases")
		warn := time.Duration(in.Params.Int("warningDays")) * 24 * time.Hour
		newest, _ := table.newest()
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
			r, ok := parseRelease(rel)
			if !ok {
				out = append(out, skip(name, "cannot tell the release of %s from %s", name, from))
				continue
			}
			res := Result{Module: name}.with("release", rel).with("image", img).
				with("lifecycle", newest.name+"="+newest.end.Format(time.DateOnly))
			if len(supported) > 0 {
				res = res.with("supportedReleases", supported)
			}
			out = append(out, judgeRelease(res, name, rel, r, from, table, supported, in.Snap.Time, warn))
		}
		return out
	},
}

// judgeRelease decides one module's release against the lifecycle table and
// supportedReleases at time now.
func judgeRelease(res Result, name, relName string, rel release, from string, table lifecycle, supported []string,
	now time.Time, warn time.Duration) Result {
	runs := fmt.Sprintf("%s runs IoT Edge %s (%s)", name, relName, from)
	newest, haveNewest := table.newest()
	moveTo := "a newer release: the lifecycle table knows none yet, add it to lifecycle"
	if haveNewest && rel.less(newest.rel) {
		moveTo = fmt.Sprintf("%s, the newest release in the lifecycle table (serviced through %s)", newest.name, newest.end.Format(time.DateOnly))
	}
	if len(supported) > 0 && !contains(supported, relName) {
		res.Status, res.Message = Fail, fmt.Sprintf("%s, which supportedReleases does not list (supported: %s)", runs, strings.Join(supported, ", "))
		return res
	}
	e, known := table.find(rel)
	if !known {
		switch next, hasNext := table.nextAfter(rel); {
		case len(supported) > 0:
			res.Status, res.Message = Pass, fmt.Sprintf("%s, a release supportedReleases lists; its end of servicing is not in the lifecycle table", runs)
		case !hasNext:
			res.Status, res.Message = Pass, fmt.Sprintf("%s, newer than every release in the lifecycle table (newest: %s, serviced through %s); add its end of servicing to lifecycle",
				runs, newest.name, newest.end.Format(time.DateOnly))
		case !now.Before(next.end.Add(24 * time.Hour)):
			res.Status, res.Message = Fail, fmt.Sprintf("%s, which is not in the lifecycle table and is older than %s, whose servicing ended on %s: move to %s",
				runs, next.name, next.end.Format(time.DateOnly), moveTo)
		default:
			res.Status, res.Message = Skip, fmt.Sprintf("%s, which is not in the lifecycle table: add its end of servicing to lifecycle to decide", runs)
		}
		return res
	}
	end := e.end.Format(time.DateOnly)
	res = res.with("endOfServicing", end)
	left := e.end.Add(24 * time.Hour).Sub(now) // servicing covers the whole last day (UTC)
	switch {
	case left <= 0:
		res.Status, res.Message = Fail, fmt.Sprintf("%s, whose servicing ended on %s: move to %s", runs, end, moveTo)
	case left <= warn:
		res.Status, res.Severity = Fail, policy.Warning
		n := int(math.Ceil(left.Hours() / 24))
		days := fmt.Sprintf("%d days", n)
		if n == 1 {
			days = "1 day"
		}
		res.Message = fmt.Sprintf("%s, serviced only through %s (%s from now, within warningDays %d): plan the move to %s",
			runs, end, days, int(warn.Hours()/24), moveTo)
	default:
		res.Status, res.Message = Pass, fmt.Sprintf("%s, a supported release (serviced through %s)", runs, end)
	}
	return res
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
