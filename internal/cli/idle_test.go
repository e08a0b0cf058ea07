package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/procmem"
)

// TestIdleReleasesStartupPagesOnce calls module mode's Idle hook as the
// loop does after each cycle: the binary's start-up pages are paged out
// after the first cycle only, and the log says how much was resident.
func TestIdleReleasesStartupPagesOnce(t *testing.T) {
	var logs bytes.Buffer
	hook := idle(zerolog.New(&logs).Level(zerolog.DebugLevel))
	for range 3 {
		hook()
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line for three idle periods, got %d:\n%s", len(lines), logs.String())
	}
	var entry struct {
		Message   string `json:"message"`
		Error     string `json:"error"`
		Mappings  int    `json:"mappings"`
		BeforeKiB int64  `json:"residentBeforeKiB"`
		AfterKiB  int64  `json:"residentAfterKiB"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatal(err)
	}
	if _, err := procmem.ReleaseStartupPages(); runtime.GOOS != "linux" || errors.Is(err, procmem.ErrUnsupported) {
		if entry.Error == "" {
			t.Errorf("paging out is not supported here, yet the log does not say so: %s", lines[0])
		}
		return
	}
	if entry.Message != "released the start-up pages of the binary" || entry.Mappings == 0 || entry.AfterKiB >= entry.BeforeKiB {
		t.Errorf("want the start-up pages released, with fewer resident after than before: %s", lines[0])
	}
}
