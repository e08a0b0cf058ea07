package testenv_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// TestLoadPageCatches: LoadPage sees what the HTML pages must not do: a
// request (an image from the network), a console error, a
// Content-Security-Policy violation, an image without text and text too
// faint to read (axe-core: critical and serious).
func TestLoadPageCatches(t *testing.T) {
	chromium := testenv.RequireChromium(t)
	axe := testenv.AxeScript(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.html")
	if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><html lang="en"><head><title>bad edge-readiness</title></head><body><main>`+
		`<p style="color:#ddd;background:#fff">faint</p><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></main></body></html>`), 0o600); err != nil {
		t.Fatal(err)
	}
	load := testenv.LoadPage(t, chromium, axe, bad, 600, 800)
	if len(load.Requests) != 1 || load.Requests[0] != "http://127.0.0.1:9/x.png" {
		t.Errorf("requests %v, want the image", load.Requests)
	}
	if !strings.Contains(strings.Join(load.Errors, "\n"), "boom") {
		t.Errorf("errors %v, want the console's boom", load.Errors)
	}
	v := strings.Join(load.Violations, "\n")
	if !strings.Contains(v, "image-alt (critical)") || !strings.Contains(v, "color-contrast (serious)") {
		t.Errorf("axe-core violations %v, want image-alt and color-contrast", load.Violations)
	}

	csp := filepath.Join(dir, "csp.html")
	if err := os.WriteFile(csp, []byte(`<!DOCTYPE html><html lang="en"><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'">`+
		`<title>csp edge-readiness</title></head><body><main><p style="color:red">styled</p></main></body></html>`), 0o600); err != nil {
		t.Fatal(err)
	}
	load = testenv.LoadPage(t, chromium, axe, csp, 600, 800)
	if !strings.Contains(strings.Join(load.Errors, "\n"), "Content Security Policy") {
		t.Errorf("errors %v, want the style attribute's policy violation", load.Errors)
	}
	if len(load.Shots[800]) == 0 {
		t.Errorf("no screenshot")
	}
}
