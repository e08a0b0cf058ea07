package cli

import (
	"flag"

	"github.com/edge-readiness/edge-readiness/internal/manifest"
)

// manifestFlags are check's flags for linting a deployment manifest instead
// of a device.
type manifestFlags struct {
	path, envFile, modulesDir, platform string
}

func registerManifestFlags(fs *flag.FlagSet) *manifestFlags {
	m := &manifestFlags{}
	fs.StringVar(&m.path, "manifest", "", "decide from a deployment manifest (template, generated or layered) instead of this device: "+
		"the checks a manifest cannot decide skip")
	fs.StringVar(&m.envFile, "env-file", "", "with --manifest: the .env file resolving $VAR and ${VAR} (the environment wins, as in iotedgedev)")
	fs.StringVar(&m.modulesDir, "modules-dir", "", "with --manifest: the folder of the modules' module.json, resolving ${MODULES.<folder>} images")
	fs.StringVar(&m.platform, "platform", manifest.DefaultPlatform, "with --manifest: the platform ${MODULES.x} images resolve to")
	return m
}

// gatherer reads the manifest; the error names what is wrong with it.
func (m *manifestFlags) gatherer(environ []string) (*manifest.Gatherer, error) {
	vars, err := manifest.LoadVars(m.envFile, environ)
	if err != nil {
		return nil, err
	}
	return manifest.Open(m.path, manifest.Options{Vars: vars, ModulesDir: m.modulesDir, Platform: m.platform})
}
