package testenv

import (
	"archive/tar"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Local images the tests use. Nothing is pulled: both are made with
// `docker import` from files of the host.
const (
	BusyboxRef        = "er-test/busybox:local"
	GoToolchainRepo   = "er-test/go-toolchain"
	HostBusybox       = "/bin/busybox"
	HostCACertificate = "/etc/ssl/certs/ca-certificates.crt"
	// TestLabel marks what testenv creates (images, containers, volumes,
	// networks), so that leftovers of an aborted run can be found.
	TestLabel = "er-test.testenv"
)

// busyboxApplets are linked to /bin/busybox in the images. Device
// containers still call /bin/busybox <applet> explicitly, so that an image of
// the same name made by another helper works as well.
var busyboxApplets = []string{"sh", "sleep", "httpd", "cat", "mkdir", "ls", "echo", "env", "true", "false",
	"wget", "rm", "cp", "mv", "tar", "gzip", "find", "grep", "sed", "id", "uname"}

// BusyboxImage makes sure the image er-test/busybox:local exists and returns
// its name. It holds the host's static busybox (Debian package
// busybox-static) and links /bin/sh, /bin/sleep, /bin/httpd, ... to it. An
// image of that name that exists already is reused.
func BusyboxImage(t TB) string {
	t.Helper()
	cli := RequireDocker(t)
	ensureImage(t, cli, BusyboxRef, 2*time.Minute, func(tw *tar.Writer) error {
		if err := addBusybox(tw); err != nil {
			return err
		}
		return addDir(tw, "tmp/", 0o1777)
	}, "LABEL "+TestLabel+"=busybox", `CMD ["/bin/sh"]`)
	return BusyboxRef
}

// GoToolchainImage makes sure the image er-test/go-toolchain:<go version>
// exists and returns its name: the host's Go installation (go env GOROOT,
// normally /usr/local/go) at /usr/local/go, busybox for /bin/sh, the host's
// CA certificates and an empty /tmp, with PATH, GOPATH=/go,
// GOCACHE=/tmp/gocache, GOTOOLCHAIN=local, CGO_ENABLED=0 and the host's
// GOPROXY. It stands in for golang:1.26-bookworm as the Dockerfiles'
// BUILDER_IMAGE, since no image can be pulled.
func GoToolchainImage(t TB) string {
	t.Helper()
	cli := RequireDocker(t)
	goroot := goEnv(t, "GOROOT")
	if goroot == "" {
		goroot = "/usr/local/go"
	}
	ver, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		t.Fatalf("testenv: reading the Go version: %v", err)
	}
	v := strings.TrimSpace(strings.SplitN(string(ver), "\n", 2)[0])
	ref := GoToolchainRepo + ":" + v
	changes := []string{
		"ENV PATH=/usr/local/go/bin:/go/bin:/bin",
		"ENV GOPATH=/go",
		"ENV GOCACHE=/tmp/gocache",
		"ENV GOTOOLCHAIN=local",
		"ENV CGO_ENABLED=0",
		"ENV GOPROXY=" + goEnv(t, "GOPROXY"),
		"LABEL " + TestLabel + "=go-toolchain",
		"WORKDIR /",
	}
	if sumdb := goEnv(t, "GOSUMDB"); sumdb != "" {
		changes = append(changes, "ENV GOSUMDB="+sumdb)
	}
	ensureImage(t, cli, ref, 10*time.Minute, func(tw *tar.Writer) error {
		if err := addBusybox(tw); err != nil {
			return err
		}
		for _, d := range []struct {
			name string
			mode int64
		}{{"tmp/", 0o1777}, {"go/", 0o777}, {"etc/", 0o755}, {"etc/ssl/", 0o755}, {"etc/ssl/certs/", 0o755},
			{"usr/", 0o755}, {"usr/local/", 0o755}} {
			if err := addDir(tw, d.name, d.mode); err != nil {
				return err
			}
		}
		if err := addFile(tw, HostCACertificate, "etc/ssl/certs/ca-certificates.crt"); err != nil {
			return err
		}
		return addTree(tw, goroot, "usr/local/go")
	}, changes...)
	return ref
}

func goEnv(t TB, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("testenv: go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// ensureImage imports the tar that fill writes as ref, unless ref exists.
// The tar is streamed to the engine, never held in memory.
func ensureImage(t TB, cli *client.Client, ref string, timeout time.Duration, fill func(*tar.Writer) error, changes ...string) {
	t.Helper()
	defer lockKey(t, "import "+ref)()
	ctx, cancel := ctxFor(t, timeout)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return
	} else if !cerrdefs.IsNotFound(err) {
		t.Fatalf("testenv: inspecting image %s: %v", ref, err)
	}
	start := time.Now()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := fill(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref,
		image.ImportOptions{Changes: changes, Message: "made by internal/testenv"})
	if err != nil {
		pr.CloseWithError(err)
		t.Fatalf("testenv: importing image %s: %v", ref, err)
	}
	defer rc.Close()
	if err := readJSONMessages(rc); err != nil {
		t.Fatalf("testenv: importing image %s: %v", ref, err)
	}
	t.Logf("testenv: imported image %s in %s", ref, time.Since(start).Round(time.Millisecond))
}

// readJSONMessages drains an engine progress stream and returns its error, if any.
func readJSONMessages(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the engine's answer: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// addBusybox adds bin/busybox from the host and its applet links.
func addBusybox(tw *tar.Writer) error {
	if err := checkStatic(HostBusybox); err != nil {
		return err
	}
	if err := addDir(tw, "bin/", 0o755); err != nil {
		return err
	}
	if err := addFile(tw, HostBusybox, "bin/busybox"); err != nil {
		return err
	}
	for _, a := range busyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox",
			Mode: 0o777, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
	}
	return nil
}

// checkStatic fails unless the file is a statically linked ELF executable:
// the images have no C library.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %w (install the Debian package busybox-static)", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install the Debian package busybox-static", p)
		}
	}
	return nil
}

func addDir(tw *tar.Writer, name string, mode int64) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: time.Unix(0, 0)})
}

// addFile adds one regular file of the host, owned by root.
func addFile(tw *tar.Writer, src, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: fi.Size(),
		Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// addTree adds the directory tree root under the name prefix, files owned by root.
func addTree(tw *tar.Writer, root, prefix string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return addEntry(tw, p, path.Join(prefix, filepath.ToSlash(rel)), d)
	})
}

// addEntry adds one walked entry under name: a directory, a symlink or a
// regular file, owned by root. Sockets and devices are skipped.
func addEntry(tw *tar.Writer, p, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	switch {
	case d.IsDir():
		return addDir(tw, name+"/", int64(info.Mode().Perm()))
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777,
			ModTime: info.ModTime()})
	case info.Mode().IsRegular():
		return addFile(tw, p, name)
	}
	return nil
}

// ImageSize returns the size of a local image in bytes.
func ImageSize(t testing.TB, ref string) int64 {
	t.Helper()
	return InspectImage(t, ref).Size
}

// InspectImage returns what `docker image inspect` shows of a local image.
func InspectImage(t testing.TB, ref string) image.InspectResponse {
	t.Helper()
	cli := RequireDocker(t)
	ctx, cancel := ctxFor(t, 30*time.Second)
	defer cancel()
	ii, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("testenv: inspecting image %s: %v", ref, err)
	}
	return ii
}
