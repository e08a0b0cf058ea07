package facts

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// testImage is built locally from the host's static busybox: no registry is
// needed.
const testImage = "er-test/busybox:local"

// realDocker returns a client for the engine of DOCKER_HOST (default socket).
// With -short (the fast tier) the test is skipped, CI=true or not: it runs in
// the engine tier (`make test-e2e`). Without -short and without an engine the
// test is skipped on a workstation but fails in CI (CI=true), so that a
// broken CI runner cannot hide these tests.
func realDocker(t *testing.T) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("engine tier only (needs a Docker engine): skipped with -short; run `make test-e2e`")
	}
	cli, err := NewDockerClient("")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
		if err != nil {
			_ = cli.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no Docker engine answers: %v", err)
		}
		t.Skipf("no Docker engine answers (set CI=true to make this a failure): %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// busyboxTar is a root filesystem holding /bin/busybox and the sh and sleep
// applets.
func busyboxTar(t *testing.T) io.Reader {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("reading /bin/busybox (Debian package busybox-static): %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: mod},
		{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), ModTime: mod},
		{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "busybox", Mode: 0o777, ModTime: mod},
		{Typeflag: tar.TypeSymlink, Name: "bin/sleep", Linkname: "busybox", Mode: 0o777, ModTime: mod},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Name == "bin/busybox" {
			if _, err := tw.Write(bb); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// ensureTestImage imports testImage unless the engine has it. It is left in
// place for the next run (and for other tests using the same name).
func ensureTestImage(ctx context.Context, t *testing.T, cli *client.Client) {
	t.Helper()
	_, err := cli.ImageInspect(ctx, testImage)
	if err == nil {
		return
	}
	if !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspecting %s: %v", testImage, err)
	}
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: busyboxTar(t), SourceName: "-"}, testImage,
		image.ImportOptions{Changes: []string{"ENV PATH=/bin"}})
	if err != nil {
		t.Fatalf("importing %s: %v", testImage, err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("importing %s: %v", testImage, err)
	}
	if bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("importing %s: %s", testImage, out)
	}
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestGatherRealEngine(t *testing.T) {
	cli := realDocker(t)
	// Its container is labelled as a module: other tests' devices must not
	// see it, nor it theirs.
	hostlock.Modules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ensureTestImage(ctx, t, cli)

	suffix := randomSuffix(t)
	name := "er-test-module-" + suffix
	vol := "er-test-vol-" + suffix
	hostPort := freePort(t)
	const memLimit = 64 << 20

	// Cleanups run last-in first-out: the container goes before its volume.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.VolumeRemove(ctx, vol, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("removing volume %s: %v", vol, err)
		}
	})
	created, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image: testImage,
			Cmd:   []string{"sleep", "300"},
			Env:   []string{"SECRET_TOKEN=s3cr3t", "IOTEDGE_MODULEID=" + name},
			Labels: map[string]string{
				OwnerLabel:         OwnerValue,
				OriginalImageLabel: "example.azurecr.io/m:1.0.0",
			},
			ExposedPorts: nat.PortSet{"9600/tcp": {}},
		},
		&container.HostConfig{
			LogConfig:    container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
			Resources:    container.Resources{Memory: memLimit},
			Mounts:       []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/data"}},
			PortBindings: nat.PortMap{"9600/tcp": {{HostIP: "127.0.0.1", HostPort: hostPort}}},
		},
		nil, nil, name)
	if err != nil {
		t.Fatalf("creating container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("starting container: %v", err)
	}

	g := NewGatherer(Config{
		EdgeHubMetrics:   "http://127.0.0.1:1/metrics",
		EdgeAgentMetrics: "http://127.0.0.1:1/metrics",
		MetricsExplicit:  true,
	}, cli, nil)
	g.NoNetworkFacts = true // the probes have their own loopback tests
	s := g.Gather(ctx)

	if s.DockerError != "" {
		t.Fatalf("DockerError = %q", s.DockerError)
	}
	for _, e := range s.PartialErrors {
		// Other containers on a shared engine may come and go; ours must not fail.
		if strings.Contains(e, name) || !strings.HasPrefix(e, "inspecting container ") {
			t.Errorf("partial error: %s", e)
		} else {
			t.Logf("partial error (another container): %s", e)
		}
	}

	e := s.Engine
	if e == nil {
		t.Fatal("Engine is nil")
	}
	for field, v := range map[string]string{
		"ServerVersion": e.ServerVersion, "APIVersion": e.APIVersion, "OS": e.OS, "Arch": e.Arch,
		"KernelVersion": e.KernelVersion, "OperatingSystem": e.OperatingSystem, "Hostname": e.Hostname,
		"LoggingDriver": e.LoggingDriver, "DockerRootDir": e.DockerRootDir,
	} {
		if v == "" {
			t.Errorf("Engine.%s is empty", field)
		}
	}
	if e.NCPU <= 0 || e.MemTotal <= 0 || e.ImagesReclaimable < 0 {
		t.Errorf("Engine NCPU=%d MemTotal=%d ImagesReclaimable=%d", e.NCPU, e.MemTotal, e.ImagesReclaimable)
	}
	t.Logf("engine %s (API %s) on %s %s, components %v", e.ServerVersion, e.APIVersion, e.OperatingSystem, e.Arch, e.Components)

	c := s.Module(name)
	if c == nil {
		t.Fatalf("container %s not among the modules (%d containers)", name, len(s.Containers))
	}
	if c.ID != created.ID || c.Image != testImage || c.ImageID == "" {
		t.Errorf("ID=%q Image=%q ImageID=%q", c.ID, c.Image, c.ImageID)
	}
	if got := c.OriginalImage(); got != "example.azurecr.io/m:1.0.0" {
		t.Errorf("OriginalImage = %q", got)
	}
	if c.Env["SECRET_TOKEN"] != "s3cr3t" || c.Env["IOTEDGE_MODULEID"] != name {
		t.Errorf("Env not parsed: %d variables", len(c.Env))
	}
	st := c.State
	if !st.Running || st.Status != "running" || st.StartedAt.IsZero() || st.Created.IsZero() ||
		!st.FinishedAt.IsZero() || st.StartedAt.Before(st.Created) || st.RestartCount != 0 || st.OOMKilled {
		t.Errorf("State = %+v", st)
	}
	if c.Memory != memLimit {
		t.Errorf("Memory = %d, want %d", c.Memory, memLimit)
	}
	if c.LogConfig.Type != "json-file" || c.LogConfig.Config["max-size"] != "10m" || c.LogConfig.Config["max-file"] != "3" {
		t.Errorf("LogConfig = %+v", c.LogConfig)
	}
	var volMount *Mount
	for i := range c.Mounts {
		if c.Mounts[i].Name == vol {
			volMount = &c.Mounts[i]
		}
	}
	if volMount == nil || volMount.Type != "volume" || volMount.Destination != "/data" || !volMount.RW || volMount.Source == "" {
		t.Errorf("Mounts = %+v, want volume %s on /data", c.Mounts, vol)
	}
	wantPort := PortBinding{ContainerPort: "9600/tcp", HostIP: "127.0.0.1", HostPort: hostPort}
	if len(c.Ports) != 1 || c.Ports[0] != wantPort {
		t.Errorf("Ports = %+v, want [%+v]", c.Ports, wantPort)
	}
	if ip := c.Networks["bridge"]; net.ParseIP(ip) == nil {
		t.Errorf("Networks = %v, want an address on bridge", c.Networks)
	}
	if c.Privileged || c.ReadonlyRootfs || c.NetworkMode == "" {
		t.Errorf("Privileged=%v ReadonlyRootfs=%v NetworkMode=%q", c.Privileged, c.ReadonlyRootfs, c.NetworkMode)
	}

	var v *Volume
	for i := range s.Volumes {
		if s.Volumes[i].Name == vol {
			v = &s.Volumes[i]
		}
	}
	if v == nil {
		t.Fatalf("volume %s not in the snapshot", vol)
	}
	if v.Driver != "local" || (v.RefCount != 1 && v.RefCount != -1) || v.Size < -1 {
		t.Errorf("Volume = %+v", *v)
	}

	var img *Image
	for i := range s.Images {
		for _, tag := range s.Images[i].RepoTags {
			if tag == testImage {
				img = &s.Images[i]
			}
		}
	}
	if img == nil || img.ID != c.ImageID || img.Size <= 0 {
		t.Errorf("image %s = %+v, want the container's image", testImage, img)
	}
	if len(s.Networks) == 0 {
		t.Error("no networks")
	}

	// The secret may live in Container.Env, nowhere else.
	s2 := *s
	s2.Containers = nil
	b, err := json.Marshal(&s2)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("s3cr3t")) {
		t.Error("the container's env value leaked outside Container.Env")
	}
	if sc := s.Metrics[EdgeHub]; sc.OK() || sc.Endpoint != "http://127.0.0.1:1/metrics" {
		t.Errorf("explicit unreachable metrics URL: %+v", sc)
	}
}

func TestGatherUnreachableEngine(t *testing.T) {
	g := OpenGatherer(Config{
		DockerHost:       "unix:///nonexistent.sock",
		EdgeHubMetrics:   "http://127.0.0.1:1/metrics",
		EdgeAgentMetrics: "http://127.0.0.1:1/metrics",
		MetricsExplicit:  true,
	})
	defer g.Close()
	g.NoNetworkFacts = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := g.Gather(ctx)
	if !strings.Contains(s.DockerError, "/nonexistent.sock") || !strings.Contains(s.DockerError, "cannot reach the Docker engine") {
		t.Errorf("DockerError = %q, want it to name /nonexistent.sock", s.DockerError)
	}
	if s.Engine != nil || s.Containers != nil || s.DockerOK() {
		t.Errorf("Engine=%v Containers=%v, want nil", s.Engine, s.Containers)
	}
	if len(s.Metrics) != 2 {
		t.Errorf("Metrics = %v, want both endpoints recorded", s.Metrics)
	}
	t.Log(s.DockerError)
}
