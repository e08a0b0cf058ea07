package cli

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// minTableWidth is the narrowest table check writes; a smaller COLUMNS or
// terminal gets this width.
const minTableWidth = 40

// tableWidth is how wide check's table may be: 0 (no limit) with --wide;
// else COLUMNS when it is a number; else the terminal's width when stdout is
// one; else sink.DefaultWidth (80), so that a table piped to a file or a CI
// log reads the same everywhere.
func tableWidth(wide bool, env Env) int {
	if wide {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(env.Getenv("COLUMNS"))); err == nil && n > 0 {
		return max(n, minTableWidth)
	}
	if f, ok := env.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return max(w, minTableWidth)
		}
	}
	return sink.DefaultWidth
}
