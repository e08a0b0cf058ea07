package manifest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// DefaultPlatform is the platform an image placeholder without one resolves
// to, as iotedgedev's and the VS Code extension's default platform.
const DefaultPlatform = "amd64"

// Image placeholders of the IoT Edge tooling (iotedgedev modules.py
// _update_module_maps; the VS Code extension's imagePlaceholderPattern):
// ${MODULES.<folder>} or ${MODULES.<folder>.<platform>}, with <folder> a
// folder of the modules directory holding module.json, and
// ${MODULEDIR<dir>} or ${MODULEDIR<dir>.<platform>}, with dir relative to
// the template's folder. ".debug" means the default platform's debug build.
var (
	modulesPlaceholderRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\$\{MODULES\.([^.}]+)(\.[^}]+)?\}$`) })
	moduleDirPlaceholderRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\$\{MODULEDIR<(.+)>(\..+)?\}$`) })
)

// moduleJSON is what the tooling reads of a module's module.json.
type moduleJSON struct {
	Image struct {
		Repository string `json:"repository"`
		Tag        struct {
			Version   string            `json:"version"`
			Platforms map[string]string `json:"platforms"`
		} `json:"tag"`
	} `json:"image"`
}

// imageResolver turns image placeholders into the tags the tooling builds.
type imageResolver struct {
	vars       Vars
	modulesDir string // "" unless --modules-dir is given
	baseDir    string // the manifest's folder
	platform   string
}

// resolve returns the image a placeholder stands for, or the image as it is
// when it is no placeholder. why says what kept a placeholder unresolved.
func (r *imageResolver) resolve(image string) (out, why string) {
	var dir, plat string
	if m := modulesPlaceholderRE().FindStringSubmatch(image); m != nil {
		if r.modulesDir == "" {
			return image, "give --modules-dir to resolve it from the module's module.json"
		}
		dir, plat = filepath.Join(r.modulesDir, m[1]), m[2]
	} else if m := moduleDirPlaceholderRE().FindStringSubmatch(image); m != nil {
		dir, plat = filepath.Join(r.baseDir, filepath.FromSlash(m[1])), m[2]
	} else {
		return image, ""
	}
	platform := r.platform
	if platform == "" {
		platform = DefaultPlatform
	}
	switch plat = strings.TrimPrefix(plat, "."); plat {
	case "":
	case "debug":
		platform += ".debug"
	default:
		platform = plat
	}
	file := filepath.Join(dir, "module.json")
	data, err := readAtMost(file, maxModuleJSON, "module.json")
	if err != nil {
		return image, fmt.Sprintf("no usable module.json for it (%v)", err)
	}
	// iotedgedev expands variables in module.json before reading it.
	text, _ := r.vars.expand(string(data))
	var mj moduleJSON
	if err := json.Unmarshal([]byte(strings.TrimPrefix(text, "\ufeff")), &mj); err != nil {
		return image, fmt.Sprintf("%s is not valid JSON: %v", file, err)
	}
	if _, ok := mj.Image.Tag.Platforms[platform]; !ok {
		return image, fmt.Sprintf("%s has no platform %s", file, platform)
	}
	version := mj.Image.Tag.Version
	if version == "" {
		version = "0.0.0"
	}
	tag := ""
	if ct := r.vars["CONTAINER_TAG"]; ct != "" {
		tag = "-" + ct
	}
	return fmt.Sprintf("%s:%s%s-%s", lowerKeepVars(mj.Image.Repository), version, tag, platform), ""
}

// lowerKeepVars lower-cases a repository as the tooling does, but leaves
// the variables still in it as written, so that a finding names
// $CONTAINER_REGISTRY_ADDRESS, the variable to set, not a lower-case one.
func lowerKeepVars(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range varRE().FindAllStringIndex(s, -1) {
		b.WriteString(strings.ToLower(s[last:loc[0]]))
		b.WriteString(s[loc[0]:loc[1]])
		last = loc[1]
	}
	b.WriteString(strings.ToLower(s[last:]))
	return b.String()
}
