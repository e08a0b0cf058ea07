package cli

import (
	"errors"
	"flag"
	"fmt"

	"github.com/edge-readiness/edge-readiness/internal/bundle"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// sourceFlags are check's flags that say where the facts come from: this
// device, or one input that replaces it (a deployment manifest, a saved
// snapshot, a support bundle), and --save-snapshot that records them. It is
// the one place that decides which input replaces the device.
type sourceFlags struct {
	snapshot, bundle, saveSnapshot string
	manifest                       *manifestFlags
}

func registerSourceFlags(fs *flag.FlagSet) *sourceFlags {
	s := &sourceFlags{}
	fs.StringVar(&s.snapshot, "snapshot", "", "run the checks on a saved snapshot instead of this device (no engine, metrics or network is read)")
	fs.StringVar(&s.bundle, "support-bundle", "", "run the checks on a zip written by iotedge support-bundle instead of this device (no engine, metrics or network is read)")
	fs.StringVar(&s.saveSnapshot, "save-snapshot", "", "also write the gathered facts, scrubbed of secrets, to this file (attach it to a bug report)")
	s.manifest = registerManifestFlags(fs)
	return s
}

// replacements are the inputs that replace the device, by flag, in the
// order their conflicts are named.
func (s *sourceFlags) replacements() []struct{ flag, value string } {
	return []struct{ flag, value string }{{"manifest", s.manifest.path}, {"snapshot", s.snapshot}, {"support-bundle", s.bundle}}
}

// validate refuses two inputs that each replace the device, a snapshot saved
// from something that is no device's facts, and the manifest's options
// without --manifest.
func (s *sourceFlags) validate() error {
	var given []string
	for _, r := range s.replacements() {
		if r.value != "" {
			given = append(given, r.flag)
		}
	}
	if len(given) > 1 {
		return fmt.Errorf("--%s and --%s cannot be used together: each replaces the device", given[0], given[1])
	}
	switch {
	case s.saveSnapshot != "" && s.snapshot != "":
		return errors.New("--snapshot and --save-snapshot cannot be used together")
	case s.saveSnapshot != "" && s.manifest.path != "":
		return errors.New("--manifest and --save-snapshot cannot be used together: a manifest is no device's snapshot")
	case s.manifest.path == "" && (s.manifest.envFile != "" || s.manifest.modulesDir != ""):
		return errors.New("--env-file and --modules-dir go with --manifest")
	}
	return nil
}

// gatherer opens the input that replaces the device, or returns device()
// when there is none; the error names what is wrong with the input.
func (s *sourceFlags) gatherer(environ []string, device func() cycle.Gatherer) (cycle.Gatherer, error) {
	switch {
	case s.bundle != "":
		return bundle.OpenSupportBundle(s.bundle)
	case s.snapshot != "":
		return facts.OpenSnapshotFile(s.snapshot)
	case s.manifest.path != "":
		return s.manifest.gatherer(environ)
	}
	return device(), nil
}
