package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/testenv/bundlezip"
)

// gatewayTree is the support bundle of the simulated gateway in testdata
// (written by internal/e2e's TestSupportBundleSameFindings -update-bundle
// from real engine answers), one file per entry.
func gatewayTree(t *testing.T) []bundlezip.File {
	t.Helper()
	files, err := bundlezip.Tree(filepath.Join("testdata", "bundles", "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func zipOf(t *testing.T, files []bundlezip.File) []byte {
	t.Helper()
	b, err := bundlezip.Bytes(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readBundle(t *testing.T, data []byte) *facts.Snapshot {
	t.Helper()
	s, err := ReadSupportBundle(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("ReadSupportBundle: %v", err)
	}
	return s
}

// edit returns files with name replaced by data (removed when data is
// nil), or added at the end.
func edit(files []bundlezip.File, name string, data []byte) []bundlezip.File {
	out := make([]bundlezip.File, 0, len(files)+1)
	found := false
	for _, f := range files {
		if f.Name == name {
			found = true
			if data == nil {
				continue
			}
			f.Data = data
		}
		out = append(out, f)
	}
	if !found && data != nil {
		out = append(out, bundlezip.File{Name: name, Data: data})
	}
	return out
}

func rename(files []bundlezip.File, from, to string) []bundlezip.File {
	out := append([]bundlezip.File(nil), files...)
	for i := range out {
		if out[i].Name == from {
			out[i].Name = to
		}
	}
	return out
}

func factState(s *facts.Snapshot, f facts.Fact) facts.FactState { return s.Fact(f) }

func TestSupportBundleGateway(t *testing.T) {
	s := readBundle(t, zipOf(t, gatewayTree(t)))
	var names []string
	for _, c := range s.Containers {
		names = append(names, c.Name)
		if !c.IsModule() || !c.Inspected() {
			t.Errorf("%s: module %v, inspected %v (%s)", c.Name, c.IsModule(), c.Inspected(), c.InspectError)
		}
	}
	if got := strings.Join(names, ","); got != "edgeAgent,edgeHub,filter,modbus,opcPublisher" {
		t.Errorf("containers = %s", got)
	}
	e := s.Engine
	if e == nil || e.ServerVersion != "20.10.24+dfsg1" || e.Arch != "x86_64" || e.OS != "linux" || e.OperatingSystem != "debian 12" ||
		e.ImagesReclaimable != -1 || e.IoTEdgeVersion != "1.5.21" {
		t.Errorf("engine = %+v", e)
	}
	if want := scaled(23.54, 1<<30); e.MemTotal < want-1<<20 || e.MemTotal > want+1<<20 {
		t.Errorf("memory = %d, want about %d (23.54 GiB)", e.MemTotal, want)
	}
	if want := time.Date(2026, 11, 29, 19, 48, 25, 911202122, time.UTC); !s.Time.Equal(want) {
		t.Errorf("time = %s, want check.json's now %s", s.Time, want)
	}
	var nets []string
	for _, n := range s.Networks {
		nets = append(nets, n.Name+"/"+n.Driver)
	}
	if got := strings.Join(nets, ","); got != "azure-iot-edge/bridge,bridge/bridge,host/host,none/null" {
		t.Errorf("networks = %s", got)
	}
	if s.Env["IOTEDGE_DEVICEID"] != "gateway-01" || s.Env["IOTEDGE_IOTHUBHOSTNAME"] != "contoso-hub.azure-devices.net" {
		t.Errorf("env = %v, want the device and hub from edgeAgent's environment", s.Env)
	}
	// What the inspects say, converted as the engine source converts them.
	filter, modbus, opc := s.Module("filter"), s.Module("modbus"), s.Module("opcPublisher")
	if filter.State.Running || filter.State.ExitCode != 137 || filter.State.Status != "exited" {
		t.Errorf("filter state = %+v, want exited 137", filter.State)
	}
	sock := false
	for _, m := range modbus.Mounts {
		sock = sock || m.Destination == "/var/run/docker.sock"
	}
	if !sock || len(modbus.Ports) != 1 || modbus.Ports[0].ContainerPort != "502/tcp" {
		t.Errorf("modbus: mounts %+v ports %+v, want the engine socket and port 502", modbus.Mounts, modbus.Ports)
	}
	if opc.Memory != 0 || opc.LogConfig.Type != "json-file" || len(opc.LogConfig.Config) != 0 ||
		opc.OriginalImage() != "contoso.azurecr.io/opc-publisher:latest" {
		t.Errorf("opcPublisher: memory %d, log %+v, image %s", opc.Memory, opc.LogConfig, opc.OriginalImage())
	}

	if len(s.Sources) != 1 || s.Sources[0].Name != SourceSupportBundle || s.Sources[0].Status != facts.StatusOK || len(s.Sources[0].Partial) != 0 {
		t.Fatalf("sources = %+v", s.Sources)
	}
	for _, f := range []facts.Fact{facts.FactEngine, facts.FactContainers} {
		if st := factState(s, f); st.Status != facts.StatusOK {
			t.Errorf("%s: %+v, want ok", f, st)
		}
	}
	for _, f := range []facts.Fact{facts.FactEngineInventory, facts.FactEdgeHubMetrics, facts.FactEdgeAgentMetrics, facts.FactCerts, facts.FactProbes} {
		if st := factState(s, f); st.Status != facts.StatusNotApplicable || !strings.HasPrefix(st.Reason, NotInBundle) {
			t.Errorf("%s: %+v, want not applicable, naming the bundle", f, st)
		}
	}
	if r := factState(s, facts.FactProbes).Reason; !strings.Contains(r, "host-connect-iothub-amqp error, host-local-time warning") {
		t.Errorf("the probes' reason should carry iotedge check's own verdicts: %s", r)
	}
	if s.Metrics != nil || s.Certs != nil || s.Probes != nil || s.Images != nil || s.Volumes != nil {
		t.Error("a bundle holds no metrics, certificates, probes, images or volumes")
	}
}

// TestSupportBundleQuirks: what iotedge support-bundle writes on a device in
// trouble, as Azure/iotedge's edgelet/support-bundle writes it (check.json
// with stderr after the JSON, _err inspects, an archive cut short, -o -),
// is read for what it holds.
func TestSupportBundleQuirks(t *testing.T) {
	base := gatewayTree(t)
	checkJSON := func() []byte {
		for _, f := range base {
			if f.Name == "check.json" {
				return f.Data
			}
		}
		t.Fatal("no check.json")
		return nil
	}()
	cases := []struct {
		name  string
		files []bundlezip.File
		raw   func([]byte) []byte // changes the archive's bytes
		test  func(t *testing.T, s *facts.Snapshot)
	}{
		{name: "written to stdout (-o -): a status line before the zip", files: base,
			raw: func(b []byte) []byte { return append([]byte("Making support bundle\n"), b...) },
			test: func(t *testing.T, s *facts.Snapshot) {
				if len(s.Containers) != 5 || factState(s, facts.FactEngine).Status != facts.StatusOK {
					t.Errorf("%d containers, engine %+v", len(s.Containers), factState(s, facts.FactEngine))
				}
			}},
		{name: "check.json: stderr text after the JSON",
			files: edit(base, "check.json", append(bytes.TrimRight(checkJSON, "\n"),
				[]byte("\nError: one or more checks raised errors\ncaused by: ...\n")...)),
			test: func(t *testing.T, s *facts.Snapshot) {
				if s.Engine.ServerVersion != "20.10.24+dfsg1" || factState(s, facts.FactEngine).Status != facts.StatusOK {
					t.Errorf("engine %+v %+v", s.Engine, factState(s, facts.FactEngine))
				}
			}},
		{name: "check.json: only the text of a check that died",
			files: edit(base, "check.json", []byte("Could not parse the output of aziotctl check: EOF while parsing a value at line 1 column 0\n")),
			test: func(t *testing.T, s *facts.Snapshot) {
				st := factState(s, facts.FactEngine)
				if st.Status != facts.StatusError || !strings.Contains(st.Reason, "check.json holds no JSON") ||
					!strings.Contains(st.Reason, "Could not parse the output of aziotctl check") {
					t.Errorf("engine: %+v", st)
				}
				if factState(s, facts.FactContainers).Status != facts.StatusOK || len(s.Containers) != 5 {
					t.Error("the modules do not depend on check.json")
				}
				if s.Engine == nil {
					t.Error("checks that need the containers read the engine: it must not be nil")
				}
				// No time in check.json: the last container event stands for it.
				if latest := latestEvent(s.Containers); !s.Time.Equal(latest) || s.Time.IsZero() {
					t.Errorf("time = %s, want the last container event %s", s.Time, latest)
				}
			}},
		{name: "check.json: the engine did not answer iotedge check",
			files: edit(base, "check.json", []byte(`{"additional_info":{"docker_version":null,"aziot_edged_version":"1.5.21",`+
				`"now":"2026-05-04T10:00:00.000000001Z","os":{"id":"ubuntu-core","version_id":"22","arch":"aarch64","bitness":64},`+
				`"system_info":{"total_ram":"3.72 GiB"}},"checks":{"(aziot-identity-service-error)":{"result":{"result":"fatal",`+
				`"details":["x"]},"additional_info":null},"container-engine-uri":{"result":{"result":"error","details":`+
				`["Could not communicate with container engine at unix:///var/run/docker.sock.","permission denied"]},"additional_info":{}}}}`+"\n\n\n")),
			test: func(t *testing.T, s *facts.Snapshot) {
				st := factState(s, facts.FactEngine)
				if st.Status != facts.StatusError || !strings.Contains(st.Reason, "container-engine-uri error: Could not communicate") {
					t.Errorf("engine: %+v", st)
				}
				if s.Engine.OperatingSystem != "Ubuntu Core 22" || s.Engine.Arch != "aarch64" || s.Engine.MemTotal != scaled(3.72, 1<<30) {
					t.Errorf("engine = %+v", s.Engine)
				}
				if !s.Time.Equal(time.Date(2026, 5, 4, 10, 0, 0, 1, time.UTC)) {
					t.Errorf("time = %s", s.Time)
				}
			}},
		{name: "IoT Edge 1.1: iotedged_version", files: edit(base, "check.json", []byte(`{"additional_info":{"docker_version":`+
			`"19.03.12+azure","iotedged_version":"1.0.9.4","now":"2020-07-27T13:08:36.427405700Z","os":{"id":"raspbian",`+
			`"version_id":"10","arch":"arm","bitness":32},"system_info":{"used_ram":"331.98 MiB","total_ram":"926.08 MiB"}},"checks":{}}`)),
			test: func(t *testing.T, s *facts.Snapshot) {
				if s.Engine.ServerVersion != "19.03.12+azure" || s.Engine.Arch != "arm" || s.Engine.MemTotal != scaled(926.08, 1<<20) ||
					s.Engine.IoTEdgeVersion != "1.0.9.4" {
					t.Errorf("engine = %+v", s.Engine)
				}
			}},
		{name: "no check.json", files: edit(base, "check.json", nil),
			test: func(t *testing.T, s *facts.Snapshot) {
				if st := factState(s, facts.FactEngine); st.Status != facts.StatusError || st.Reason != "the support bundle holds no check.json" {
					t.Errorf("engine: %+v", st)
				}
			}},
		{name: "_err entries: a failed inspect, a removed module, docker missing, a failed network inspect",
			files: edit(edit(edit(edit(rename(rename(base, "inspect/filter.json", "inspect/filter_err.json"),
				"inspect/modbus.json", "inspect/modbus_err.json"),
				"inspect/filter_err.json", []byte("Error response from daemon: devmapper: Unknown device 3f2c\n")),
				"inspect/modbus_err.json", []byte("Error: No such object: modbus\n")),
				"inspect/sensor_err_docker.txt", []byte("No such file or directory (os error 2)")),
				"network/bridge_err.json", []byte("Error: No such network: bridge\n")),
			test: func(t *testing.T, s *facts.Snapshot) {
				f := s.Module("filter")
				if f == nil || f.Inspected() || !strings.Contains(f.InspectError, "docker inspect filter failed when the bundle was made: Error response from daemon: devmapper") {
					t.Errorf("filter = %+v, want uninspected, naming docker's error", f)
				}
				if s.Module("modbus") != nil {
					t.Error("a module removed while the bundle was made (No such object) is dropped, as the engine source drops it")
				}
				if m := s.Module("sensor"); m == nil || m.Inspected() || !strings.Contains(m.InspectError, "docker could not be run") {
					t.Errorf("sensor = %+v", m)
				}
				if factState(s, facts.FactContainers).Status != facts.StatusOK {
					t.Error("one module's failed inspect is that module's error, not the containers'")
				}
				p := strings.Join(s.Sources[0].Partial, "\n")
				for _, want := range []string{"docker inspect filter failed", "module modbus was removed while the bundle was made",
					"docker network inspect bridge failed when the bundle was made: Error: No such network: bridge"} {
					if !strings.Contains(p, want) {
						t.Errorf("partial failures lack %q:\n%s", want, p)
					}
				}
			}},
		{name: "a module whose inspect is not docker's output", files: edit(base, "inspect/filter.json", []byte("[]")),
			test: func(t *testing.T, s *facts.Snapshot) {
				if f := s.Module("filter"); f == nil || f.Inspected() || !strings.Contains(f.InspectError, "not docker inspect output: an empty list") {
					t.Errorf("filter = %+v", f)
				}
			}},
		{name: "a container IoT Edge does not own (docker read another engine)",
			files: edit(base, "inspect/filter.json", []byte(`[{"Id":"abc","Name":"/filter","State":{"Status":"running","Running":true},"Config":{"Image":"nginx"}}]`)),
			test: func(t *testing.T, s *facts.Snapshot) {
				if !strings.Contains(strings.Join(s.Sources[0].Partial, "\n"), "carries no net.azure-devices.edge.owner label") {
					t.Errorf("partial failures = %v", s.Sources[0].Partial)
				}
			}},
		{name: "no module: the management socket did not answer", files: func() []bundlezip.File {
			var out []bundlezip.File
			for _, f := range base {
				if !strings.HasPrefix(f.Name, "inspect/") && !strings.HasSuffix(f.Name, "_log.txt") {
					out = append(out, f)
				}
			}
			return out
		}(),
			test: func(t *testing.T, s *facts.Snapshot) {
				if st := factState(s, facts.FactContainers); st.Status != facts.StatusError || !strings.Contains(st.Reason, "management socket did not answer") {
					t.Errorf("containers: %+v", st)
				}
				if factState(s, facts.FactEngine).Status != facts.StatusOK {
					t.Error("the engine's version is still known")
				}
			}},
		{name: "a huge log is never read", files: base, raw: func([]byte) []byte {
			return hugeDeclared(t, base, "logs/edgeHub_log.txt", 3<<30)
		}, test: func(t *testing.T, s *facts.Snapshot) {
			if len(s.Containers) != 5 {
				t.Errorf("%d containers", len(s.Containers))
			}
		}},
		{name: "a symbolic link entry is read as its text, never followed", files: base, raw: func([]byte) []byte {
			return symlinkBundle(t, base, "inspect/filter.json", "/etc/passwd")
		}, test: func(t *testing.T, s *facts.Snapshot) {
			f := s.Module("filter")
			if f == nil || f.Inspected() || strings.Contains(f.InspectError, "root:") {
				t.Errorf("filter = %+v", f)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := zipOf(t, c.files)
			if c.raw != nil {
				data = c.raw(data)
			}
			c.test(t, readBundle(t, data))
		})
	}
}

// hugeDeclared is the bundle with entry name declaring size bytes
// uncompressed (its data a few bytes of a Deflate stream that never ends
// where it says).
func hugeDeclared(t *testing.T, files []bundlezip.File, name string, size uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		if f.Name != name {
			w, err := zw.Create(f.Name)
			if err == nil {
				_, err = w.Write(f.Data)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		comp := deflate(t, f.Data)
		w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(f.Data),
			CompressedSize64: uint64(len(comp)), UncompressedSize64: size})
		if err == nil {
			_, err = w.Write(comp)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func symlinkBundle(t *testing.T, files []bundlezip.File, name, target string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate}
		data := f.Data
		if f.Name == name {
			h.SetMode(os.ModeSymlink | 0o777)
			data = []byte(target)
		}
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func deflate(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cutIn returns the archive cut in the middle of entry name's data, as
// iotedge support-bundle leaves it when reading that entry fails: the
// entries before are whole, there is no central directory. With
// placeholder, the cut entry's local header keeps the zeros the zip crate
// writes before it knows the sizes.
func cutIn(t *testing.T, data []byte, name string, placeholder bool) []byte {
	t.Helper()
	hdr := bytes.Index(data, []byte(name))
	if hdr < localHeaderLen || binary.LittleEndian.Uint32(data[hdr-localHeaderLen:]) != sigLocalHeader {
		t.Fatalf("no local header for %s", name)
	}
	start := hdr - localHeaderLen
	out := append([]byte(nil), data[:hdr+len(name)+3]...)
	if placeholder {
		for j := 14; j < 26; j++ { // CRC and sizes
			out[start+j] = 0
		}
	}
	return out
}

func TestSupportBundleTruncated(t *testing.T) {
	base := zipOf(t, gatewayTree(t))
	for _, placeholder := range []bool{false, true} {
		// The bundle fails reading the third module's logs: filter and
		// opcPublisher are whole, edgeHub and the rest are lost.
		s := readBundle(t, cutIn(t, base, "logs/edgeHub_log.txt", placeholder))
		if got := len(s.Containers); got != 2 || s.Module("filter") == nil || s.Module("opcPublisher") == nil {
			t.Errorf("placeholder %v: %d containers, want filter and opcPublisher", placeholder, got)
		}
		st := factState(s, facts.FactContainers)
		if st.Status != facts.StatusError || !strings.Contains(st.Reason, "list of modules is incomplete") ||
			!strings.Contains(st.Reason, "(edgeHub and the modules after it are lost)") {
			t.Errorf("placeholder %v: containers %+v", placeholder, st)
		}
		if factState(s, facts.FactEngine).Status != facts.StatusOK || s.Engine.ServerVersion == "" {
			t.Errorf("placeholder %v: check.json, the first entry, is whole", placeholder)
		}
		if p := strings.Join(s.Sources[0].Partial, "\n"); !strings.Contains(p, "cut short") || !strings.Contains(p, "logs/edgeHub_log.txt") {
			t.Errorf("placeholder %v: partial failures = %s", placeholder, p)
		}
	}
	// Cut after the modules' entries (in the service logs): the module list is whole.
	s := readBundle(t, cutIn(t, base, "logs/aziot-certd.txt", false))
	if len(s.Containers) != 5 || factState(s, facts.FactContainers).Status != facts.StatusOK || len(s.Networks) != 4 {
		t.Errorf("cut in the service logs: %d containers, %+v, %d networks", len(s.Containers), factState(s, facts.FactContainers), len(s.Networks))
	}
}

// TestSupportBundleHostile: an archive that is not a bundle, or is made to
// harm, is refused with an error that names the problem, before anything
// large is read; nothing is extracted.
func TestSupportBundleHostile(t *testing.T) {
	base := gatewayTree(t)
	good := zipOf(t, base)
	named := func(name string) []byte {
		return zipOf(t, append(append([]bundlezip.File(nil), base...), bundlezip.File{Name: name, Data: []byte("x")}))
	}
	big := bytes.Repeat([]byte{' '}, 5<<20)
	many := make([]bundlezip.File, maxBundleEntries+1)
	for i := range many {
		many[i] = bundlezip.File{Name: "logs/m" + strconv.Itoa(i) + ".txt"}
	}
	var fat []bundlezip.File
	for i := range 17 {
		fat = append(fat, bundlezip.File{Name: "network/n" + strconv.Itoa(i) + ".json", Data: bytes.Repeat([]byte{' '}, maxBundleEntry-1)})
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"not a zip", []byte("this is not a zip file\n"), "not a zip archive"},
		{"empty", nil, "not a zip archive"},
		{"a PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "not a zip archive"},
		{"a zip that is no bundle", zipOf(t, []bundlezip.File{{Name: "README.txt", Data: []byte("hello")}}),
			"not an iotedge support bundle: it holds no check.json, inspect/ or network/ entry"},
		{"traversal", named("../../etc/passwd"), `entry name "../../etc/passwd" climbs out of the archive (..): refusing the archive`},
		{"traversal inside", named("inspect/../../../root/.ssh/authorized_keys"), "climbs out of the archive"},
		{"absolute path", named("/etc/cron.d/x"), "is an absolute path"},
		{"drive letter", named("C:/Windows/x"), "is an absolute path"},
		{"backslash", named(`logs\..\..\x`), "holds a backslash"},
		{"unclean path", named("inspect/./edgeAgent.json"), "is not a clean path"},
		{"duplicate entry", zipOf(t, append(append([]bundlezip.File(nil), base...), bundlezip.File{Name: "check.json", Data: []byte("{}")})),
			`entry "check.json" appears twice in the archive`},
		{"an entry declaring 2 GiB", hugeDeclared(t, base, "inspect/edgeAgent.json", 2<<30),
			"inspect/edgeAgent.json declares 2.0 GiB uncompressed, more than the 4.0 MiB an entry may hold"},
		{"an entry larger than it may be", zipOf(t, edit(base, "inspect/edgeAgent.json", big)), "declares 5.0 MiB uncompressed"},
		{"a zip bomb (expands beyond what it declares)", hugeDeclared(t, edit(base, "inspect/edgeAgent.json", big), "inspect/edgeAgent.json", 1000),
			"inspect/edgeAgent.json expands beyond the 1000 B it declares"},
		{"entries too large together", zipOf(t, append(append([]bundlezip.File(nil), base...), fat...)), "hold more than 64.0 MiB together"},
		{"too many entries", zipOf(t, many), "the archive has 10001 entries, more than the 10000 a support bundle may have"},
		{"truncated in its first entry", good[:200], "the archive is cut short and no part of a support bundle survives"},
		{"truncated before any entry", good[:20], "the archive is cut short and no part of a support bundle survives"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ReadSupportBundle(bytes.NewReader(c.data), int64(len(c.data)))
			if err == nil {
				t.Fatalf("read as a bundle (%d containers); want an error %q", len(s.Containers), c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
	// A truncated archive whose recovered entry does not match its CRC.
	cut := cutIn(t, good, "logs/edgeHub_log.txt", false)
	i := bytes.Index(cut, []byte("inspect/filter.json")) + len("inspect/filter.json") + 40
	cut[i] ^= 0xff
	if _, err := ReadSupportBundle(bytes.NewReader(cut), int64(len(cut))); err == nil ||
		(!strings.Contains(err.Error(), "checksum") && !strings.Contains(err.Error(), "flate")) {
		t.Errorf("a corrupt entry of a truncated archive: %v, want a checksum or data error", err)
	}
}

func TestOpenSupportBundle(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenSupportBundle(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
	if _, err := OpenSupportBundle(filepath.Join(dir, "missing.zip")); err == nil || !strings.Contains(err.Error(), "reading support bundle") {
		t.Errorf("a missing file: %v", err)
	}
	p := filepath.Join(dir, "support_bundle_2026_05_04_10_00_00_UTC.zip")
	if err := os.WriteFile(p, zipOf(t, gatewayTree(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := OpenSupportBundle(p)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := b.Gather(t.Context()), b.Gather(t.Context())
	if s1 == s2 || len(s1.Containers) != 5 || s1.Sources[0].Name != SourceSupportBundle {
		t.Errorf("Gather: %p %p, %d containers", s1, s2, len(s1.Containers))
	}
	if _, err := OpenSupportBundle(writeTemp(t, "not.zip", "hello")); err == nil ||
		!strings.HasPrefix(err.Error(), "support bundle ") || !strings.HasSuffix(err.Error(), ": not a zip archive") {
		t.Errorf("not a zip: %v", err)
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseByteUnit(t *testing.T) {
	for in, want := range map[string]int64{
		"3.72 GiB": scaled(3.72, 1<<30), "0 B": 0, "512 B": 512, "926.08 MiB": scaled(926.08, 1<<20),
		"1.50 GB": 1_500_000_000, "2 TiB": 2 << 40, "": 0, "lots": 0, "3.72 XiB": 0,
	} {
		if got := parseByteUnit(in); got != want {
			t.Errorf("parseByteUnit(%q) = %d, want %d", in, got, want)
		}
	}
}

// scaled is v units, as parseByteUnit computes it.
func scaled(v float64, unit int64) int64 { return int64(v * float64(unit)) }
