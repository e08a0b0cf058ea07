package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/edge-readiness/edge-readiness/internal/bundle"
	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
	"github.com/edge-readiness/edge-readiness/internal/testenv/bundlezip"
)

var updateBundle = flag.Bool("update-bundle", false,
	"rewrite internal/bundle/testdata/bundles/gateway from the simulated gateway's support bundle")

// bundleTestdata is where -update-bundle writes the gateway's bundle, as a
// directory tree (internal/testenv/bundlezip zips it in the bundle's order).
const bundleTestdata = "internal/bundle/testdata/bundles/gateway"

// deviceBundle is what `iotedge support-bundle` would write on the device d:
// check.json, then per module (in the engine's container-list order, edged
// lists containers by the owner label) its log and its `docker inspect`
// (the CLI's 4-space indented array around the engine's raw answer), then
// `docker network inspect -v` of every network, then the service logs. It
// returns the files and the module order.
func deviceBundle(t *testing.T, d *testenv.Device, now time.Time) ([]bundlezip.File, []string) {
	t.Helper()
	cli := d.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ver, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cli.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	files := []bundlezip.File{{Name: "check.json", Data: checkJSON(ver.Version, info.Architecture, info.MemTotal, now)}}

	list, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", facts.OwnerLabel+"="+facts.OwnerValue))})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range list {
		name := strings.TrimPrefix(c.Names[0], "/")
		order = append(order, name)
		stdout, stderr := testenv.ContainerLogs(t, cli, c.ID)
		_, raw, err := cli.ContainerInspectWithRaw(ctx, c.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, bundlezip.File{Name: "logs/" + name + "_log.txt", Data: append(stdout, stderr...)},
			bundlezip.File{Name: "inspect/" + name + ".json", Data: dockerCLIJSON(t, raw)})
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		_, raw, err := cli.NetworkInspectWithRaw(ctx, n.ID, network.InspectOptions{Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, bundlezip.File{Name: "network/" + n.Name + ".json", Data: dockerCLIJSON(t, raw)})
	}
	for _, unit := range []string{"aziot-keyd", "aziot-certd", "aziot-identityd", "aziot-edged", "docker"} {
		files = append(files, bundlezip.File{Name: "logs/" + unit + ".txt", Data: []byte("-- No entries --\n")})
	}
	return files, order
}

// dockerCLIJSON is what `docker inspect` prints of one object: a JSON array
// indented by four spaces.
func dockerCLIJSON(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, append(append([]byte("["), raw...), ']'), "", "    "); err != nil {
		t.Fatal(err)
	}
	return append(b.Bytes(), '\n')
}

// checkJSON is `iotedge check -o json` as a 1.6 device writes it into the
// bundle: one compact line (keys in iotedge's order, checks sorted), then
// the blank lines iotedge's main adds when a check errors. Connectivity
// fails, as on a device cut off from its hub.
func checkJSON(dockerVersion, arch string, memTotal int64, now time.Time) []byte {
	id, versionID := osRelease()
	// The daemon's release, as the simulated edgeAgent_metadata reports it.
	daemon := testenv.DefaultRuntimeVersion
	return fmt.Appendf(nil, `{"additional_info":{"docker_version":%q,"aziot_edged_version":%q,"now":%q,`+
		`"os":{"id":%q,"version_id":%q,"arch":%q,"bitness":64},"system_info":{"used_ram":"1.61 GiB","total_ram":%q,`+
		`"used_swap":"0 B","total_swap":"0 B","disks":[{"name":"/dev/sda1","percent_free":"71%%","available_space":"20.89 GiB",`+
		`"total_space":"29.36 GiB","file_system":"ext4","file_type":"SSD"}]}},"checks":{`+
		`"aziot-edge-version":{"result":{"result":"ok"},"additional_info":{"actual_version":%q,"expected_version":%q}},`+
		`"aziot-edged-config-well-formed":{"result":{"result":"ok"},"additional_info":{}},`+
		`"certs-preloaded":{"result":{"result":"ok"},"additional_info":{}},`+
		`"container-engine-uri":{"result":{"result":"ok"},"additional_info":{}},`+
		`"edge-agent-storage-mounted-from-host":{"result":{"result":"ok"},"additional_info":{}},`+
		`"edge-hub-storage-mounted-from-host":{"result":{"result":"ok"},"additional_info":{}},`+
		`"host-connect-iothub-amqp":{"result":{"result":"error","details":["Could not connect to %s:5671","could not complete TLS handshake","Connection refused (os error 111)"]},"additional_info":{"iothub_hostname":%q,"port_number":5671,"proxy":null}},`+
		`"host-local-time":{"result":{"result":"warning","details":["Could not query NTP server","could not receive NTP server response"]},"additional_info":{}},`+
		`"identity-certificate-expiry":{"result":{"result":"ignored"},"additional_info":null}}}`+"\n\n\n",
		dockerVersion, daemon, now.UTC().Format(time.RFC3339Nano), id, versionID, arch, byteUnit(memTotal), daemon, daemon, gatewayHub, gatewayHub)
}

const gatewayHub = "contoso-hub.azure-devices.net"

// byteUnit formats a size as iotedge check does (the byte_unit crate).
func byteUnit(n int64) string {
	v, unit := float64(n), "B"
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	if unit == "B" {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// osRelease reads the host's ID and VERSION_ID, as iotedge check does.
func osRelease() (string, string) {
	id, ver := "linux", ""
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return id, ver
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		v = strings.Trim(v, `"`)
		switch k {
		case "ID":
			id = v
		case "VERSION_ID":
			ver = v
		}
	}
	return id, ver
}

// bundleApproximations are the checks whose evidence (and message, when
// messageToo) may differ through the bundle, with why; status and severity
// are still compared.
var bundleApproximations = map[string]struct {
	why        string
	messageToo bool
}{
	// check.json gives the memory in hundredths of a GiB.
	"edgehub-optimize-for-performance": {"memory read from check.json's total_ram (two decimals)", true},
	// check.json names the OS by /etc/os-release's ID and VERSION_ID, docker
	// info by its PRETTY_NAME.
	"container-engine-moby": {"operatingSystem from os-release ID and VERSION_ID", false},
	// The live run and the bundle are read a moment apart: "exited 2s ago"
	// through one, "1s ago" through the other.
	"restart-given-up": {"how long ago a module exited, at each read's time", true},
}

// TestSupportBundleSameFindings: the simulated gateway yields the same
// findings through its support bundle (check --support-bundle, no engine)
// as through the engine (check --no-probes) for every check the bundle can
// decide; the checks it cannot decide (metrics, certificates, probes, the
// engine's images, volumes and settings) are skipped with a reason naming
// the bundle. The exact set of those is derived from the catalog's Needs.
func TestSupportBundleSameFindings(t *testing.T) {
	d := gatewayDevice(t, false)
	dir := t.TempDir()
	files, order := deviceBundle(t, d, time.Now())
	data, err := bundlezip.Bytes(files)
	if err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dir, "support_bundle_2026_05_04_10_00_00_UTC.zip")
	if err := os.WriteFile(zipPath, data, 0o600); err != nil {
		t.Fatal(err)
	}

	live := run(t, "check", "--format", "json", "--no-probes")
	liveRep := jsonReport(t, live)
	fromBundle := runEnv(t, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, "check", "--format", "json", "--support-bundle", zipPath)
	bundleRep := jsonReport(t, fromBundle)
	if fromBundle.code != 0 && fromBundle.code != 1 {
		t.Fatalf("check --support-bundle: exit %d\n%s", fromBundle.code, fromBundle.stderr)
	}
	if s := string(fromBundle.stdout) + string(fromBundle.stderr); strings.Contains(s, "nonexistent") {
		t.Errorf("a run on a support bundle touched the engine:\n%s", s)
	}

	// metrics-endpoints reads the metrics without needing them (a failed
	// scrape is its failure, not an error).
	notInBundle := map[string]bool{"metrics-endpoints": true}
	for _, c := range checks.All() {
		for _, n := range c.Needs {
			switch n {
			case checks.NeedEngineInventory, checks.NeedEdgeAgentStats, checks.NeedEdgeHubStats, checks.NeedCerts, checks.NeedProbes:
				notInBundle[c.ID] = true
			}
		}
	}
	compared, checksCompared := 0, 0
	for _, c := range checks.All() {
		b, l := findings(bundleRep, c.ID, "*"), findings(liveRep, c.ID, "*")
		if notInBundle[c.ID] {
			for _, f := range b {
				if f.Status != checks.Skip || !strings.HasPrefix(f.Message, bundle.NotInBundle) {
					t.Errorf("%s: the bundle cannot decide it, want skips naming the bundle, got:\n%s", c.ID, dumpFindings(b))
					break
				}
			}
			if len(b) == 0 {
				t.Errorf("%s: no finding from the bundle", c.ID)
			}
			continue
		}
		checksCompared++
		bk, lk := keyed(b, c.ID), keyed(l, c.ID)
		if !slices.Equal(sortedKeys(bk), sortedKeys(lk)) {
			t.Errorf("%s: subjects differ\n live:   %v\n bundle: %v", c.ID, sortedKeys(lk), sortedKeys(bk))
			continue
		}
		for k, lf := range lk {
			bf := bk[k]
			compared++
			if bf.Status != lf.Status || bf.Severity != lf.Severity {
				t.Errorf("%s: live %s [%s] %q, bundle %s [%s] %q", k, lf.Status, lf.Severity, lf.Message, bf.Status, bf.Severity, bf.Message)
				continue
			}
			approx, isApprox := bundleApproximations[c.ID]
			if isApprox && approx.messageToo {
				continue
			}
			le, _ := json.Marshal(lf.Evidence)
			bev, _ := json.Marshal(bf.Evidence)
			if bf.Message != lf.Message || (!isApprox && !bytes.Equal(le, bev)) {
				t.Errorf("%s differs:\n live:   %q %s\n bundle: %q %s", k, lf.Message, le, bf.Message, bev)
			}
		}
	}
	t.Logf("compared %d findings of %d checks; %d checks the bundle cannot decide were skipped naming the bundle",
		compared, checksCompared, len(notInBundle))
	if compared < 40 {
		t.Errorf("only %d findings compared: the test proves little", compared)
	}
	if want := moduleNames(d); !sameSet(inventoryNames(bundleRep), want) {
		t.Errorf("modules from the bundle = %v, want %v", inventoryNames(bundleRep), want)
	}
	if bundleRep.Engine == nil || bundleRep.Engine.ServerVersion != liveRep.Engine.ServerVersion {
		t.Errorf("engine from the bundle = %+v, want version %s", bundleRep.Engine, liveRep.Engine.ServerVersion)
	}

	if *updateBundle {
		writeBundleTestdata(t, d, files, order)
	}
}

// keyed indexes a check's findings by module and subject.
func keyed(fs []checks.Finding, id string) map[string]checks.Finding {
	out := map[string]checks.Finding{}
	for _, f := range fs {
		out[id+"/"+f.Module+"/"+f.Subject] = f
	}
	return out
}

func sortedKeys(m map[string]checks.Finding) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func dumpFindings(fs []checks.Finding) string {
	return dump(&report.Report{Findings: fs})
}

// writeBundleTestdata writes the bundle as a directory tree for the facts
// tests, the test's host directory replaced by /srv/iotedge so that the
// files do not change from run to run for that alone.
func writeBundleTestdata(t *testing.T, d *testenv.Device, files []bundlezip.File, order []string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, bundleTestdata)
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if n, ok := strings.CutPrefix(f.Name, "network/"); ok &&
			!slices.Contains([]string{"azure-iot-edge.json", "bridge.json", "host.json", "none.json"}, n) {
			continue // another project's network on the test engine
		}
		p := filepath.Join(out, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := bytes.ReplaceAll(f.Data, []byte(d.HostDir), []byte("/srv/iotedge"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "ORDER"), []byte(strings.Join(order, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d files)", bundleTestdata, len(files))
}
