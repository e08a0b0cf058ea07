package testenv

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// builtLabelValue is the value of TestLabel on images BuildImage builds.
const builtLabelValue = "built"

// BuildImage builds dockerfile (a path relative to contextDir) with the
// engine's classic builder, as `DOCKER_BUILDKIT=0 docker build` would, and
// tags it tag. The context honours contextDir/.dockerignore and is streamed.
// It returns the engine's build output.
func BuildImage(t testing.TB, contextDir, dockerfile, tag string, args map[string]string) string {
	t.Helper()
	cli := RequireDocker(t)
	ignore, err := readDockerignore(filepath.Join(contextDir, ".dockerignore"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	buildArgs := map[string]*string{}
	for k, v := range args {
		buildArgs[k] = &v
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := addContext(tw, contextDir, ignore, map[string]bool{filepath.ToSlash(dockerfile): true, ".dockerignore": true})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	ctx, cancel := ctxFor(t, 15*time.Minute)
	defer cancel()
	start := time.Now()
	resp, err := cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Dockerfile: filepath.ToSlash(dockerfile),
		Tags:       []string{tag},
		BuildArgs:  buildArgs,
		Remove:     true,
		Version:    build.BuilderV1,
		Labels:     map[string]string{TestLabel: builtLabelValue},
	})
	if err != nil {
		pr.CloseWithError(err)
		t.Fatalf("testenv: building %s: %v", dockerfile, err)
	}
	defer resp.Body.Close()
	var out strings.Builder
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("testenv: building %s: reading the engine's answer: %v\n%s", dockerfile, err, tail(out.String(), 40))
		}
		out.WriteString(m.Stream)
		if m.Error != "" || m.ErrorDetail != nil {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			t.Fatalf("testenv: building %s: %s\n%s", dockerfile, msg, tail(out.String(), 40))
		}
	}
	t.Logf("testenv: built %s from %s in %s", tag, dockerfile, time.Since(start).Round(time.Second))
	builtLayers.Lock()
	for _, m := range layerRE.FindAllStringSubmatch(out.String(), -1) {
		builtLayers.ids[m[1]] = true
	}
	builtLayers.Unlock()
	return out.String()
}

// layerRE finds the image IDs the classic builder reports for each step.
var layerRE = regexp.MustCompile(`---> ([0-9a-f]{12})\b`)

// builtLayers are the images the builds of this process made or reused:
// PruneBuilds keeps them.
var builtLayers = struct {
	sync.Mutex
	ids map[string]bool
}{ids: map[string]bool{}}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ignorePattern is one line of a .dockerignore.
type ignorePattern struct {
	re        *regexp.Regexp
	exclusion bool // a "!" line: include again
}

// readDockerignore reads the patterns of a .dockerignore (none when the file
// is missing), with the builder's syntax: '#' comments, '*' and '?' within a
// path element, '**' across elements, '!' to include again, the last
// matching line winning.
func readDockerignore(p string) ([]ignorePattern, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ignorePattern
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var pat ignorePattern
		if strings.HasPrefix(line, "!") {
			pat.exclusion = true
			line = strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		re, err := globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pattern %q: %w", p, line, err)
		}
		pat.re = re
		out = append(out, pat)
	}
	return out, nil
}

func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			i++
			if i+1 < len(glob) && glob[i+1] == '/' {
				i++
				b.WriteString("(.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// ignored tells whether the slash-separated relative path is excluded: a
// pattern matching the path or one of its parent directories excludes it.
func ignored(rel string, pats []ignorePattern) bool {
	excluded := false
	for _, p := range pats {
		match := false
		for cand := rel; ; {
			if p.re.MatchString(cand) {
				match = true
				break
			}
			i := strings.LastIndex(cand, "/")
			if i < 0 {
				break
			}
			cand = cand[:i]
		}
		if match {
			excluded = !p.exclusion
		}
	}
	return excluded
}

// addContext adds the build context: the files of dir that .dockerignore
// keeps, plus the always set (Dockerfile, .dockerignore), owned by root.
func addContext(tw *tar.Writer, dir string, pats []ignorePattern, always map[string]bool) error {
	hasExclusions := false
	for _, p := range pats {
		hasExclusions = hasExclusions || p.exclusion
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignored(rel, pats) && !always[rel] {
			if d.IsDir() && !hasExclusions {
				return filepath.SkipDir
			}
			return nil
		}
		return addEntry(tw, p, rel, d)
	})
}

// FileFromImage returns the content of one file of a local image, read from
// a container created (never started) from it.
func FileFromImage(t testing.TB, ref, file string) []byte {
	t.Helper()
	cli := RequireDocker(t)
	ctx, cancel := ctxFor(t, 2*time.Minute)
	defer cancel()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: ref, Labels: map[string]string{TestLabel: "copy"}},
		nil, nil, nil, "")
	if err != nil {
		t.Fatalf("testenv: creating a container of %s: %v", ref, err)
	}
	defer func() {
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	}()
	rc, _, err := cli.CopyFromContainer(ctx, c.ID, file)
	if err != nil {
		t.Fatalf("testenv: copying %s out of %s: %v", file, ref, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("testenv: %s holds no %s: %v", ref, file, err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("testenv: reading %s of %s: %v", file, ref, err)
			}
			return b
		}
	}
}

// PruneBuilds removes what image builds from the Go toolchain image left
// before the given time: the build stages' final layers (they carry the
// toolchain image's label) and earlier versions of the images built
// (BuildImage labels them), when no tag or container uses them any more.
// What this process's builds made or reused stays, as cache for the next
// run. Call it when the builds are done (TestMain, after m.Run).
func PruneBuilds(before time.Time) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, label := range []string{TestLabel + "=go-toolchain", TestLabel + "=" + builtLabelValue} {
		list, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
			filters.Arg("dangling", "true"), filters.Arg("label", label))})
		if err != nil {
			return err
		}
		for _, im := range list {
			id := strings.TrimPrefix(im.ID, "sha256:")
			builtLayers.Lock()
			keep := len(id) >= 12 && builtLayers.ids[id[:12]]
			builtLayers.Unlock()
			if !keep && time.Unix(im.Created, 0).Before(before) {
				if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{PruneChildren: true}); err != nil &&
					!cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// BuiltAny tells whether this process built an image with BuildImage.
func BuiltAny() bool {
	builtLayers.Lock()
	defer builtLayers.Unlock()
	return len(builtLayers.ids) > 0
}
