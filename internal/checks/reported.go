package checks

import (
	"encoding/json"
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

// The checks of this file come from the failures IoT Edge operators report in
// the runtime's issue tracker (testdata/CHECKS-operations.md, section
// SecReported); "#N" in their metadata is an Azure/iotedge issue.

const issuesRef = "https://github.com/Azure/iotedge/issues/"

var moduleUnhealthy = &Check{
	Meta: Meta{
		ID: "module-unhealthy", Title: "No module's health check fails",
		Section: SecReported, Seed: "Azure/iotedge #6358, #5746, #3768, #1116, #5383", Severity: policy.Critical,
		Decides: "inspect State.Health of every module container: `unhealthy` fails, with the failing streak and the first line " +
			"of the last probe's output (scrubbed, at most 200 bytes); edgeAgent does not restart an unhealthy container, so it " +
			"keeps running broken. A failure is critical for edgeAgent and edgeHub and a warning for other modules (the policy's " +
			"severity caps both). `starting` and `healthy` pass, and so does a module without a health check.",
		Remediation: "Read the probe's output (State.Health in `docker inspect <module>`) and the module's logs; fix what it tests, or " +
			"restart the module (`iotedge restart <module>`): edgeAgent will not",
		Reference: issuesRef + "6358",
		Needs:     []facts.Fact{NeedContainers, NeedEngine},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Modules() {
			h := m.State.Health
			r := Result{Module: m.Name}
			switch {
			case h == nil:
				r.Status, r.Message = Pass, m.Name+" has no health check"
			case h.Status == "unhealthy":
				r = r.with("health", h.Status).with("failingStreak", h.FailingStreak).with("lastExitCode", h.LastExitCode)
				msg := fmt.Sprintf("%s is unhealthy: its health check failed %s in a row", m.Name, plural(h.FailingStreak, "time"))
				if h.LastOutput != "" {
					msg += fmt.Sprintf(" (last output: %q)", h.LastOutput)
					r = r.with("lastOutput", h.LastOutput)
				}
				if m.State.Running {
					msg += "; edgeAgent does not restart unhealthy modules, so it keeps running broken"
				}
				r.Status, r.Message = Fail, msg
				if !m.IsSystemModule() {
					r = r.lower(policy.Warning)
				}
			default:
				r = r.with("health", h.Status)
				r.Status, r.Message = Pass, fmt.Sprintf("%s's health check reports %s", m.Name, h.Status)
			}
			out = append(out, r)
		}
		if len(out) == 0 {
			return []Result{skip("", "no module containers")}
		}
		return out
	},
}

// edgeAgent's restart policy (Agent.Core/RestartPolicyManager.cs): it waits
// min(CoolOffTimeUnitInSeconds * 2^restarts, 300 s) before it restarts a
// module, and gives up after MaxRestartCount restarts.
const (
	defaultMaxRestartCount = 20
	defaultCoolOffSeconds  = 10
	maxCoolOff             = 300 * time.Second
	// reconcileSlack covers edgeAgent's reconciliation period and a pull
	// between the end of the back-off and the container's start.
	reconcileSlack = time.Minute
)

// longestBackoff is how long edgeAgent waits, at most, before it restarts a
// module, under its env (defaults where unset or unreadable).
func longestBackoff(agent *facts.Container) (time.Duration, int, []string) {
	maxRestarts, coolOff := defaultMaxRestartCount, defaultCoolOffSeconds
	var notes []string
	read := func(name string, dst *int, min int) {
		v, ok := agent.EnvValue(name)
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < min {
			notes = append(notes, fmt.Sprintf("edgeAgent's %s is not a whole number of at least %d: read as its default", name, min))
			return
		}
		*dst = n
	}
	if agent != nil {
		read("MaxRestartCount", &maxRestarts, 1)
		read("CoolOffTimeUnitInSeconds", &coolOff, 0)
	}
	exp := math.Min(float64(maxRestarts-1), 30)
	d := time.Duration(math.Min(float64(coolOff)*math.Pow(2, exp), maxCoolOff.Seconds())) * time.Second
	return d, maxRestarts, notes
}

var restartGivenUp = &Check{
	Meta: Meta{
		ID: "restart-given-up", Title: "edgeAgent has not given up restarting a module",
		Section: SecReported, Seed: "Azure/iotedge #4390, #1731, #3702, #7555", Severity: policy.Critical,
		Decides: "For each module that is not running while edgeAgent runs: inspect State (FinishedAt, StartedAt, ExitCode, " +
			"RestartCount) against the snapshot's time. edgeAgent (Agent.Core/RestartPolicyManager.cs) waits " +
			"min(CoolOffTimeUnitInSeconds × 2^restarts, 300 s) between restarts and stops after MaxRestartCount (its env, " +
			"defaults 10 and 20); a container that exited longer ago than that longest back-off plus a minute and has not " +
			"started since fails: nobody will bring it back. Modules whose container labels say desiredStatus stopped, or " +
			"restartPolicy never (or on-failure/on-unhealthy after a clean exit) pass.",
		Remediation: "Read why it exited (`iotedge logs <module>`), fix it and `iotedge restart <module>`; with no restart limit " +
			"reached, read edgeAgent's logs: reconciliation is stuck",
		Reference: issuesRef + "4390",
		Needs:     []facts.Fact{NeedContainers, NeedEngine},
	},
	Eval: func(in *Input) []Result {
		agent := in.Snap.Module(facts.EdgeAgent)
		if agent == nil || !agent.State.Running {
			return []Result{skip("", "edgeAgent is not running, so nothing restarts any module (modules-running reports it)")}
		}
		backoff, maxRestarts, notes := longestBackoff(agent)
		limit := backoff + reconcileSlack
		now := in.Snap.Time
		var out []Result
		for _, m := range in.Snap.Modules() {
			if m.Name == facts.EdgeAgent {
				continue
			}
			st := m.State
			r := Result{Module: m.Name}
			exited := st.FinishedAt
			if exited.IsZero() {
				exited = st.Created // created and never started
			}
			gone := now.Sub(exited)
			switch {
			case st.Running || st.Restarting:
				r.Status, r.Message = Pass, fmt.Sprintf("%s is %s", m.Name, orName(st.Status, "running"))
			case strings.EqualFold(m.Labels[desiredStatusLabel], "stopped"):
				r.Status, r.Message = Pass, fmt.Sprintf("%s is stopped as its deployment asks (desiredStatus stopped)", m.Name)
			case byPolicy(m):
				r.Status, r.Message = Pass, fmt.Sprintf("%s exited with code %d and its restartPolicy %s does not restart it",
					m.Name, st.ExitCode, m.Labels[restartPolicyLabel])
			case exited.IsZero():
				r.Status, r.Message = Skip, fmt.Sprintf("%s is %s and the engine gives no time it exited", m.Name, st.Status)
			case gone <= limit:
				r.Status, r.Message = Pass, fmt.Sprintf("%s exited %s ago: edgeAgent restarts it after its back-off (at most %s)",
					m.Name, gone.Round(time.Second), backoff)
			case st.StartedAt.After(exited.Add(time.Second)): // a process that exits at once can be recorded finished before started
				r.Status, r.Message = Pass, fmt.Sprintf("%s was started again after it exited", m.Name)
			default:
				why := "edgeAgent is not bringing it back (reconciliation stuck, or its restart limit reached)"
				if st.RestartCount >= maxRestarts {
					why = fmt.Sprintf("its restart count %d has reached edgeAgent's MaxRestartCount %d", st.RestartCount, maxRestarts)
				}
				r.Status, r.Message = Fail, fmt.Sprintf("%s exited (code %d) %s ago and was not started since, longer than edgeAgent's "+
					"longest back-off of %s: %s", m.Name, st.ExitCode, roundDuration(gone), backoff, why)
				r = r.with("exitedSeconds", int64(gone.Seconds())).with("exitCode", st.ExitCode).with("state", st.Status).
					with("restartCount", st.RestartCount).with("backoffSeconds", int64(backoff.Seconds())).with("maxRestartCount", maxRestarts)
			}
			out = append(out, r)
		}
		if len(notes) > 0 && len(out) > 0 {
			out[0] = out[0].with("notes", notes)
		}
		if len(out) == 0 {
			return []Result{pass("", "edgeAgent runs no other module")}
		}
		return out
	},
}

// Labels edgeAgent's Docker mode put on module containers (Agent.Docker
// Constants.Labels); absent on containers the runtime created through aziot-edged.
const (
	restartPolicyLabel = "net.azure-devices.edge.restartPolicy"
	desiredStatusLabel = "net.azure-devices.edge.desiredStatus"
)

// byPolicy tells whether the module's restart policy leaves it down on purpose.
func byPolicy(m *facts.Container) bool {
	switch strings.ToLower(m.Labels[restartPolicyLabel]) {
	case "never":
		return true
	case "on-failure", "on-unhealthy":
		return m.State.ExitCode == 0 && !m.State.OOMKilled
	}
	return false
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

// hostInformation is edgeAgent_metadata's host_information label (edgeAgent's
// MetadataMetrics.cs, from the daemon's /systeminfo).
type hostInformation struct {
	Version      string `json:"Version"`
	Provisioning *struct {
		Type                       string `json:"Type"`
		DynamicReprovisioning      bool   `json:"DynamicReprovisioning"`
		AlwaysReprovisionOnStartup bool   `json:"AlwaysReprovisionOnStartup"`
	} `json:"Provisioning"`
}

// metadata returns edgeAgent_metadata's labels: the agent's version and the
// parsed host information (nil when absent or unreadable, with why).
func metadata(s *facts.Snapshot) (agent string, host *hostInformation, why string) {
	smps := s.Metrics[facts.EdgeAgent].Find("edgeAgent_metadata", nil)
	if len(smps) == 0 {
		return "", nil, "edgeAgent reports no edgeAgent_metadata"
	}
	agent = smps[0].Labels["edge_agent_version"]
	raw := smps[0].Labels["host_information"]
	if raw == "" {
		return agent, nil, "edgeAgent_metadata has no host_information"
	}
	var h hostInformation
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		return agent, nil, "edgeAgent_metadata's host_information is not JSON"
	}
	return agent, &h, ""
}

// runtimeRelease is a version's major.minor.patch; patch is -1 when unknown.
type runtimeRelease struct {
	major, minor, patch int
	text                string
}

var skewReleaseRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:[.](\d+))?`)

// parseRuntimeRelease reads "1.5.40", "1.0.10~rc2", "1.4.27.123 (hash)" or an
// image tag "1.5"; ok is false for "latest" and other words.
func parseRuntimeRelease(s string) (runtimeRelease, bool) {
	m := skewReleaseRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return runtimeRelease{}, false
	}
	r := runtimeRelease{patch: -1, text: strings.TrimPrefix(m[0], "v")}
	r.major, _ = strconv.Atoi(m[1])
	r.minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		r.patch, _ = strconv.Atoi(m[3])
	}
	return r, true
}

func imageRelease(c *facts.Container) (runtimeRelease, bool) {
	if c == nil {
		return runtimeRelease{}, false
	}
	ref, err := parseImage(c.OriginalImage())
	if err != nil || ref.tag == "" {
		return runtimeRelease{}, false
	}
	return parseRuntimeRelease(ref.tag)
}

var runtimeVersionSkew = &Check{
	Meta: Meta{
		ID: "runtime-version-skew", Title: "The IoT Edge daemon, edgeAgent and edgeHub are of one release",
		Section: SecReported, Seed: "Azure/iotedge #7555", Severity: policy.Warning,
		Decides: "Compares three versions where known: the daemon's (edgeAgent_metadata host_information Version on a device, " +
			"check.json's aziot_edged_version in a support bundle), edgeAgent's (edgeAgent_metadata edge_agent_version, else its " +
			"image tag) and edgeHub's (its image tag). A different major.minor between any two fails; so does a patch gap above " +
			"maxPatchGap where both patches are known (a floating tag such as 1.5 has none). Fewer than two known versions skip.",
		Remediation: "Install one release everywhere: the aziot-edge package and the edgeAgent and edgeHub image tags (same " +
			"major.minor, recent patches)",
		Reference: issuesRef + "7555",
		Needs:     []facts.Fact{NeedContainers, NeedEngine},
		Params: []policy.ParamSpec{{Name: "maxPatchGap", Kind: policy.Int, Max: 1000, Default: 10,
			Doc: "largest difference of patch versions within one major.minor that passes"}},
	},
	Eval: func(in *Input) []Result {
		type known struct {
			what string
			rel  runtimeRelease
		}
		var vs []known
		var unknown []string
		agentVer, host, _ := metadata(in.Snap)
		daemon := ""
		if host != nil {
			daemon = host.Version
		}
		if daemon == "" && in.Snap.Engine != nil {
			daemon = in.Snap.Engine.IoTEdgeVersion
		}
		if r, ok := parseRuntimeRelease(daemon); ok {
			vs = append(vs, known{"the IoT Edge daemon", r})
		} else {
			unknown = append(unknown, "the daemon's (no edgeAgent_metadata, no check.json)")
		}
		agentRel, ok := parseRuntimeRelease(agentVer)
		if !ok {
			agentRel, ok = imageRelease(in.Snap.Module(facts.EdgeAgent))
		}
		if ok {
			vs = append(vs, known{"edgeAgent", agentRel})
		} else {
			unknown = append(unknown, "edgeAgent's (no metadata, no versioned image tag)")
		}
		if r, ok := imageRelease(in.Snap.Module(facts.EdgeHub)); ok {
			vs = append(vs, known{"edgeHub", r})
		} else {
			unknown = append(unknown, "edgeHub's (no versioned image tag)")
		}
		r := Result{}
		for _, v := range vs {
			r = r.with(strings.TrimPrefix(strings.ReplaceAll(v.what, " ", ""), "theIoTEdge"), v.rel.text)
		}
		if len(vs) < 2 {
			return []Result{skip("", "cannot compare versions: unknown are %s", strings.Join(unknown, ", "))}
		}
		maxGap := in.Params.Int("maxPatchGap")
		var problems []string
		for i := 0; i < len(vs); i++ {
			for j := i + 1; j < len(vs); j++ {
				a, b := vs[i], vs[j]
				switch {
				case a.rel.major != b.rel.major || a.rel.minor != b.rel.minor:
					problems = append(problems, fmt.Sprintf("%s is %s but %s is %s (different releases)", a.what, a.rel.text, b.what, b.rel.text))
				case a.rel.patch >= 0 && b.rel.patch >= 0 && abs(a.rel.patch-b.rel.patch) > maxGap:
					problems = append(problems, fmt.Sprintf("%s is %s but %s is %s (%d patches apart, more than %d)",
						a.what, a.rel.text, b.what, b.rel.text, abs(a.rel.patch-b.rel.patch), maxGap))
				}
			}
		}
		if len(problems) > 0 {
			r.Status, r.Message = Fail, strings.Join(problems, "; ")+": a daemon and runtime images of different releases can leave reconciliation stuck"
		} else {
			parts := make([]string, len(vs))
			for i, v := range vs {
				parts[i] = v.what + " " + v.rel.text
			}
			r.Status, r.Message = Pass, strings.Join(parts, ", ")+" are of one release"
		}
		if len(unknown) > 0 {
			r.Message += " (not compared: " + strings.Join(unknown, ", ") + ")"
		}
		return []Result{r}
	},
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

var storeAndForwardCapacity = &Check{
	Meta: Meta{
		ID: "store-and-forward-capacity", Title: "edgeHub's disk holds an outage as long as the message TTL",
		Section: SecReported, Seed: "Azure/iotedge #835, #3981, #1948", Severity: policy.Warning,
		Decides: "The rate of edgehub_messages_received_total between the last two cycles × the mean message size " +
			"(edgehub_message_size_bytes_sum / _count, edgeHub's summary of the size of the messages it receives, " +
			"Hub.Core/Routing/RoutingEdgeHub.cs) × the TTL (ttlSeconds: a device does not show edgeHub's " +
			"storeAndForwardConfiguration.timeToLiveSecs, which lives in its twin) must stay under maxFillRatio of the free " +
			"space on edgeHub's storage disk. edgeAgent reports disks by device name, not mount point " +
			"(edgeAgent_available_disk_space_bytes); with several, the one with the least free space stands for it. The " +
			"first cycle skips: a rate needs two.",
		Remediation: "Give edgeHub's storage a disk with room for rate × size × TTL, or lower timeToLiveSecs to the outage the " +
			"device must ride out",
		Reference: issuesRef + "835",
		Needs:     []facts.Fact{NeedEdgeHubStats, NeedEdgeAgentStats},
		History:   1,
		Params: []policy.ParamSpec{
			{Name: "ttlSeconds", Kind: policy.Int, Max: 31536000, Default: 7200, Doc: "the message time to live, in seconds, edgeHub keeps messages for"},
			{Name: "maxFillRatio", Kind: policy.Ratio, Default: 0.5, Doc: "share of the storage disk's free space an outage as long as the TTL may fill"},
		},
	},
	Eval: func(in *Input) []Result {
		cur := in.Snap.Metrics[facts.EdgeHub]
		prev := prevScrape(in, facts.EdgeHub)
		if in.Prev == nil || !prev.OK() {
			return []Result{skip("", "first cycle with edgeHub metrics: the message rate needs two cycles; the next cycle will tell")}
		}
		secs := in.Snap.Time.Sub(in.Prev.Time).Seconds()
		if secs <= 0 {
			return []Result{skip("", "the previous cycle is not earlier than this one: no rate")}
		}
		received, _, _ := counterDelta(prev, cur, "edgehub_messages_received_total", nil)
		rate := received / secs
		sum, _ := gaugeSum(cur, "edgehub_message_size_bytes_sum", nil)
		count, _ := gaugeSum(cur, "edgehub_message_size_bytes_count", nil)
		disk, free, ok := leastFreeDisk(in.Snap.Metrics[facts.EdgeAgent])
		if !ok {
			return []Result{skip("", "edgeAgent reports no disk free space yet (edgeAgent_available_disk_space_bytes, refreshed every 5 minutes)")}
		}
		ttl := in.Params.Int("ttlSeconds")
		r := Result{Subject: disk}.with("messagesPerSecond", roundTo(rate, 3)).with("ttlSeconds", ttl).
			with("disk", disk).with("freeBytes", int64(free))
		if rate == 0 {
			r.Status, r.Message = Pass, fmt.Sprintf("edgeHub received no messages in the last %s: nothing to store", time.Duration(secs)*time.Second)
			return []Result{r}
		}
		if count <= 0 {
			return []Result{skip("", "edgeHub reports no message sizes (edgehub_message_size_bytes) to size the store with")}
		}
		size := sum / count
		need := rate * size * float64(ttl)
		hours := free / (rate * size) / 3600
		maxFill := in.Params.Float("maxFillRatio")
		r = r.with("meanMessageBytes", roundTo(size, 1)).with("neededBytes", int64(need)).with("outageHoursHeld", roundTo(hours, 2))
		msg := fmt.Sprintf("edgeHub receives %.2f messages/s of %s on average: an outage of %s (the TTL) stores %s, "+
			"%.0f%% of the %s free on disk %s, which holds %.1f hours of outage", rate, facts.BytesIEC(int64(size)),
			time.Duration(ttl)*time.Second, facts.BytesIEC(int64(need)), 100*need/free, facts.BytesIEC(int64(free)), disk, hours)
		if free <= 0 || need > maxFill*free {
			r.Status, r.Message = Fail, msg+fmt.Sprintf(", more than %.0f%%", 100*maxFill)
		} else {
			r.Status, r.Message = Pass, msg
		}
		return []Result{r}
	},
}

// leastFreeDisk is the disk edgeAgent reports with the least free space.
func leastFreeDisk(s *facts.Scrape) (string, float64, bool) {
	name, free, ok := "", math.Inf(1), false
	for _, smp := range s.Find("edgeAgent_available_disk_space_bytes", nil) {
		if math.IsNaN(smp.Value) || smp.Value < 0 {
			continue
		}
		if smp.Value < free || (smp.Value == free && smp.Labels["disk_name"] < name) {
			name, free, ok = smp.Labels["disk_name"], smp.Value, true
		}
	}
	return name, free, ok
}

var moduleMemoryHeadroom = &Check{
	Meta: Meta{
		ID: "module-memory-headroom", Title: "Modules stay clear of their memory limits",
		Section: SecReported, Seed: "Azure/iotedge #6965, #6630, #5999", Severity: policy.Warning,
		Decides: "For each module with a memory limit (HostConfig.Memory): edgeAgent_used_memory_bytes{module_name} at or above " +
			"maxUsedRatio of the limit fails; so does use that grew in each of the last growthCycles cycles and, at the pace " +
			"of that growth, reaches the limit within horizonHours. Modules without a limit are module-resource-limits' business.",
		Remediation: "Raise the module's memory limit (HostConfig.Memory), or find what it accumulates (edgeHub: a message backlog)",
		Reference:   issuesRef + "6630",
		Needs:       []facts.Fact{NeedContainers, NeedEdgeAgentStats},
		History:     MaxGrowthCycles,
		Params: []policy.ParamSpec{
			{Name: "maxUsedRatio", Kind: policy.Ratio, Default: 0.9, Doc: "share of its memory limit a module may use"},
			{Name: "growthCycles", Kind: policy.Int, Max: MaxGrowthCycles, Default: 3, Doc: "cycles of uninterrupted growth that count as a trend (0: off)"},
			{Name: "horizonHours", Kind: policy.Number, Max: 8760, Default: 24.0, Doc: "hours ahead within which a trend that reaches the limit fails"},
		},
	},
	Eval: func(in *Input) []Result {
		maxRatio, cycles, horizon := in.Params.Float("maxUsedRatio"), in.Params.Int("growthCycles"), in.Params.Float("horizonHours")
		cur := usedMemory(in.Snap.Metrics[facts.EdgeAgent])
		var hist []memoryPoint // oldest first, read only when a module has a limit
		var out []Result
		limited := 0
		for _, m := range in.Snap.Modules() {
			if m.Memory <= 0 {
				continue
			}
			if limited == 0 && cycles > 0 {
				for _, h := range in.History {
					hist = append(hist, memoryPoint{h.Time, usedMemory(h.Metrics[facts.EdgeAgent])})
				}
			}
			limited++
			used, ok := cur[m.Name]
			if !ok {
				out = append(out, skip(m.Name, "edgeAgent reports no memory use for %s (edgeAgent_used_memory_bytes)", m.Name))
				continue
			}
			limit := float64(m.Memory)
			ratio := used / limit
			r := Result{Module: m.Name}.with("usedBytes", int64(used)).with("limitBytes", m.Memory).with("usedRatio", roundTo(ratio, 4))
			msg := fmt.Sprintf("%s uses %s of its %s memory limit (%.0f%%)", m.Name, facts.BytesIEC(int64(used)), facts.BytesIEC(m.Memory), 100*ratio)
			hours, grown := memoryTrend(hist, in.Snap.Time, m.Name, used, limit, cycles)
			switch {
			case ratio >= maxRatio:
				r.Status, r.Message = Fail, fmt.Sprintf("%s, at or above %.0f%%: the engine kills it when it reaches the limit", msg, 100*maxRatio)
			case cycles > 0 && grown >= cycles && hours <= horizon:
				r.Status, r.Message = Fail, fmt.Sprintf("%s and has grown for %d cycles in a row: at that pace it reaches the limit in %.1f hours",
					msg, grown, hours)
				r = r.with("hoursToLimit", roundTo(hours, 1))
			default:
				r.Status, r.Message = Pass, msg
			}
			if grown > 0 {
				r = r.with("growthCycles", grown)
			}
			out = append(out, r)
		}
		if limited == 0 {
			return []Result{skip("", "no module has a memory limit (module-resource-limits reports that)")}
		}
		return out
	},
}

// memoryPoint is one cycle's memory use by module.
type memoryPoint struct {
	t    time.Time
	used map[string]float64
}

// usedMemory is edgeAgent_used_memory_bytes by module_name (NaN left out).
func usedMemory(s *facts.Scrape) map[string]float64 {
	out := map[string]float64{}
	if s == nil {
		return out
	}
	for i := range s.Samples {
		smp := &s.Samples[i]
		if smp.Name == "edgeAgent_used_memory_bytes" && !math.IsNaN(smp.Value) {
			out[smp.Labels["module_name"]] += smp.Value
		}
	}
	return out
}

// memoryTrend counts the consecutive latest cycles in which module's memory
// use grew, and the hours to the limit at the pace of that streak (+Inf when
// it did not grow enough to tell).
func memoryTrend(hist []memoryPoint, now time.Time, module string, used, limit float64, cycles int) (float64, int) {
	grown := 0
	t, v := now, used
	for i := len(hist) - 1; i >= 0; i-- {
		pv, ok := hist[i].used[module]
		if !ok || pv >= v || !hist[i].t.Before(t) {
			break
		}
		grown++
		t, v = hist[i].t, pv
	}
	if grown == 0 || grown < cycles {
		return math.Inf(1), grown
	}
	perHour := (used - v) / now.Sub(t).Hours()
	if perHour <= 0 {
		return math.Inf(1), grown
	}
	return (limit - used) / perHour, grown
}

var offlineBoot = &Check{
	Meta: Meta{
		ID: "offline-boot", Title: "The device can boot without a network",
		Section: SecReported, Seed: "Azure/iotedge #6449, #3283, #5108", Severity: policy.Warning,
		Decides: "How the device was provisioned, as edgeAgent reports it: edgeAgent_metadata's host_information Provisioning " +
			"(Type, DynamicReprovisioning, AlwaysReprovisionOnStartup), which edgeAgent (Agent.Core/metrics/MetadataMetrics.cs) " +
			"copies from the daemon's /systeminfo. A DPS type (dps.*) with AlwaysReprovisionOnStartup on a device the policy " +
			"declares intermittentConnectivity fails. Only iotedged (1.0.x, 1.1) fills it in: aziot-edged (1.2 and later) " +
			"reports the placeholder Type \"ProvisioningType\" with both flags false (edgelet-core/src/module.rs " +
			"SystemInfo::default), so those devices skip, saying so.",
		Remediation: "Set always_reprovision_on_startup = false under [provisioning] in /etc/aziot/config.toml, then " +
			"`iotedge config apply`",
		Reference: issuesRef + "3283",
		Needs:     []facts.Fact{NeedEdgeAgentStats},
		Params: []policy.ParamSpec{{Name: "intermittentConnectivity", Kind: policy.Bool, Default: false,
			Doc: "the device is expected to start without a network"}},
	},
	Eval: func(in *Input) []Result {
		_, host, why := metadata(in.Snap)
		if host == nil {
			return []Result{skip("", "the runtime does not report how the device was provisioned: %s", why)}
		}
		p := host.Provisioning
		if p == nil || p.Type == "" {
			return []Result{skip("", "the runtime does not report how the device was provisioned: host_information has no Provisioning")}
		}
		if p.Type == "ProvisioningType" {
			return []Result{skip("", "the runtime does not report how the device was provisioned: the IoT Edge daemon %s fills in "+
				"the placeholder \"ProvisioningType\" (aziot-edged, 1.2 and later, does not report it)", orName(host.Version, "(version unknown)"))}
		}
		intermittent := in.Params.Bool("intermittentConnectivity")
		r := Result{}.with("provisioningType", p.Type).with("alwaysReprovisionOnStartup", p.AlwaysReprovisionOnStartup).
			with("dynamicReprovisioning", p.DynamicReprovisioning).with("intermittentConnectivity", intermittent)
		dps := strings.HasPrefix(strings.ToLower(p.Type), "dps")
		switch {
		case dps && p.AlwaysReprovisionOnStartup && intermittent:
			r.Status, r.Message = Fail, fmt.Sprintf("the device is provisioned through DPS (%s) and re-provisions on every start, "+
				"while the policy declares it intermittently connected: booted without a network, the daemon does not start", p.Type)
		case dps && p.AlwaysReprovisionOnStartup:
			r.Status, r.Message = Pass, fmt.Sprintf("the device re-provisions through DPS (%s) on every start; the policy does not "+
				"declare it intermittently connected (intermittentConnectivity false)", p.Type)
		default:
			r.Status, r.Message = Pass, fmt.Sprintf("the device is provisioned by %s and starts without re-provisioning", p.Type)
		}
		return []Result{r}
	},
}

// metrics-collector's settings (Azure/iotedge, edge-modules/metrics-collector):
// 1.x uploads through the HTTP Data Collector API with a workspace id and
// shared key; 2.x through the Logs Ingestion API with a data collection
// endpoint, rule and stream.
var (
	legacyCollectorEnv    = []string{"LogAnalyticsSharedKey", "LogAnalyticsWorkspaceId"}
	ingestionCollectorEnv = []string{"DataCollectionEndpoint", "DataCollectionRuleId", "DataCollectionStreamName"}
)

const collectorImage = "azureiotedge-metrics-collector"

var metricsCollectorIngestion = &Check{
	Meta: Meta{
		ID: "metrics-collector-ingestion", Title: "metrics-collector uploads through the Logs Ingestion API",
		Section: SecReported, Seed: "Azure/iotedge PR #7550, #7476", Severity: policy.Critical,
		Decides: "For each module whose image is " + collectorImage + ": its image tag's major version and its env variable " +
			"NAMES (never their values), plus UploadTarget compared with AzureMonitor/IoTMessage. A 1.x image, or " +
			"LogAnalyticsSharedKey/LogAnalyticsWorkspaceId with UploadTarget AzureMonitor (the default) on an image of unknown " +
			"version, uploads through the HTTP Data Collector API, retired on 14 September 2026: fails. A 2.x image missing " +
			"one of DataCollectionEndpoint, DataCollectionRuleId, DataCollectionStreamName fails too. UploadTarget IoTMessage " +
			"passes. No metrics-collector: skip (observability-module covers that).",
		Remediation: "Move to metrics-collector 2.x with DataCollectionEndpoint, DataCollectionRuleId and DataCollectionStreamName " +
			"(a data collection rule writing a _CL table), or set UploadTarget IoTMessage",
		Reference: "https://github.com/Azure/iotedge/pull/7550",
		Needs:     []facts.Fact{NeedContainers},
		Reads:     []facts.Setting{facts.SettingImage, facts.SettingEnv},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Modules() {
			if !strings.Contains(m.OriginalImage(), collectorImage) {
				continue
			}
			ref, err := parseImage(m.OriginalImage())
			if err != nil || !strings.HasSuffix(ref.path, collectorImage) {
				continue
			}
			out = append(out, collectorResult(m, ref.tag))
		}
		if len(out) == 0 {
			return []Result{skip("", "no metrics-collector module runs (observability-module covers that)")}
		}
		return out
	},
}

func collectorResult(m *facts.Container, tag string) Result {
	has := func(names []string) (present, missing []string) {
		for _, n := range names {
			if _, ok := m.EnvValue(n); ok {
				present = append(present, n)
			} else {
				missing = append(missing, n)
			}
		}
		return present, missing
	}
	legacy, _ := has(legacyCollectorEnv)
	dcr, missing := has(ingestionCollectorEnv)
	target := "AzureMonitor"
	if v, ok := m.EnvValue("UploadTarget"); ok && strings.EqualFold(strings.TrimSpace(v), "IoTMessage") {
		target = "IoTMessage"
	}
	rel, versioned := parseRuntimeRelease(tag)
	r := Result{Module: m.Name}.with("uploadTarget", target).with("imageTag", orName(tag, "(none)"))
	if len(legacy) > 0 {
		r = r.with("legacyVariables", legacy)
	}
	if len(dcr) > 0 {
		r = r.with("ingestionVariables", dcr)
	}
	const retired = "the HTTP Data Collector API, retired on 14 September 2026: no metric reaches Log Analytics"
	switch {
	case target == "IoTMessage":
		r.Status, r.Message = Pass, m.Name+" sends its metrics as IoT messages (UploadTarget IoTMessage)"
	case versioned && rel.major < 2:
		r.Status, r.Message = Fail, fmt.Sprintf("%s runs metrics-collector %s, which uploads through %s", m.Name, rel.text, retired)
	case versioned && len(missing) > 0:
		r.Status, r.Message = Fail, fmt.Sprintf("%s runs metrics-collector %s without %s: it has no data collection rule to upload to",
			m.Name, rel.text, strings.Join(missing, ", "))
	case !versioned && len(missing) > 0 && len(legacy) > 0:
		r.Status, r.Message = Fail, fmt.Sprintf("%s (image tag %s) is configured with %s for %s", m.Name, orName(tag, "none"),
			strings.Join(legacy, " and "), retired)
	case !versioned && len(missing) > 0:
		r.Status, r.Message = Fail, fmt.Sprintf("%s (image tag %s) has no %s: it has no data collection rule to upload to",
			m.Name, orName(tag, "none"), strings.Join(missing, ", "))
	default:
		r.Status, r.Message = Pass, fmt.Sprintf("%s uploads through the Logs Ingestion API (DataCollectionEndpoint, DataCollectionRuleId, "+
			"DataCollectionStreamName set)", m.Name)
		if len(legacy) > 0 {
			verb := " is"
			if len(legacy) > 1 {
				verb = " are"
			}
			r.Message += "; " + strings.Join(legacy, " and ") + verb + " left over and unused"
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 && r.Status == Fail {
		r = r.with("missingVariables", missing)
	}
	return r
}

var nestedParentTLS = &Check{
	Meta: Meta{
		ID: "nested-parent-tls", Title: "A child device reaches its parent over verified TLS",
		Section: SecReported, Seed: "Azure/iotedge #5212, #5231, #6405, #6827, #7198", Severity: policy.Critical,
		Decides: "IOTEDGE_PARENTHOSTNAME (this module's env, else edgeHub's or edgeAgent's) names the parent. From the module's " +
			"network: a TLS handshake with the parent on 8883 and on 443, the chain verified against the workload API's trust " +
			"bundle and the parent's name against the certificate's DNS and IP names (an IP address or a short name where the " +
			"certificate holds the FQDN fails), then GET /v2/ on 443 (the API proxy's registry route: any answer under 500 " +
			"passes, 401 included). A device with no parent passes.",
		Remediation: "Set the child's parent_hostname to a name in the parent's certificate (usually its FQDN), put the parent's " +
			"root CA in the child's trust bundle, open 8883 and 443, and run the API proxy on the parent",
		Reference: "https://learn.microsoft.com/azure/iot-edge/how-to-connect-downstream-iot-edge-device",
		Needs:     []facts.Fact{NeedProbes},
	},
	Eval: func(in *Input) []Result {
		p := in.Snap.Parent
		if p == nil {
			return []Result{skip("", "the snapshot holds no probe of a parent device (taken by a version without it)")}
		}
		if p.Host == "" {
			return []Result{pass("", "the device has no parent (no IOTEDGE_PARENTHOSTNAME): not a child device")}
		}
		var out []Result
		for _, ep := range p.Endpoints {
			r := Result{Subject: p.Host + ":" + ep.Port}.with("parent", p.Host).with("port", ep.Port).with("roots", p.Roots)
			if len(ep.CertNames) > 0 {
				r = r.with("certificateNames", ep.CertNames)
			}
			switch {
			case ep.Error != "":
				r.Status, r.Message = Fail, fmt.Sprintf("the parent %s (%s) does not answer TLS on port %s: %s", p.Host, p.From, ep.Port, ep.Error)
			case ep.NameError != "":
				r.Status, r.Message = Fail, fmt.Sprintf("the parent's certificate on port %s does not hold the name %s (it holds %s): "+
					"set the child's parent hostname to one of those names", ep.Port, p.Host, strings.Join(ep.CertNames, ", "))
				if ep.VerifyError != "" {
					r.Message += "; nor does it verify against the " + p.Roots + ": " + ep.VerifyError
				}
			case ep.VerifyError != "":
				r.Status, r.Message = Fail, fmt.Sprintf("the parent's certificate on port %s does not verify against the %s: %s",
					ep.Port, p.Roots, ep.VerifyError)
			default:
				r.Status, r.Message = Pass, fmt.Sprintf("the parent %s answers TLS on port %s with a certificate for its name, verified against the %s",
					p.Host, ep.Port, p.Roots)
			}
			out = append(out, r)
		}
		r := Result{Subject: p.Host + " registry"}.with("parent", p.Host)
		switch reg := p.Registry; {
		case reg == nil:
			r.Status, r.Message = Skip, "the registry API proxy was not asked: "+orName(p.RegistrySkipped, "no answer recorded")
		case reg.Error != "":
			r.Status, r.Message = Fail, fmt.Sprintf("the parent's registry API proxy (GET /v2/) does not answer: %s", reg.Error)
		case reg.Status >= 500:
			r.Status, r.Message = Fail, fmt.Sprintf("the parent's registry API proxy answers GET /v2/ with %d: it cannot reach the registry behind it", reg.Status)
			r = r.with("status", reg.Status)
		default:
			r.Status, r.Message = Pass, fmt.Sprintf("the parent's registry API proxy answers GET /v2/ (%d)", reg.Status)
			r = r.with("status", reg.Status)
		}
		return append(out, r)
	},
}
