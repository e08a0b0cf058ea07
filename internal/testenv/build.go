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
	"sort"
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
func BuildImage(t TB, contextDir, dockerfile, tag string, args map[string]string) string {
	t.Helper()
	return buildImage(t, contextDir, dockerfile, tag, "", args)
}

// BuildImageFor builds dockerfile as BuildImage does, but with the engine's
// BuildKit for platform (os/arch[/variant], such as linux/arm/v7), as
// `DOCKER_BUILDKIT=1 docker build --platform PLATFORM` would: the image's
// configuration carries that platform, and the Dockerfile sees it in
// TARGETPLATFORM, TARGETOS, TARGETARCH and TARGETVARIANT. The engine's
// BuildKit takes a FROM image from the local images when one of that name
// and of the stage's platform exists (no pull), so a stage FROM
// --platform=$BUILDPLATFORM can use GoToolchainImage. It returns the build's
// log: the steps and their output.
func BuildImageFor(t TB, contextDir, dockerfile, tag, platform string, args map[string]string) string {
	t.Helper()
	if platform == "" {
		t.Fatal("testenv: BuildImageFor needs a platform")
	}
	return buildImage(t, contextDir, dockerfile, tag, platform, args)
}

// buildImage builds with the classic builder when platform is empty, else
// with BuildKit for platform.
func buildImage(t TB, contextDir, dockerfile, tag, platform string, args map[string]string) string {
	t.Helper()
	cli := RequireDocker(t)
	defer lockKey(t, buildKey(contextDir, dockerfile, tag, platform, args))()
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
	opts := build.ImageBuildOptions{
		Dockerfile: filepath.ToSlash(dockerfile),
		Tags:       []string{tag},
		BuildArgs:  buildArgs,
		Remove:     true,
		Version:    build.BuilderV1,
		Labels:     map[string]string{TestLabel: builtLabelValue},
	}
	if platform != "" {
		// No session: the engine's BuildKit reads the context from the
		// request body, as the classic builder does.
		opts.Version = build.BuilderBuildKit
		opts.Platform = platform
	}
	resp, err := cli.ImageBuild(ctx, pr, opts)
	if err != nil {
		pr.CloseWithError(err)
		t.Fatalf("testenv: building %s: %v", dockerfile, err)
	}
	defer resp.Body.Close()
	var out strings.Builder
	trace := newTraceLog(&out)
	var imageID string
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var m struct {
			Stream      string          `json:"stream"`
			ID          string          `json:"id"`
			Aux         json.RawMessage `json:"aux"`
			Error       string          `json:"error"`
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
		switch m.ID {
		case "moby.buildkit.trace":
			var status []byte // base64 in JSON: a protobuf StatusResponse
			if err := json.Unmarshal(m.Aux, &status); err == nil {
				trace.add(status)
			}
		case "moby.image.id":
			var aux struct {
				ID string `json:"ID"`
			}
			if err := json.Unmarshal(m.Aux, &aux); err == nil {
				imageID = strings.TrimPrefix(aux.ID, "sha256:")
			}
		}
		if m.Error != "" || m.ErrorDetail != nil {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			t.Fatalf("testenv: building %s: %s\n%s", dockerfile, msg, tail(out.String(), 40))
		}
	}
	how := "the classic builder"
	if platform != "" {
		how = "BuildKit for " + platform
	}
	t.Logf("testenv: built %s from %s with %s in %s", tag, dockerfile, how, time.Since(start).Round(time.Second))
	builtLayers.Lock()
	for _, m := range layerRE.FindAllStringSubmatch(out.String(), -1) {
		builtLayers.ids[m[1]] = true
	}
	if len(imageID) >= 12 {
		builtLayers.ids[imageID[:12]] = true
	}
	if platform != "" {
		builtLayers.buildkit = true
	}
	builtLayers.Unlock()
	return out.String()
}

// buildKey names a build by all that makes it: two builds of one key are
// the same build, the second a hit of the first's cache.
func buildKey(contextDir, dockerfile, tag, platform string, args map[string]string) string {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "build %s %s %s %s", contextDir, dockerfile, tag, platform)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, args[k])
	}
	return b.String()
}

// keyLocks holds one lock per build or image import: a test asking for an
// image that InBackground is making waits for it, then finds it built (or
// its build cached), rather than making it a second time beside it.
var keyLocks sync.Map // string -> *sync.Mutex

// lockKey takes the lock of key and returns its release.
func lockKey(t TB, key string) func() {
	t.Helper()
	m, _ := keyLocks.LoadOrStore(key, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	start := time.Now()
	mu.Lock()
	if waited := time.Since(start); waited > time.Second {
		t.Logf("testenv: waited %s for the same work in the background (%s)", waited.Round(time.Second), key)
	}
	return mu.Unlock
}

// InBackground runs f at once in a goroutine of its own, outside any test,
// and returns a function that waits for it and returns why it stopped
// early, if it did. It is meant for TestMain to start the image builds that
// later tests need (BuildImage, BuildImageFor, GoToolchainImage), so that
// they proceed while other tests run: a test that asks for an image being
// built waits for that build, then reuses it.
func InBackground(f func(t TB)) (wait func() error) {
	b := &background{}
	done := make(chan error, 1)
	go func() { done <- b.run(f) }()
	return sync.OnceValue(func() error { return <-done })
}

// layerRE finds the image IDs the classic builder reports for each step.
var layerRE = regexp.MustCompile(`---> ([0-9a-f]{12})\b`)

// builtLayers are the images the builds of this process made or reused:
// PruneBuilds keeps them. buildkit tells whether a build used BuildKit,
// whose cache PruneBuilds trims too.
var builtLayers = struct {
	sync.Mutex
	ids      map[string]bool
	buildkit bool
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

// buildCacheKept is how long PruneBuilds keeps BuildKit cache records
// that nothing has used.
const buildCacheKept = 24 * time.Hour

// PruneBuilds removes what image builds from the Go toolchain image left
// before the given time: the build stages' final layers (they carry the
// toolchain image's label) and earlier versions of the images built
// (BuildImage and BuildImageFor label them), when no tag or container uses
// them any more. What this process's builds made or reused stays, as cache
// for the next run. After BuildKit builds it also removes the engine's
// BuildKit cache records unused for buildCacheKept. Call it when the builds
// are done (TestMain, after m.Run).
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
	builtLayers.Lock()
	buildkit := builtLayers.buildkit
	builtLayers.Unlock()
	if buildkit {
		// The engine's BuildKit keeps its cache apart from the images and, on
		// Docker 20.10, collects no garbage unless daemon.json says so. A
		// record this run only hit may not count as used since `before`
		// (seen on 20.10): keep a day's records instead.
		if _, err := cli.BuildCachePrune(ctx, build.CachePruneOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("until", buildCacheKept.String()))}); err != nil {
			errs = append(errs, fmt.Errorf("pruning the build cache: %w", err))
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
