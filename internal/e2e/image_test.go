package e2e

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// imageTag is the tag the image test builds.
const imageTag = "er-test/edge-readiness:e2e"

// TestImage builds Dockerfile.amd64 with the local Go toolchain image as
// builder, then runs it as the deployment does: a module named readiness on
// the azure-iot-edge network of a simulated device, the engine socket bound
// read-only, all capabilities dropped, a read-only root filesystem and a
// 64 MiB limit. It reads the metrics through the names edgeHub and
// edgeAgent and sees the device's modules.
func TestImage(t *testing.T) {
	ver := engineVersion(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	builder := testenv.GoToolchainImage(t)
	testenv.BuildImage(t, root, "Dockerfile.amd64", imageTag, map[string]string{
		"BUILDER_IMAGE": builder,
		"VERSION":       "0.0.0-e2e",
	})
	t.Logf("image %s: %.1f MiB", imageTag, float64(testenv.ImageSize(t, imageTag))/(1<<20))
	checkImage(t, imageTag, elf.EM_X86_64, map[string]string{"GOARCH": "amd64"})

	d := testenv.NewDevice(t)
	readiness := testenv.CustomModule("readiness", "myregistry.azurecr.io/edge-readiness:0.1.0-amd64")
	readiness.RunImage = imageTag
	readiness.Cmd = []string{"check", "--format", "json"}
	readiness.Binds = []string{hostSocket(t) + ":/var/run/docker.sock:ro"}
	readiness.Memory = 64 << 20
	readiness.NanoCPUs = 250_000_000
	readiness.CapDrop = []string{"ALL"}
	readiness.ReadonlyRootfs = true
	readiness.WaitExit = true
	readiness.StartLast = true
	d.Modules = append(d.Modules, readiness)
	d.Start(t)

	ic := d.Inspect(t, "readiness")
	stdout, stderr := d.Logs(t, "readiness")
	if ic.State.ExitCode != 1 || ic.State.OOMKilled {
		t.Errorf("readiness exited with code %d (OOM killed: %v), want 1 (not ready: the engine is not Moby)\nstderr:\n%s",
			ic.State.ExitCode, ic.State.OOMKilled, stderr)
	}
	if bytes.Contains(stderr, []byte("panic:")) {
		t.Fatalf("readiness panicked:\n%s", stderr)
	}
	var rep report.Report
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("the module's stdout is not a report: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	// When readiness inspected the device, it was itself running.
	expectAll(t, &rep, moduleNames(d), baseline(ver), map[key]want{
		{"docker-socket-mounts", "readiness"}: {status: checks.Skip, contains: []string{"exempted by policy (builtin-own-docker-socket)"}},
	})
	for _, name := range []string{"edgeHub", "edgeAgent"} {
		f := one(t, &rep, "metrics-endpoints", name)
		if want := "http://" + name + ":9600/metrics"; f.Status != checks.Pass || f.Evidence["endpoint"] != want {
			t.Errorf("metrics-endpoints/%s: %s, endpoint %v; want pass through %s", name, f.Status, f.Evidence["endpoint"], want)
		}
	}
	if want := moduleNames(d); !sameSet(inventoryNames(&rep), want) {
		t.Errorf("the module sees modules %v, want %v", inventoryNames(&rep), want)
	}
	if rep.Device.RuntimeMode != "module" || rep.Device.ModuleID != "readiness" || rep.Device.DeviceID != d.DeviceID {
		t.Errorf("device = %+v, want module mode as readiness on %s", rep.Device, d.DeviceID)
	}
	if rep.Summary.Status != report.NotReady {
		t.Errorf("status %s, want notReady", rep.Summary.Status)
	}
	if !strings.Contains(ic.Config.Image, imageTag) {
		t.Errorf("readiness ran %s, want %s", ic.Config.Image, imageTag)
	}
}

// TestCrossImages builds the arm32v7 and arm64v8 images (cross-compiled in
// the build stage) and checks the binary each holds. Skipped with -short.
func TestCrossImages(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiled images are built without -short")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	builder := testenv.GoToolchainImage(t)
	for _, c := range []struct {
		platform string
		machine  elf.Machine
		settings map[string]string
	}{
		{"arm32v7", elf.EM_ARM, map[string]string{"GOARCH": "arm", "GOARM": "7"}},
		{"arm64v8", elf.EM_AARCH64, map[string]string{"GOARCH": "arm64"}},
	} {
		t.Run(c.platform, func(t *testing.T) {
			tag := imageTag + "-" + c.platform
			testenv.BuildImage(t, root, "Dockerfile."+c.platform, tag, map[string]string{
				"BUILDER_IMAGE": builder,
				"VERSION":       "0.0.0-e2e",
			})
			t.Logf("image %s: %.1f MiB", tag, float64(testenv.ImageSize(t, tag))/(1<<20))
			checkImage(t, tag, c.machine, c.settings)
		})
	}
}

// checkImage checks the image's binary: a static ELF executable for machine,
// built without cgo, trimmed, with the version stamped, and the CA
// certificates beside it.
func checkImage(t *testing.T, tag string, machine elf.Machine, settings map[string]string) {
	t.Helper()
	bin := testenv.FileFromImage(t, tag, "/edge-readiness")
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s: /edge-readiness is not ELF: %v", tag, err)
	}
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("%s: /edge-readiness is %v %v, want %v ET_EXEC", tag, f.Machine, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: /edge-readiness is dynamically linked", tag)
		}
	}
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s: reading the build info: %v", tag, err)
	}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	want := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true"}
	for k, v := range settings {
		want[k] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: build setting %s = %q, want %q", tag, k, got[k], v)
		}
	}
	// -trimpath keeps -ldflags out of the build info: look at the effects.
	if f.Section(".symtab") != nil {
		t.Errorf("%s: /edge-readiness has a symbol table: not built with -ldflags -s", tag)
	}
	if !bytes.Contains(bin, []byte("0.0.0-e2e")) {
		t.Errorf("%s: the version 0.0.0-e2e is not stamped (-X .../internal/cli.Version)", tag)
	}
	if bi.Path != "github.com/edge-readiness/edge-readiness/module" {
		t.Errorf("%s: main package %s", tag, bi.Path)
	}
	if ca := testenv.FileFromImage(t, tag, "/etc/ssl/certs/ca-certificates.crt"); !bytes.Contains(ca, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("%s: no CA certificates", tag)
	}
}

// hostSocket is the engine socket's path on the host.
func hostSocket(t *testing.T) string {
	host := os.Getenv(client.EnvOverrideHost)
	if host == "" {
		host = client.DefaultDockerHost
	}
	p, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		t.Fatalf("the engine is at %s, not on a unix socket the module could mount", host)
	}
	return p
}
