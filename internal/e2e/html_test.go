package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// fiftyHTML is TestFiftyModules' html part, on the 50-module device it
// started.
func fiftyHTML(t *testing.T) {
	chromium := testenv.RequireChromium(t)
	axe := testenv.AxeScript(t)

	start := time.Now()
	r := run(t, "check", "--format", "html")
	took := time.Since(start)
	page := string(r.stdout)
	if r.code != 1 || !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Fatalf("exit %d (want 1: the device has critical failures)\n%s\n%.300s", r.code, r.stderr, page)
	}
	t.Logf("50-module device on the engine: page %d bytes, check ran in %s", len(page), took.Round(time.Millisecond))
	if len(page) >= 150_000 {
		t.Errorf("the page is %d bytes, want under 150 KB", len(page))
	}
	for _, m := range []string{"module07", "module13", "module21", "module34", "module50", "Container engine"} {
		if !strings.Contains(page, m) {
			t.Errorf("the page does not mention %s", m)
		}
	}
	art := filepath.Join(testenv.RepoRoot(t), "bin", "artefacts", "html")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(art, "device-engine.html")
	if err := os.WriteFile(file, r.stdout, 0o644); err != nil {
		t.Fatal(err)
	}
	load := testenv.LoadPage(t, chromium, axe, file, 1400, 1280, 390)
	for _, req := range load.Requests {
		t.Errorf("the page requested %s", req)
	}
	for _, e := range load.Errors {
		t.Errorf("the browser reported %s", e)
	}
	for _, v := range load.Violations {
		t.Errorf("axe-core: %s", v)
	}
	t.Logf("title %q; axe-core violations by impact %v", load.Title, load.Impacts)
	for w, png := range load.Shots {
		if err := os.WriteFile(filepath.Join(art, "device-engine-"+map[int]string{1280: "1280", 390: "390"}[w]+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
