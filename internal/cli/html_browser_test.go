package cli_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

var updateShots = flag.Bool("update-screenshots", false, "rewrite the HTML pages' screenshots under docs/screenshots")

// TestHTMLInBrowser loads the pages of check --format html from every
// source a test can run without an engine (a deployment manifest, a
// support bundle, a saved snapshot; the device itself is
// internal/e2e's TestFiftyModules/html) and of fleet --format html over 2,000
// devices seeded in the emulator, in headless Chromium: no request besides
// the page, no console error or warning (a Content-Security-Policy
// violation is one), no serious or critical axe-core violation. It keeps
// screenshots of the 50-module device's page and the fleet's at 1280 and
// 390 pixels wide under bin/artefacts/html (docs/screenshots with
// -update-screenshots).
func TestHTMLInBrowser(t *testing.T) {
	chromium := testenv.RequireChromium(t)
	axe := testenv.AxeScript(t)
	dir := t.TempDir()

	fifty := testenv.FiftyModules(t)
	manifest, err := fifty.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	manifestPath := filepath.Join(dir, "deployment.fifty.json")
	if err := os.WriteFile(manifestPath, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	emu, caFile := seededFleet(t, 2000)

	pages := []struct {
		name  string
		run   func() (int, string, string)
		shots string // screenshot name; "" for none
		limit int
	}{
		{"device-manifest", func() (int, string, string) { return runCheck(t, "--manifest", manifestPath, "--format", "html") }, "device", 150_000},
		{"device-bundle", func() (int, string, string) {
			return runCheck(t, "--support-bundle", gatewayBundle(t, nil), "--format", "html")
		}, "", 150_000},
		{"device-snapshot", func() (int, string, string) {
			return runCheck(t, "--snapshot", testenv.RepoFile(t, "examples/gateway.snapshot.json"), "--format", "html")
		}, "", 150_000},
		{"fleet", func() (int, string, string) {
			return runFleet(t, emu.ServiceConnectionString(), "--format", "html", "--ca-file", caFile)
		}, "fleet", 1_500_000},
	}
	art := filepath.Join(testenv.RepoRoot(t), "bin", "artefacts", "html")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			start := time.Now()
			code, out, errs := p.run()
			took := time.Since(start)
			if code == cli.ExitUsage || !strings.HasPrefix(out, "<!DOCTYPE html>") {
				t.Fatalf("exit %d\n%s\n%.300s", code, errs, out)
			}
			t.Logf("%s: %d bytes, command ran in %s (exit %d)", p.name, len(out), took.Round(time.Millisecond), code)
			if len(out) >= p.limit {
				t.Errorf("%s is %d bytes, want under %d", p.name, len(out), p.limit)
			}
			file := filepath.Join(art, p.name+".html")
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			load := testenv.LoadPage(t, chromium, axe, file, 1400, 1280, 390)
			for _, r := range load.Requests {
				t.Errorf("the page requested %s", r)
			}
			for _, e := range load.Errors {
				t.Errorf("the browser reported %s", e)
			}
			for _, v := range load.Violations {
				t.Errorf("axe-core: %s", v)
			}
			t.Logf("%s: title %q; axe-core violations by impact %v (none serious or critical allowed)", p.name, load.Title, load.Impacts)
			for paper, pdf := range load.PDF {
				n := testenv.PDFPages(pdf)
				t.Logf("%s printed on %s: %d pages, %d bytes", p.name, paper, n, len(pdf))
				if !bytes.HasPrefix(pdf, []byte("%PDF-")) || n == 0 {
					t.Errorf("%s printed on %s: no PDF pages", p.name, paper)
				}
				if err := os.WriteFile(filepath.Join(art, p.name+"-"+paper+".pdf"), pdf, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !strings.Contains(load.Title, "edge-readiness") {
				t.Errorf("title %q: the page did not load", load.Title)
			}
			if p.shots == "" {
				return
			}
			for w, png := range load.Shots {
				name := fmt.Sprintf("html-%s-%d.png", p.shots, w)
				if err := os.WriteFile(filepath.Join(art, name), png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot %s: %d bytes", name, len(png))
				if *updateShots {
					if err := os.WriteFile(testenv.RepoFile(t, "docs/screenshots")+"/"+name, png, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// seededFleet starts an emulator with the HTTPS service API and n devices
// seeded as fleetReported says, without the fixed MQTT port.
func seededFleet(t *testing.T, n int) (*emulator.Emulator, string) {
	t.Helper()
	return serviceEmulator(t, 0, func(e *emulator.Emulator) error {
		return e.SeedFleet("readiness", n, fleetReported(time.Now()))
	})
}
