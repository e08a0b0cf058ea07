// Package bundle reads the support bundle that `iotedge support-bundle` writes
// (a zip: check.json, inspect/, network/, logs/) into the same facts.Snapshot
// the device gives, beside internal/manifest which does the same for a
// deployment manifest. bundlezip.go opens the archive defensively (bounded
// entries, unsafe names refused, a cut-short archive salvaged); bundle.go
// turns its entries into facts, in steps.
package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// SourceSupportBundle names a support bundle in facts.Snapshot.Sources.
const SourceSupportBundle = "support-bundle"

// NotInBundle starts the reason of every fact a support bundle cannot hold:
// the checks that need one are skipped with it.
const NotInBundle = "not in a support bundle: "

// SupportBundle is a whole gatherer: the facts of an archive written by
// `iotedge support-bundle` (IoT Edge 1.2 to 1.6) on a device. The modules'
// containers come from inspect/<module>.json, the engine's networks from
// network/<name>.json, the engine's version and the host's OS, architecture
// and memory from check.json (the output of `iotedge check -o json`). The
// logs are never read. What a bundle cannot tell (metrics, certificates,
// probes, the engine's images, volumes and settings) is recorded as not
// applicable, with the reason, so the checks that need it are skipped.
type SupportBundle struct {
	Path string
	snap *facts.Snapshot
}

// OpenSupportBundle reads the bundle at path. An archive that is not a zip,
// has unsafe entry names, too many entries, an entry too large to read or
// one that expands beyond what it declares is refused with an error naming
// the problem; nothing is extracted, and nothing but the archive is read.
func OpenSupportBundle(path string) (*SupportBundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading support bundle: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading support bundle %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("support bundle %s: not a regular file", path)
	}
	start := time.Now()
	s, err := ReadSupportBundle(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("support bundle %s: %w", path, err)
	}
	s.Sources[0].DurationMs = time.Since(start).Milliseconds()
	return &SupportBundle{Path: path, snap: s}, nil
}

// Gather returns a copy of the bundle's snapshot.
func (b *SupportBundle) Gather(context.Context) *facts.Snapshot {
	cp := *b.snap
	return &cp
}

// bundleEntries are the entries of a bundle the facts come from.
type bundleEntries struct {
	checkJSON []byte
	hasCheck  bool
	inspects  []namedEntry // inspect/*.json, in archive order
	inspErrs  []namedEntry // inspect/<m>_err_docker.txt
	networks  []namedEntry // network/*.json
	netErrs   []namedEntry // network/<n>_err_docker.txt
	logNames  []string     // modules named by logs/<m>_log.txt
	// later tells that entries written after the modules' (networks or
	// service logs) are there: the module list is whole.
	later bool
}

type namedEntry struct {
	entry string // its name in the archive
	stem  string // the name without directory and extension
	data  []byte
}

// ReadSupportBundle reads the facts of the support bundle in ra (size bytes).
func ReadSupportBundle(ra io.ReaderAt, size int64) (*facts.Snapshot, error) {
	a, err := openBundleArchive(ra, size)
	if err != nil {
		return nil, err
	}
	var be bundleEntries
	for i := range a.entries {
		e := &a.entries[i]
		dir, file, _ := strings.Cut(e.name, "/")
		read := func() ([]byte, error) { return a.readEntry(e) }
		switch {
		case e.name == "check.json":
			if be.checkJSON, err = read(); err != nil {
				return nil, err
			}
			be.hasCheck = true
		case dir == "inspect" && strings.HasSuffix(file, ".json") && !strings.Contains(file, "/"):
			data, err := read()
			if err != nil {
				return nil, err
			}
			be.inspects = append(be.inspects, namedEntry{e.name, strings.TrimSuffix(file, ".json"), data})
		case dir == "inspect" && strings.HasSuffix(file, "_err_docker.txt") && !strings.Contains(file, "/"):
			data, err := read()
			if err != nil {
				return nil, err
			}
			be.inspErrs = append(be.inspErrs, namedEntry{e.name, strings.TrimSuffix(file, "_err_docker.txt"), data})
		case dir == "network" && strings.HasSuffix(file, ".json") && !strings.Contains(file, "/"):
			data, err := read()
			if err != nil {
				return nil, err
			}
			be.networks = append(be.networks, namedEntry{e.name, strings.TrimSuffix(file, ".json"), data})
			be.later = true
		case dir == "network" && strings.HasSuffix(file, "_err_docker.txt") && !strings.Contains(file, "/"):
			data, err := read()
			if err != nil {
				return nil, err
			}
			be.netErrs = append(be.netErrs, namedEntry{e.name, strings.TrimSuffix(file, "_err_docker.txt"), data})
			be.later = true
		case dir == "logs" && strings.HasSuffix(file, "_log.txt"):
			be.logNames = append(be.logNames, strings.TrimSuffix(file, "_log.txt"))
		case dir == "network", dir == "logs":
			be.later = true // a network or service-log entry: written after the modules'
		}
	}
	if dir, file, _ := strings.Cut(a.cut, "/"); dir == "logs" && strings.HasSuffix(file, "_log.txt") {
		be.logNames = append(be.logNames, strings.TrimSuffix(file, "_log.txt")) // the module whose logs failed
	}
	if !be.hasCheck && len(be.inspects)+len(be.inspErrs)+len(be.networks)+len(be.netErrs) == 0 {
		if a.truncated != "" {
			return nil, fmt.Errorf("the archive is cut short and no part of a support bundle survives (%s)", a.truncated)
		}
		return nil, errors.New("not an iotedge support bundle: it holds no check.json, inspect/ or network/ entry")
	}
	return bundleSnapshot(&be, a.truncated, len(a.entries)), nil
}

// iotedgeCheck is what the facts use of `iotedge check -o json` (check.json).
type iotedgeCheck struct {
	AdditionalInfo struct {
		DockerVersion     *string `json:"docker_version"`
		AziotEdgedVersion *string `json:"aziot_edged_version"`
		IotedgedVersion   *string `json:"iotedged_version"` // 1.1 and earlier
		Now               string  `json:"now"`
		OS                struct {
			ID        string `json:"id"`
			VersionID string `json:"version_id"`
			Arch      string `json:"arch"`
		} `json:"os"`
		SystemInfo struct {
			TotalRAM string `json:"total_ram"`
		} `json:"system_info"`
	} `json:"additional_info"`
	Checks map[string]struct {
		Result struct {
			Result  string   `json:"result"`
			Details []string `json:"details"`
		} `json:"result"`
	} `json:"checks"`
}

// parseCheckJSON reads the first JSON value of check.json: iotedge appends
// its stderr to its stdout, and a check that died early leaves only text.
func parseCheckJSON(data []byte) (*iotedgeCheck, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var c iotedgeCheck
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&c); err != nil {
		text := strings.TrimSpace(string(data))
		if text == "" {
			return nil, errors.New("check.json is empty")
		}
		if line, _, _ := strings.Cut(text, "\n"); !strings.HasPrefix(line, "{") {
			return nil, fmt.Errorf("check.json holds no JSON, only the text iotedge check printed: %q", shorten(line, 200))
		}
		return nil, fmt.Errorf("check.json is not the output of iotedge check -o json: %w", err)
	}
	return &c, nil
}

// result is iotedge's verdict on one of its checks, with its first detail.
func (c *iotedgeCheck) result(id string) (string, bool) {
	r, ok := c.Checks[id]
	if !ok {
		return "", false
	}
	s := r.Result.Result
	if len(r.Result.Details) > 0 {
		s += ": " + shorten(firstLine(r.Result.Details[0]), 200)
	}
	return s, true
}

// says sums up iotedge's verdicts on ids, for a reason: " (iotedge check
// in the bundle: host-local-time ok, ...)", or "".
func (c *iotedgeCheck) says(ids ...string) string {
	if c == nil {
		return ""
	}
	var out []string
	for _, id := range ids {
		if r, ok := c.Checks[id]; ok {
			out = append(out, id+" "+r.Result.Result)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " (iotedge check in the bundle: " + strings.Join(out, ", ") + ")"
}

// bundleSnapshot turns the entries into a snapshot, in steps: the engine
// and host from check.json, the modules from inspect/, the networks from
// network/, what a bundle never holds, and the time it was made.
func bundleSnapshot(be *bundleEntries, truncated string, entries int) *facts.Snapshot {
	b := &snapshotBuilder{s: &facts.Snapshot{SchemaVersion: facts.SnapshotSchemaVersion}, byName: map[string]int{},
		sr: facts.SourceRun{Name: SourceSupportBundle, Status: facts.StatusOK, Facts: map[facts.Fact]facts.FactState{}}}
	if truncated != "" {
		b.partial("the archive has no central directory: it was cut short while being written, as iotedge support-bundle "+
			"leaves it when reading a module's logs fails; %d whole entries were read (%s)", entries, truncated)
	}
	ic := b.engine(be)
	b.modules(be)
	b.moduleList(be, truncated)
	b.networks(be)
	b.notInBundle(ic)
	b.when()
	s := b.s
	s.Env = bundleEnv(s)
	if b.sr.Facts[facts.FactEngine].Status == facts.StatusError && b.sr.Facts[facts.FactContainers].Status == facts.StatusError {
		b.sr.Status, b.sr.Reason = facts.StatusError, "the support bundle holds neither the engine's version nor its modules"
	}
	s.Sources = []facts.SourceRun{b.sr}
	s.PartialErrors = b.sr.Partial
	return s
}

// snapshotBuilder is the snapshot of a bundle being built, with the record
// of its source.
type snapshotBuilder struct {
	s      *facts.Snapshot
	sr     facts.SourceRun
	byName map[string]int // index of each module in s.Containers
}

func (b *snapshotBuilder) partial(format string, args ...any) {
	b.sr.Partial = append(b.sr.Partial, fmt.Sprintf(format, args...))
}

// engine reads check.json: the engine's version, the host, the time. It
// returns the parsed check (nil without one) for the reasons of later facts.
func (b *snapshotBuilder) engine(be *bundleEntries) *iotedgeCheck {
	var ic *iotedgeCheck
	engineErr := ""
	if !be.hasCheck {
		engineErr = "the support bundle holds no check.json"
	} else if c, err := parseCheckJSON(be.checkJSON); err != nil {
		engineErr = err.Error()
	} else {
		ic = c
	}
	eng := &facts.Engine{ImagesReclaimable: -1}
	if ic != nil {
		ai := &ic.AdditionalInfo
		if ai.DockerVersion != nil {
			eng.ServerVersion = *ai.DockerVersion
		}
		if eng.ServerVersion == "" {
			engineErr = "iotedge check could not read the engine's version when the bundle was made"
			if r, ok := ic.result("container-engine-uri"); ok {
				engineErr += " (container-engine-uri " + r + ")"
			}
		}
		for _, v := range []*string{ai.AziotEdgedVersion, ai.IotedgedVersion} {
			if v != nil && eng.IoTEdgeVersion == "" {
				eng.IoTEdgeVersion = *v
			}
		}
		eng.Arch = ai.OS.Arch
		eng.OperatingSystem = operatingSystem(ai.OS.ID, ai.OS.VersionID)
		eng.MemTotal = parseByteUnit(ai.SystemInfo.TotalRAM)
		if t, err := time.Parse(time.RFC3339Nano, ai.Now); err == nil {
			b.s.Time = t.UTC()
		}
	}
	if engineErr != "" {
		b.sr.Facts[facts.FactEngine] = facts.FactState{Status: facts.StatusError, Reason: engineErr}
		b.partial("%s", engineErr)
	} else {
		b.sr.Facts[facts.FactEngine] = facts.FactState{Status: facts.StatusOK}
	}
	b.s.Engine = eng
	return ic
}

// add adds a module's container; an inspected one replaces one that is not.
func (b *snapshotBuilder) add(c facts.Container) {
	s := b.s
	if i, ok := b.byName[c.Name]; ok {
		if !s.Containers[i].Inspected() && c.Inspected() {
			s.Containers[i] = c
		}
		return
	}
	b.byName[c.Name] = len(s.Containers)
	s.Containers = append(s.Containers, c)
}

// modules reads inspect/: the modules' containers, sorted by name.
func (b *snapshotBuilder) modules(be *bundleEntries) {
	for _, ne := range be.inspects {
		var list []container.InspectResponse
		err := json.Unmarshal(ne.data, &list)
		switch {
		case err == nil && len(list) > 0:
			for i := range list {
				if list[i].ContainerJSONBase == nil {
					continue
				}
				c := facts.ContainerFromInspect(&list[i])
				if c.Name == "" {
					c.Name = ne.stem
				}
				if !c.IsModule() {
					b.partial("%s: container %s carries no %s label: docker inspect may have read another engine than IoT Edge's "+
						"(the bundle runs docker on its default host)", ne.entry, c.Name, facts.OwnerLabel)
				}
				if b.s.Engine.OS == "" {
					b.s.Engine.OS = list[i].Platform
				}
				b.add(c)
			}
		case strings.HasSuffix(ne.stem, "_err"):
			m, text := strings.TrimSuffix(ne.stem, "_err"), shorten(firstLine(string(ne.data)), 300)
			if strings.Contains(text, "No such object") || strings.Contains(text, "No such container") {
				// Removed between the module list and its inspect, as the
				// engine source drops such a container.
				b.partial("%s: module %s was removed while the bundle was made: %s", ne.entry, m, text)
				continue
			}
			why := fmt.Sprintf("docker inspect %s failed when the bundle was made: %s", m, text)
			b.partial("%s", why)
			b.add(bundleUninspected(m, why))
		default:
			why := fmt.Sprintf("%s is not docker inspect output: %v", ne.entry, jsonProblem(err, len(list)))
			b.partial("%s", why)
			b.add(bundleUninspected(ne.stem, why))
		}
	}
	for _, ne := range be.inspErrs {
		why := fmt.Sprintf("docker could not be run to inspect %s when the bundle was made: %s", ne.stem, shorten(firstLine(string(ne.data)), 300))
		b.partial("%s", why)
		b.add(bundleUninspected(ne.stem, why))
	}
	sort.SliceStable(b.s.Containers, func(i, j int) bool { return b.s.Containers[i].Name < b.s.Containers[j].Name })
}

// moduleList records whether the list of modules is whole: not when the
// archive is cut short among the modules' entries, nor when it names none.
func (b *snapshotBuilder) moduleList(be *bundleEntries, truncated string) {
	switch {
	case truncated != "" && !be.later:
		var lost []string
		for _, m := range be.logNames {
			if _, ok := b.byName[m]; !ok {
				lost = append(lost, m)
			}
		}
		why := "the support bundle is cut short among its modules' entries, so its list of modules is incomplete"
		if len(lost) > 0 {
			why += " (" + strings.Join(lost, ", ") + " and the modules after it are lost)"
		}
		b.sr.Facts[facts.FactContainers] = facts.FactState{Status: facts.StatusError, Reason: why}
	case len(b.s.Containers) == 0:
		b.sr.Facts[facts.FactContainers] = facts.FactState{Status: facts.StatusError, Reason: "the support bundle holds no module (no inspect/ entry): " +
			"the IoT Edge management socket did not answer when it was made"}
	default:
		b.sr.Facts[facts.FactContainers] = facts.FactState{Status: facts.StatusOK}
	}
}

// networks reads network/: the engine's networks.
func (b *snapshotBuilder) networks(be *bundleEntries) {
	var nets []network.Summary
	for _, ne := range be.networks {
		var list []network.Inspect
		if err := json.Unmarshal(ne.data, &list); err == nil && len(list) > 0 {
			nets = append(nets, list...)
			continue
		}
		if strings.HasSuffix(ne.stem, "_err") {
			b.partial("docker network inspect %s failed when the bundle was made: %s", strings.TrimSuffix(ne.stem, "_err"),
				shorten(firstLine(string(ne.data)), 300))
			continue
		}
		b.partial("%s is not docker network inspect output", ne.entry)
	}
	for _, ne := range be.netErrs {
		b.partial("docker could not be run to inspect network %s when the bundle was made: %s", ne.stem, shorten(firstLine(string(ne.data)), 300))
	}
	b.s.Networks = facts.NetworksFromList(nets)
}

// notInBundle records the facts a bundle never holds, with what the bundle's
// own iotedge check said of them.
func (b *snapshotBuilder) notInBundle(ic *iotedgeCheck) {
	sr := &b.sr
	sr.Facts[facts.FactEngineInventory] = facts.FactState{Status: facts.StatusNotApplicable,
		Reason: NotInBundle + "the engine's images, volumes and settings (a bundle holds no docker info, image or volume list)"}
	for _, f := range []facts.Fact{facts.FactEdgeHubMetrics, facts.FactEdgeAgentMetrics} {
		sr.Facts[f] = facts.FactState{Status: facts.StatusNotApplicable,
			Reason: NotInBundle + "the runtime's metrics (a bundle holds edgeHub's and edgeAgent's logs, not their metrics)"}
	}
	sr.Facts[facts.FactCerts] = facts.FactState{Status: facts.StatusNotApplicable, Reason: NotInBundle + "certificates, which a bundle never holds" +
		ic.says("certs-preloaded", "identity-certificate-expiry", "local-ca-certificate-expiry", "est-identity-and-bootstrap-certificate-expiry")}
	sr.Facts[facts.FactProbes] = facts.FactState{Status: facts.StatusNotApplicable, Reason: NotInBundle + "probes of IoT Hub, the registries and the " +
		"clock, which run only on the device" + ic.says("host-connect-iothub-amqp", "host-connect-iothub-https", "host-connect-iothub-mqtt", "host-local-time")}
}

// when sets the time the bundle was made when check.json did not tell it:
// the last container event, else the present, saying so.
func (b *snapshotBuilder) when() {
	s := b.s
	if !s.Time.IsZero() {
		return
	}
	s.Time = latestEvent(s.Containers)
	if s.Time.IsZero() {
		s.Time = time.Now().UTC()
		b.partial("the time the bundle was made is unknown (no check.json time, no container times): the checks use the present time")
	} else {
		b.partial("the time the bundle was made is unknown (no check.json time): the checks use its last container event, %s",
			s.Time.Format(time.RFC3339))
	}
}

// bundleUninspected is a module the bundle names but whose configuration it
// lacks: edgeAgent owns every container the bundle lists.
func bundleUninspected(name, why string) facts.Container {
	return facts.Container{Name: name, Labels: map[string]string{facts.OwnerLabel: facts.OwnerValue}, State: facts.State{Status: "unknown"}, InspectError: why}
}

// bundleEnv is the IoT Edge environment a module would see, as far as
// edgeAgent's tells it: the device and its hub, for the report.
func bundleEnv(s *facts.Snapshot) map[string]string {
	agent := s.Module(facts.EdgeAgent)
	if agent == nil {
		return nil
	}
	env := map[string]string{}
	for _, k := range []string{"IOTEDGE_DEVICEID", "IOTEDGE_IOTHUBHOSTNAME"} {
		if v, ok := agent.Env[k]; ok && v != "" {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	return env
}

// latestEvent is the latest start, stop or creation among the containers.
func latestEvent(cs []facts.Container) time.Time {
	var t time.Time
	for _, c := range cs {
		for _, u := range []time.Time{c.State.Created, c.State.StartedAt, c.State.FinishedAt} {
			if u.After(t) {
				t = u
			}
		}
	}
	return t
}

// operatingSystem names the host as docker info would, from /etc/os-release's
// ID and VERSION_ID: "Ubuntu Core 22" for the snap-based Ubuntu Core.
func operatingSystem(id, version string) string {
	if id == "ubuntu-core" {
		id = "Ubuntu Core"
	}
	return strings.TrimSpace(id + " " + version)
}

// byteUnitRE is compiled on first use: only a support bundle needs it.
var byteUnitRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)(i?)B\s*$`) })

// parseByteUnit reads the sizes iotedge check writes with the byte_unit
// crate ("3.72 GiB", "0 B", "512.00 MB"); 0 when it cannot.
func parseByteUnit(s string) int64 {
	m := byteUnitRE().FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	base := 1000.0
	if m[3] == "i" {
		base = 1024
	}
	if m[2] != "" {
		for range strings.Index("KMGTPE", m[2]) + 1 {
			v *= base
		}
	}
	return int64(v)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

func jsonProblem(err error, n int) string {
	if err != nil {
		return err.Error()
	}
	if n == 0 {
		return "an empty list"
	}
	return "no container in it"
}
