package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// This file needs no Docker engine. It holds ports of the rules by which
// the IoT Edge tooling reads module.json and the deployment template, so
// that a test proves the tooling can build this repository without the
// tooling itself (iotedgedev is Python, from PyPI; the VS Code extension is
// TypeScript). Sources, read at these commits:
//
//   - Azure/iotedgedev 8765d719aa18c97ce3ebd02fdc51236210b3daf3:
//     iotedgedev/buildoptionsparser.py (BuildOptionsParser, cli_sdk_mapping,
//     split_build_option), iotedgedev/modules.py (build_push,
//     _update_module_maps), iotedgedev/module.py, iotedgedev/constants.py
//     (moduledir_placeholder_pattern, default_platform) and
//     iotedgedev/utility.py (get_file_contents: os.path.expandvars).
//   - microsoft/vscode-azure-iot-edge 2264eb030c87af511d43d167f5303a3ae53b01bf:
//     src/container/containerManager.ts (constructBuildCmd),
//     src/common/utility.ts (setModuleMap, getExternalModules, expandEnv,
//     getImage) and src/common/constants.ts (placeholder patterns).
//
// iotedgedev builds with the Docker SDK for Python (docker-py's
// APIClient.build: the engine's classic builder, never BuildKit), turning
// each buildOptions entry into an SDK argument; the VS Code extension runs
// `docker build <entries joined by spaces> --rm -f <Dockerfile> -t <image>
// <context>` in a terminal (BuildKit when the docker CLI uses it).

// iotedgedevIgnored are the options iotedgedev drops, saying so
// (BuildOptionsParser.filter_set); the VS Code extension drops the same.
var iotedgedevIgnored = []string{"--rm", "--tag", "-t", "--file", "-f"}

// pyValue is a Python value: nil for None.
type pyValue = *string

// iotedgedevOption is one entry of cli_sdk_mapping: the docker-py argument
// a docker build option becomes, and how its value is parsed.
type iotedgedevOption struct {
	sdkKey string
	parse  func(sdk map[string]any, sdkKey string, val pyValue) error
}

// errNoneValue is the TypeError Python raises for `'=' in None`: an option
// that needs a value given alone (as "--build-arg" in its own entry).
var errNoneValue = errors.New("TypeError: argument of type 'NoneType' is not iterable")

// iotedgedevOptions is cli_sdk_mapping: every docker build option
// iotedgedev accepts; any other is refused with a KeyError.
var iotedgedevOptions = map[string]iotedgedevOption{
	"--add-host":    {"extra_hosts", toDict(splitHost)},
	"--build-arg":   {"buildargs", toDict(splitArg)},
	"--cache-from":  {"cache_from", toList},
	"--cpu-shares":  {"cpushares", toContainerLimits},
	"-c":            {"cpushares", toContainerLimits},
	"--cpuset-cpus": {"cpusetcpus", toContainerLimits},
	"--file":        {"dockerfile", toVal},
	"-f":            {"dockerfile", toVal},
	"--force-rm":    {"forcerm", toFlag},
	"--label":       {"labels", toDict(splitKV)},
	"--memory":      {"memory", toContainerLimits},
	"-m":            {"memory", toContainerLimits},
	"--memory-swap": {"memswap", toContainerLimits},
	"--network":     {"network_mode", toVal},
	"--no-cache":    {"nocache", toFlag},
	"--platform":    {"platform", toVal},
	"--pull":        {"pull", toFlag},
	"--quiet":       {"quiet", toFlag},
	"-q":            {"quiet", toFlag},
	"--rm":          {"rm", toFlag},
	"--shm-size":    {"shmsize", toVal},
	"--squash":      {"squash", toFlag},
	"--tag":         {"tag", toVal},
	"-t":            {"tag", toVal},
	"--target":      {"target", toVal},
}

// toDict is parse_to_dict: the value split into a key and a value of a map.
func toDict(split func(pyValue) (string, pyValue, error)) func(map[string]any, string, pyValue) error {
	return func(sdk map[string]any, sdkKey string, val pyValue) error {
		k, v, err := split(val)
		if err != nil {
			return err
		}
		m, _ := sdk[sdkKey].(map[string]pyValue)
		if m == nil {
			m = map[string]pyValue{}
			sdk[sdkKey] = m
		}
		m[k] = v
		return nil
	}
}

// splitHost is split_host: "host:ip", else an error.
func splitHost(val pyValue) (string, pyValue, error) {
	if val == nil {
		return "", nil, errNoneValue
	}
	k, v, ok := strings.Cut(*val, ":")
	if !ok {
		return "", nil, errors.New("Exception: Error host:ip format.")
	}
	return k, &v, nil
}

// splitArg is split_arg: "NAME=value", or NAME alone with a None value.
func splitArg(val pyValue) (string, pyValue, error) {
	if val == nil {
		return "", nil, errNoneValue
	}
	k, v, ok := strings.Cut(*val, "=")
	if !ok {
		return *val, nil, nil
	}
	return k, &v, nil
}

// splitKV is split_kv: "key=value", or key alone with an empty value.
func splitKV(val pyValue) (string, pyValue, error) {
	if val == nil {
		return "", nil, errNoneValue
	}
	k, v, _ := strings.Cut(*val, "=")
	return k, &v, nil
}

// toList is parse_to_list.
func toList(sdk map[string]any, sdkKey string, val pyValue) error {
	l, _ := sdk[sdkKey].([]pyValue)
	sdk[sdkKey] = append(l, val)
	return nil
}

// toVal is parse_val.
func toVal(sdk map[string]any, sdkKey string, val pyValue) error {
	sdk[sdkKey] = val
	return nil
}

// toContainerLimits is parse_container_limits.
func toContainerLimits(sdk map[string]any, sdkKey string, val pyValue) error {
	m, _ := sdk["container_limits"].(map[string]pyValue)
	if m == nil {
		m = map[string]pyValue{}
		sdk["container_limits"] = m
	}
	m[sdkKey] = val
	return nil
}

// toFlag is parse_flag: no value means true, else true or false in any case.
func toFlag(sdk map[string]any, sdkKey string, val pyValue) error {
	if val == nil || *val == "" {
		sdk[sdkKey] = true
		return nil
	}
	switch strings.ToLower(*val) {
	case "true":
		sdk[sdkKey] = true
	case "false":
		sdk[sdkKey] = false
	default:
		return errors.New("ValueError: Bool value should be 'True' or 'False'.")
	}
	return nil
}

// splitBuildOption is split_build_option on an entry already stripped:
// split at runs of whitespace, keeping the first two parts (any further
// part is dropped without a word); one part alone is split at its first
// "=", and the value is None when there is none.
func splitBuildOption(entry string) (string, pyValue) {
	parts := strings.Fields(entry)
	if len(parts) == 0 {
		parts = []string{""}
	}
	if len(parts) == 1 {
		if k, v, ok := strings.Cut(parts[0], "="); ok {
			return k, &v
		}
		return parts[0], nil
	}
	return parts[0], &parts[1]
}

// iotedgedevBuildOptions is BuildOptionsParser.parse_build_options: the
// keyword arguments iotedgedev passes to docker-py's build for a module's
// buildOptions, the options it ignores, or the error it stops with.
func iotedgedevBuildOptions(entries []string) (sdk map[string]any, ignored []string, err error) {
	sdk = map[string]any{}
	type kv struct {
		key string
		val pyValue
	}
	var kept []kv
	for _, e := range entries {
		k, v := splitBuildOption(strings.TrimSpace(e))
		switch {
		case k == "":
		case contains(iotedgedevIgnored, k):
			ignored = append(ignored, k)
		default:
			kept = append(kept, kv{k, v})
		}
	}
	for _, o := range kept {
		opt, ok := iotedgedevOptions[o.key]
		if !ok {
			return nil, ignored, fmt.Errorf("KeyError: 'Not supported build option %s.'", o.key)
		}
		if err := opt.parse(sdk, opt.sdkKey, o.val); err != nil {
			return nil, ignored, fmt.Errorf("%s: %w", o.key, err)
		}
	}
	return sdk, ignored, nil
}

// pyRepr shows SDK arguments as Python would, None and strings included.
func pyRepr(v any) string {
	switch v := v.(type) {
	case pyValue:
		if v == nil {
			return "None"
		}
		return fmt.Sprintf("'%s'", *v)
	case bool:
		if v {
			return "True"
		}
		return "False"
	case []pyValue:
		var parts []string
		for _, x := range v {
			parts = append(parts, pyRepr(x))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]pyValue:
		m := map[string]any{}
		for k, x := range v {
			m[k] = x
		}
		return pyRepr(m)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("'%s': %s", k, pyRepr(v[k])))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// vscodeBuildCommand is ContainerManager.constructBuildCmd on Linux: the
// command line the VS Code extension runs in a shell.
func vscodeBuildCommand(image, dockerfile, contextPath string, entries []string) string {
	var kept []string
	for _, e := range entries {
		parts := strings.Fields(strings.TrimSpace(e))
		if len(parts) > 0 && !contains(iotedgedevIgnored, parts[0]) {
			kept = append(kept, e)
		}
	}
	return fmt.Sprintf(`docker build %s --rm -f "%s" -t %s "%s"`, strings.Join(kept, " "), dockerfile, image, contextPath)
}

// checkBuildOptions tells what is wrong with buildOptions for either tool:
// what iotedgedev refuses, and what the two tools would read differently.
// Each entry must be one whole option, "--name value" or "--name=value",
// as iotedgedev reads an entry (a third part would be dropped without a
// word), with no quotes or other shell syntax, as the VS Code extension
// passes the entries to a shell.
func checkBuildOptions(entries []string) []string {
	var problems []string
	if _, _, err := iotedgedevBuildOptions(entries); err != nil {
		problems = append(problems, "iotedgedev stops: "+err.Error())
	}
	for _, e := range entries {
		if parts := strings.Fields(e); len(parts) > 2 {
			problems = append(problems, fmt.Sprintf("%q: iotedgedev keeps %q and drops %q", e, parts[:2], parts[2:]))
		}
		if strings.ContainsAny(e, "\"'`$\\;&|<>(){}*?~#") {
			problems = append(problems, fmt.Sprintf("%q: a shell (the VS Code extension's) reads it otherwise than iotedgedev", e))
		}
	}
	return problems
}

// moduleDirPlaceholder is the tools' ${MODULEDIR<dir>} or
// ${MODULEDIR<dir>.platform} image placeholder: the module whose
// module.json is in dir, relative to the template's folder (iotedgedev's
// moduledir_placeholder_pattern; the extension's
// externalModulePlaceholderPattern is the same).
var moduleDirPlaceholder = regexp.MustCompile(`\$\{MODULEDIR<(.+)>(\..+)?\}`)

// moduleImage is the image tag both tools give a module's platform:
// repository:version[-CONTAINER_TAG]-platform (iotedgedev lowercases the
// repository; the extension does not, which matters only for upper case).
func moduleImage(mj *moduleJSON, containerTag, platform string) string {
	if containerTag != "" {
		containerTag = "-" + containerTag
	}
	return strings.ToLower(mj.Image.Repository) + ":" + mj.Image.Tag.Version + containerTag + "-" + platform
}

// expandVars is Python's os.path.expandvars (posixpath), which iotedgedev
// applies to module.json and to the template: $NAME and ${NAME} become the
// variable's value when it is set, and stay as they are when not. The
// extension's expandEnv does the same for $NAME and ${NAME} of word
// characters, except a few keys such as $edgeAgent.
func expandVars(s string, env map[string]string) string {
	return pyVarRE.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "$"), "{"), "}")
		if v, ok := env[name]; ok {
			return v
		}
		return m
	})
}

var pyVarRE = regexp.MustCompile(`\$(\w+|\{[^}]*\})`)

// TestBuildOptionsParser checks the port against what the tools do with
// known entries, the old module.json's among them.
func TestBuildOptionsParser(t *testing.T) {
	s := func(v string) pyValue { return &v }
	for _, c := range []struct {
		entries []string
		sdk     map[string]any
		ignored []string
		err     string
	}{
		{entries: []string{"--build-arg VERSION=0.1.0"}, sdk: map[string]any{"buildargs": map[string]pyValue{"VERSION": s("0.1.0")}}},
		{entries: []string{"--build-arg=VERSION=0.1.0"}, sdk: map[string]any{"buildargs": map[string]pyValue{"VERSION": s("0.1.0")}}},
		{entries: []string{"  --build-arg   A=1  ", "--build-arg B"}, sdk: map[string]any{"buildargs": map[string]pyValue{"A": s("1"), "B": nil}}},
		// The old module.json: each token its own entry.
		{entries: []string{"--build-arg", "VERSION=0.1.0"}, err: "--build-arg: " + errNoneValue.Error()},
		{entries: []string{"VERSION=0.1.0"}, err: "KeyError: 'Not supported build option VERSION.'"},
		{entries: []string{"--rm", "-t x", "--file=Dockerfile", ""}, sdk: map[string]any{}, ignored: []string{"--rm", "-t", "--file"}},
		{entries: []string{"--no-cache", "--pull false", "--platform linux/arm/v7"},
			sdk: map[string]any{"nocache": true, "pull": false, "platform": s("linux/arm/v7")}},
		{entries: []string{"--squash maybe"}, err: "--squash: ValueError: Bool value should be 'True' or 'False'."},
		{entries: []string{"--add-host myhost"}, err: "--add-host: Exception: Error host:ip format."},
		{entries: []string{"--memory 64m", "--label a"},
			sdk: map[string]any{"container_limits": map[string]pyValue{"memory": s("64m")}, "labels": map[string]pyValue{"a": s("")}}},
		{entries: []string{"--secret id=x"}, err: "KeyError: 'Not supported build option --secret.'"},
		{entries: []string{"--label a=b c=d"}, sdk: map[string]any{"labels": map[string]pyValue{"a": s("b")}}},
	} {
		sdk, ignored, err := iotedgedevBuildOptions(c.entries)
		if got := fmt.Sprint(err); (err != nil || c.err != "") && got != c.err {
			t.Errorf("%q: error %v, want %q", c.entries, err, c.err)
			continue
		}
		if c.err == "" && (!reflect.DeepEqual(sdk, c.sdk) || !reflect.DeepEqual(ignored, c.ignored)) {
			t.Errorf("%q: sdk %s, ignored %v; want %s, %v", c.entries, pyRepr(sdk), ignored, pyRepr(c.sdk), c.ignored)
		}
	}
	if p := checkBuildOptions([]string{"--label a=b c=d"}); len(p) != 1 || !strings.Contains(p[0], "drops") {
		t.Errorf("a third part: %q", p)
	}
	if p := checkBuildOptions([]string{`--build-arg "A=1"`}); len(p) != 1 || !strings.Contains(p[0], "shell") {
		t.Errorf("quotes: %q", p)
	}
}

// TestModuleBuildsWithTooling reads module.json and the template as the
// tools do: module.json's buildOptions pass iotedgedev's parser and mean
// the same to the VS Code extension (VERSION = tag.version), and the
// template's image placeholder resolves, from this repository as it is, to
// module.json beside the Dockerfiles and to one tag per platform.
func TestModuleBuildsWithTooling(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CONTAINER_REGISTRY_ADDRESS": registry}
	var mj moduleJSON
	decodeStrict(t, "module.json", []byte(expandVars(string(readRepoFile(t, "module.json")), env)), &mj)

	if p := checkBuildOptions(mj.Image.BuildOptions); len(p) > 0 {
		t.Errorf("module.json's buildOptions %q:\n%s", mj.Image.BuildOptions, strings.Join(p, "\n"))
	}
	sdk, ignored, err := iotedgedevBuildOptions(mj.Image.BuildOptions)
	wantSDK := map[string]any{"buildargs": map[string]pyValue{"VERSION": &mj.Image.Tag.Version}}
	if err != nil || len(ignored) > 0 || !reflect.DeepEqual(sdk, wantSDK) {
		t.Errorf("iotedgedev reads buildOptions %q as %s (ignored %v, error %v), want %s", mj.Image.BuildOptions, pyRepr(sdk), ignored, err, pyRepr(wantSDK))
	}
	cmd := vscodeBuildCommand("IMAGE", "DOCKERFILE", "CONTEXT", mj.Image.BuildOptions)
	if want := `docker build --build-arg VERSION=` + mj.Image.Tag.Version + ` --rm -f "DOCKERFILE" -t IMAGE "CONTEXT"`; cmd != want {
		t.Errorf("the VS Code extension runs\n%s\nwant\n%s", cmd, want)
	}

	// The template's image: ${MODULEDIR<dir>} with dir relative to the
	// template's folder, holding module.json; no modules/ folder needed.
	template := filepath.Join(root, "deployment", "deployment.template.json")
	var images []string
	for _, m := range moduleDirPlaceholder.FindAllStringSubmatch(string(readRepoFile(t, "deployment/deployment.template.json")), -1) {
		images = append(images, m[0])
		dir := filepath.Join(filepath.Dir(template), m[1])
		if _, err := os.Stat(filepath.Join(dir, "module.json")); err != nil {
			t.Errorf("%s: no module.json in %s: %v", m[0], dir, err)
		}
		if dir != root {
			t.Errorf("%s names %s, want the repository root", m[0], dir)
		}
		if m[2] != "" {
			t.Errorf("%s names platform %s: the tools' --platform / default platform should choose it", m[0], m[2])
		}
	}
	if len(images) != 1 {
		t.Fatalf("image placeholders ${MODULEDIR<...>} in the template: %q, want one", images)
	}
	for plat, df := range mj.Image.Tag.Platforms {
		if _, err := os.Stat(filepath.Join(root, mj.Image.ContextPath, df)); err != nil {
			t.Errorf("platform %s: %v", plat, err)
		}
		want := registry + "/edge-readiness:" + mj.Image.Tag.Version + "-" + plat
		if got := moduleImage(&mj, "", plat); got != want {
			t.Errorf("platform %s: tag %s, want %s", plat, got, want)
		}
	}
}
