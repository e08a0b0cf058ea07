package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// TestFiftyModules runs on one device with 50 custom modules (52 with
// edgeAgent and edgeHub: testenv.FiftyModules, with the faults a report
// should lead with), started once for both of its parts, as the 52
// containers take the longest to start of all the devices here:
//   - check: times `check` and reports its wall time and peak memory (GNU
//     time -v, when installed). It asserts no times; it asserts that the
//     report lists the 52 modules, and that a saved snapshot of the device
//     gives the same findings with no engine.
//   - html: `check --format html` (the source internal/cli's
//     TestHTMLInBrowser cannot run) gives a page under 150 KB that headless
//     Chromium loads with no request, no console error and no serious or
//     critical axe-core violation. The page and its screenshots are kept
//     under bin/artefacts/html.
func TestFiftyModules(t *testing.T) {
	start := time.Now()
	d := testenv.FiftyModules(t)
	d.Start(t)
	t.Logf("device with %d modules started in %s", len(d.All()), time.Since(start).Round(time.Millisecond))
	t.Run("check", func(t *testing.T) { fiftyCheck(t, d) })
	t.Run("html", func(t *testing.T) { fiftyHTML(t) })
	t.Logf("whole test: %s", time.Since(start).Round(time.Millisecond))
}

func fiftyCheck(t *testing.T, d *testenv.Device) {
	stats := filepath.Join(t.TempDir(), "time.txt")
	args := []string{"check", "--format", "json"}
	var r result
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		r = runTimed(t, stats, args...)
	} else {
		t.Logf("/usr/bin/time is missing (Debian package time): no peak memory figure")
		s := time.Now()
		r = run(t, args...)
		t.Logf("check: wall %s", time.Since(s).Round(time.Millisecond))
	}
	rep := jsonReport(t, r)
	if n := len(rep.Inventory.Modules); n != 52 {
		t.Errorf("the report lists %d modules, want 52", n)
	}
	if want := moduleNames(d); !sameSet(inventoryNames(rep), want) {
		t.Errorf("inventory modules = %v, want %v", inventoryNames(rep), want)
	}
	t.Logf("check: %d findings, report generated in %d ms (its own measure), %d bytes of JSON",
		len(rep.Findings), rep.DurationMs, len(r.stdout))

	// A saved snapshot of the 50-module device gives the same findings with no engine.
	saved, _ := saveAndReplay(t)
	t.Logf("saved snapshot: %d bytes", len(saved))
}

// runTimed runs the binary under GNU time -v, logs the wall time and peak
// RSS, and returns the binary's result.
func runTimed(t *testing.T, statsFile string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := binary
	if b := os.Getenv("ER_MODULE_BINARY"); b != "" {
		bin = b // another build, for before-and-after figures
	}
	full := append([]string{"-v", "-o", statsFile, bin}, args...)
	r := collect(t, testenv.HermeticCommand(ctx, t, "/usr/bin/time", full...), args)
	b, err := os.ReadFile(statsFile)
	if err != nil {
		t.Fatalf("reading GNU time's figures: %v", err)
	}
	var wall, rss, cpuUser, cpuSys string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(k, "Elapsed (wall clock) time"):
			wall = v
		case k == "Maximum resident set size (kbytes)":
			rss = v
		case k == "User time (seconds)":
			cpuUser = v
		case k == "System time (seconds)":
			cpuSys = v
		}
	}
	t.Logf("check under /usr/bin/time -v: exit %d, wall %s, user %ss, system %ss, max RSS %s KiB", r.code, wall, cpuUser, cpuSys, rss)
	return r
}
