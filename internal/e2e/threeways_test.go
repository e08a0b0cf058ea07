package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
	"github.com/edge-readiness/edge-readiness/internal/testenv/bundlezip"
)

// TestSameDeviceThreeWays: one device, three ways of knowing it: the
// deployment manifest that deploys its modules (check --manifest), the real
// engine after those modules run as containers on the simulated device
// (check), and a support bundle of that device (check --support-bundle).
// Wherever two of them can decide a finding, they decide it alike.
func TestSameDeviceThreeWays(t *testing.T) {
	d := gatewayDevice(t, false)
	manPath, zipPath := deviceFiles(t, d, t.TempDir())

	noEngine := []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}
	live := jsonReport(t, run(t, "check", "--format", "json", "--no-probes"))
	fromManifest := runEnv(t, noEngine, "check", "--format", "json", "--manifest", manPath)
	if fromManifest.code != 0 && fromManifest.code != 1 {
		t.Fatalf("check --manifest: exit %d\n%s", fromManifest.code, fromManifest.stderr)
	}
	manifestRep := jsonReport(t, fromManifest)
	bundleRep := jsonReport(t, runEnv(t, noEngine, "check", "--format", "json", "--support-bundle", zipPath))

	decided := func(s checks.Status) bool { return s == checks.Pass || s == checks.Fail }
	// The four manifest checks decide what only a manifest holds: the engine
	// run skips them; they are compared with nothing, only required decided.
	manifestOnly := map[string]bool{}
	for _, c := range checks.All() {
		if slices.Contains(c.Needs, checks.NeedManifest) {
			manifestOnly[c.ID] = true
			n := 0
			for _, f := range manifestRep.Findings {
				if f.ID == c.ID && decided(f.Status) {
					n++
				}
			}
			if n == 0 {
				t.Errorf("the manifest run decides nothing for %s", c.ID)
			}
		}
	}
	ways := []struct {
		name string
		fs   []checks.Finding
	}{{"manifest", manifestRep.Findings}, {"support bundle", bundleRep.Findings}}
	compared := map[string]int{}
	for _, w := range ways {
		for _, f := range w.fs {
			if !decided(f.Status) || manifestOnly[f.ID] {
				continue
			}
			var match []checks.Finding
			for _, l := range live.Findings {
				if l.ID == f.ID && l.Module == f.Module && l.Subject == f.Subject {
					match = append(match, l)
				}
			}
			if len(match) != 1 {
				t.Errorf("%s decides %s/%s%s (%s) but the engine run has %d findings for it", w.name, f.ID, f.Module, f.Subject, f.Status, len(match))
				continue
			}
			if l := match[0]; decided(l.Status) && l.Status != f.Status {
				t.Errorf("%s/%s%s: engine %s (%s), %s %s (%s)", f.ID, f.Module, f.Subject, l.Status, l.Message, w.name, f.Status, f.Message)
				continue
			}
			compared[w.name]++
		}
	}
	// The manifest decides what the deployment says, per module as it names them.
	for _, id := range []string{"module-resource-limits", "image-tags-pinned", "docker-socket-mounts", "exposed-ports"} {
		n := 0
		for _, f := range manifestRep.Findings {
			if f.ID == id && decided(f.Status) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("the manifest decides nothing for %s", id)
		}
	}
	for _, f := range manifestRep.Findings {
		if f.ID == "modules-running" && f.Status != checks.Skip {
			t.Errorf("modules-running from a manifest: %s %s, want a skip (it needs a device)", f.Status, f.Message)
		}
	}
	t.Logf("compared with the engine run: %d findings from the manifest, %d from the support bundle", compared["manifest"], compared["support bundle"])
	if compared["manifest"] < 30 || compared["support bundle"] < 40 {
		t.Errorf("too few findings compared (%v): the test proves little\nmanifest findings:\n%s", compared, dump(manifestRep))
	}
	if strings.Contains(string(fromManifest.stdout), "nonexistent") {
		t.Errorf("a run on a manifest touched the engine")
	}
}

// deviceFiles writes, in dir, the deployment manifest that deploys the
// device's modules and a support bundle of the device as it runs, and
// returns their paths: the other ways of knowing the device.
func deviceFiles(t *testing.T, d *testenv.Device, dir string) (manPath, zipPath string) {
	t.Helper()
	man, err := d.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	manPath = filepath.Join(dir, "deployment.json")
	if err := os.WriteFile(manPath, man, 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := deviceBundle(t, d, time.Now())
	data, err := bundlezip.Bytes(files)
	if err != nil {
		t.Fatal(err)
	}
	zipPath = filepath.Join(dir, "support_bundle.zip")
	if err := os.WriteFile(zipPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return manPath, zipPath
}
