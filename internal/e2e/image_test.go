package e2e

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// imageTag is the tag the image test builds, imageVersion the version
// it is built with (the Dockerfiles' VERSION argument).
const (
	imageTag     = "er-test/edge-readiness:e2e"
	imageVersion = "0.0.0-e2e"
)

// crossImages are the images of other platforms TestCrossImages builds:
// module.json's platform key and docker build's --platform.
var crossImages = []struct{ name, platform string }{
	{"arm32v7", "linux/arm/v7"},
	{"arm64v8", "linux/arm64"},
}

// buildImage builds Dockerfile.amd64 as imageTag with the classic builder,
// from the local Go toolchain image.
func buildImage(t testenv.TB, root string) {
	t.Helper()
	testenv.BuildImage(t, root, "Dockerfile.amd64", imageTag, map[string]string{
		"BUILDER_IMAGE": testenv.GoToolchainImage(t),
		"VERSION":       imageVersion,
	})
}

// buildCrossImage builds the Dockerfile of a cross image with BuildKit.
func buildCrossImage(t testenv.TB, root, name, platform string) string {
	t.Helper()
	tag := imageTag + "-" + name
	testenv.BuildImageFor(t, root, "Dockerfile."+name, tag, platform, map[string]string{
		"BUILDER_IMAGE": testenv.GoToolchainImage(t),
		"VERSION":       imageVersion,
	})
	return tag
}

// prebuildImages builds, one after another, the images that the tests this
// run selects build: TestMain starts it in the background, so that the
// builds proceed while the tests that need no image run, and the tests that
// need one (TestDeviceInABox, TestImage, TestCrossImages: they call
// t.Parallel, so they run after the others) find it built and their own
// build cached. selected tells whether the run selects a test (-run, -skip).
func prebuildImages(t testenv.TB, root string, selected func(test string) bool) {
	if selected("TestImage") || selected("TestDeviceInABox") {
		buildImage(t, root)
	}
	if selected("TestDeviceInABox") {
		buildEmulatorImage(t, root)
	}
	if selected("TestCrossImages") {
		for _, c := range crossImages {
			buildCrossImage(t, root, c.name, c.platform)
		}
	}
}

// TestImage builds Dockerfile.amd64 with the local Go toolchain image as
// builder and the engine's classic builder (the one iotedgedev builds with),
// then runs it as the deployment does: a module named readiness on the
// azure-iot-edge network of a simulated device, as the image's user
// 65532:65532 with the engine socket's group added (GroupAdd), the socket
// bound read-only, all capabilities dropped, a read-only root filesystem and
// a 64 MiB limit. It reads the metrics through the names edgeHub and
// edgeAgent and sees the device's modules.
func TestImage(t *testing.T) {
	ver := engineVersion(t)
	t.Parallel() // after the other tests: its image is built meanwhile (TestMain)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	buildImage(t, root)
	t.Logf("image %s: %.1f MiB", imageTag, float64(testenv.ImageSize(t, imageTag))/(1<<20))
	checkImage(t, imageTag, elf.EM_X86_64, map[string]string{"GOARCH": "amd64"}, platform{"linux", "amd64", ""})

	d := testenv.NewDevice(t)
	readiness := testenv.CustomModule("readiness", "myregistry.azurecr.io/edge-readiness:0.1.0-amd64")
	readiness.RunImage = imageTag
	readiness.Cmd = []string{"check", "--format", "json"}
	readiness.Binds = []string{hostSocket(t) + ":/var/run/docker.sock:ro"}
	readiness.GroupAdd = []string{socketGroup(t)}
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
	if ic.Config.User != imageUser {
		t.Errorf("readiness ran as user %q, want the image's %s", ic.Config.User, imageUser)
	}
}

// TestCrossImages builds the arm32v7 and arm64v8 images as the README
// says, with BuildKit and --platform (the build stage on the build machine,
// cross-compiling; the local Go toolchain image as builder), checks that
// each image's configuration names its platform and that the binary it holds
// is built for it, then runs that binary under QEMU's user-mode emulation
// (Debian's qemu-user-static): `check --help`, and `check` on the example
// snapshot, whose report must be the host binary's. Skipped with -short.
func TestCrossImages(t *testing.T) {
	testenv.SkipIfShort(t, "builds images on the engine")
	t.Parallel() // after the other tests: its images are built meanwhile (TestMain)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	snapshot := filepath.Join(root, filepath.FromSlash(exampleSnapshot))
	hostOut, hostCode := runBinary(t, "", binary, "check", "--snapshot", snapshot, "--format", "json")
	if hostCode != 1 {
		t.Fatalf("the host binary on %s exited with %d, want 1 (notReady)", exampleSnapshot, hostCode)
	}
	want := reportFindings(t, "the host binary", hostOut)
	for i, c := range []struct {
		want     platform
		machine  elf.Machine
		settings map[string]string
		qemu     string
	}{
		{platform{"linux", "arm", "v7"}, elf.EM_ARM, map[string]string{"GOARCH": "arm", "GOARM": "7"}, "qemu-arm-static"},
		{platform{"linux", "arm64", ""}, elf.EM_AARCH64, map[string]string{"GOARCH": "arm64"}, "qemu-aarch64-static"},
	} {
		name, pf := crossImages[i].name, crossImages[i].platform
		t.Run(name, func(t *testing.T) {
			tag := buildCrossImage(t, root, name, pf)
			t.Logf("image %s: %.1f MiB", tag, float64(testenv.ImageSize(t, tag))/(1<<20))
			bin := checkImage(t, tag, c.machine, c.settings, c.want)

			qemu := requireQEMU(t, c.qemu)
			exe := filepath.Join(t.TempDir(), "edge-readiness")
			if err := os.WriteFile(exe, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			out, code := runBinary(t, qemu, exe, "check", "--help")
			t.Logf("%s %s check --help: exit code %d", c.qemu, name, code)
			if code != 0 || !bytes.Contains(out, []byte("usage: edge-readiness check [flags]")) || !bytes.Contains(out, []byte("-snapshot")) {
				t.Errorf("%s check --help: exit code %d, want 0 and the usage of check\n%s", name, code, out)
			}
			out, code = runBinary(t, qemu, exe, "check", "--snapshot", snapshot, "--format", "json")
			got := reportFindings(t, name+" under "+c.qemu, out)
			t.Logf("%s %s check --snapshot %s --format json: exit code %d, %d findings", c.qemu, name, exampleSnapshot, code, len(got))
			if code != 1 {
				t.Errorf("%s check --snapshot: exit code %d, want 1 (notReady)", name, code)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s's findings on %s differ from the host binary's:\n%s\nhost:\n%s", name, exampleSnapshot,
					strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// imageUser is the user the images run as: not root, a fixed uid:gid (as
// distroless's nonroot), granted the engine socket through GroupAdd.
const imageUser = "65532:65532"

// platform is an image configuration's os, architecture and variant.
type platform struct{ os, arch, variant string }

// requireQEMU returns the path of a QEMU user-mode emulator, skipping the
// test when it is missing (failing under CI, whose .ci/run installs it).
func requireQEMU(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is missing: install Debian's qemu-user-static (bash .ci/run does)"
		if testenv.IsCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// runBinary runs bin with args, under the emulator when one is given, and
// returns its stdout and stderr together, and its exit code.
func runBinary(t *testing.T, emulator, bin string, args ...string) ([]byte, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := bin
	if emulator != "" {
		name, args = emulator, append([]string{bin}, args...)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.Bytes(), 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return out.Bytes(), exit.ExitCode()
	}
	t.Fatalf("running %s %v: %v\n%s", name, args, err, out.Bytes())
	return nil, 0
}

// reportFindings decodes a JSON report and returns its summary status and
// its findings, one line each (id, subject, status, severity, message).
func reportFindings(t *testing.T, who string, out []byte) []string {
	t.Helper()
	var rep report.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%s printed no JSON report: %v\n%s", who, err, out)
	}
	if rep.Summary.Status != report.NotReady {
		t.Errorf("%s: status %s, want notReady", who, rep.Summary.Status)
	}
	lines := []string{"status " + rep.Summary.Status}
	for _, f := range rep.Findings {
		lines = append(lines, fmt.Sprintf("%s/%s %s %s: %s", f.ID, f.Subject, f.Status, f.Severity, f.Message))
	}
	return lines
}

// checkImage checks the image's configuration (platform, user) and its
// binary: a static ELF executable for machine, built without cgo, trimmed,
// with the version stamped, and the CA certificates beside it. It returns
// the binary.
func checkImage(t *testing.T, tag string, machine elf.Machine, settings map[string]string, wantPlatform platform) []byte {
	t.Helper()
	ii := testenv.InspectImage(t, tag)
	t.Logf("docker image inspect %s: Os %s, Architecture %s, Variant %q, User %q", tag, ii.Os, ii.Architecture, ii.Variant, ii.Config.User)
	// arm64's variant, v8, may be said or not.
	if got := (platform{ii.Os, ii.Architecture, ii.Variant}); got != wantPlatform &&
		(wantPlatform.arch != "arm64" || got != platform{wantPlatform.os, wantPlatform.arch, "v8"}) {
		t.Errorf("%s: the image says %+v, want %+v", tag, got, wantPlatform)
	}
	if ii.Config == nil || ii.Config.User != imageUser {
		t.Errorf("%s: the image's user is not %s", tag, imageUser)
	}
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
	return bin
}

// hostSocket is the engine socket's path on the host.
func hostSocket(t *testing.T) string {
	host := hostlock.DockerHost()
	p, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		t.Fatalf("the engine is at %s, not on a unix socket the module could mount", host)
	}
	return p
}

// socketGroup is the group owning the engine socket on the host, as a
// GroupAdd entry: what a deployment grants the module's user
// (`stat -c %g /var/run/docker.sock`).
func socketGroup(t *testing.T) string {
	t.Helper()
	fi, err := os.Stat(hostSocket(t))
	if err != nil {
		t.Fatalf("the engine socket: %v", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no owner for %s", hostSocket(t))
	}
	return strconv.FormatUint(uint64(st.Gid), 10)
}
