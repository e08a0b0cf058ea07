package cli

import (
	"errors"
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

// validate refuses the manifest's options without --manifest, and
// --manifest with another replacement of the device.
func (m *manifestFlags) validate(snapshot, saveSnapshot string) error {
	if m.path == "" {
		if m.envFile != "" || m.modulesDir != "" {
			return errors.New("--env-file and --modules-dir go with --manifest")
		}
		return nil
	}
	if snapshot != "" {
		return errors.New("--manifest and --snapshot cannot be used together: each replaces the device")
	}
	if saveSnapshot != "" {
		return errors.New("--manifest and --save-snapshot cannot be used together: a manifest is no device's snapshot")
	}
	return nil
}

// gatherer reads the manifest; the error names what is wrong with it.
func (m *manifestFlags) gatherer(environ []string) (*manifest.Gatherer, error) {
	vars, err := manifest.LoadVars(m.envFile, environ)
	if err != nil {
		return nil, err
	}
	return manifest.Open(m.path, manifest.Options{Vars: vars, ModulesDir: m.modulesDir, Platform: m.platform})
}
