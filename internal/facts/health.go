package facts

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/redact"
)

// MaxHealthOutput bounds the health-check output a snapshot keeps: the
// first line of the last probe's output, at most this many bytes.
const MaxHealthOutput = 200

// Health is the container's health-check state (inspect State.Health); nil
// when the image and createOptions define no health check.
type Health struct {
	Status        string `json:"status"` // starting, healthy, unhealthy
	FailingStreak int    `json:"failingStreak,omitempty"`
	// LastOutput is the first line of the last probe's output, scrubbed
	// of anything that looks like a secret and cut at MaxHealthOutput.
	LastOutput   string    `json:"lastOutput,omitempty"`
	LastExitCode int       `json:"lastExitCode,omitempty"`
	LastEnd      time.Time `json:"lastEnd,omitempty"`
}

// convertHealth keeps what the checks need of inspect's State.Health. The
// probe output is the container's own text: only its first line is kept,
// scrubbed with the container's secret-looking env values and the
// patterns every output is scrubbed with.
func convertHealth(h *container.Health, env map[string]string) *Health {
	if h == nil || h.Status == "" || h.Status == container.NoHealthcheck {
		return nil
	}
	out := &Health{Status: h.Status, FailingStreak: h.FailingStreak}
	if n := len(h.Log); n > 0 && h.Log[n-1] != nil {
		last := h.Log[n-1]
		out.LastExitCode = last.ExitCode
		out.LastEnd = last.End.UTC()
		out.LastOutput = scrubLine(last.Output, env)
	}
	return out
}

// scrubLine returns the first non-empty line of s, bounded and scrubbed.
func scrubLine(s string, env map[string]string) string {
	line := ""
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			line = l
			break
		}
	}
	sc := redact.NewScrubber()
	sc.AddEnv(redact.NewPolicy(nil), env)
	line = sc.String(line)
	if len(line) > MaxHealthOutput {
		cut := MaxHealthOutput
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut] + "…"
	}
	return line
}
