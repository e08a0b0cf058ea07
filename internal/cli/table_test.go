package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edge-readiness/edge-readiness/internal/cli"
)

// checkExample runs check on the Quick start's snapshot with COLUMNS set to
// columns ("" unset); stdout is no terminal.
func checkExample(t *testing.T, columns string, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"COLUMNS": columns}
	code := cli.Main(context.Background(), cli.Env{
		Args:   append([]string{"check", "--snapshot", filepath.Join("..", "..", cli.ExampleSnapshot)}, args...),
		Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Environ: func() []string { return nil }})
	if code != cli.ExitNotReady {
		t.Fatalf("exit %d, want %d: %s", code, cli.ExitNotReady, stderr.String())
	}
	return code, stdout.String()
}

// TestTableFitsTheTerminal: on the example snapshot the table fits COLUMNS
// (80 when unset and stdout is no terminal) with no line over, failures
// come first, and --wide writes every message whole, as the JSON has them.
func TestTableFitsTheTerminal(t *testing.T) {
	for _, tc := range []struct {
		columns string
		width   int
	}{{"80", 80}, {"", 80}, {"120", 120}, {"10", 40}, {"wide", 80}} {
		_, out := checkExample(t, tc.columns)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		for i, l := range lines {
			if n := utf8.RuneCountInString(l); n > tc.width {
				t.Errorf("COLUMNS=%q: line %d has %d columns, over %d: %q", tc.columns, i+1, n, tc.width, l)
			}
		}
		seenOther := false
		for _, l := range lines {
			st, _, _ := strings.Cut(l, " ")
			switch st {
			case "FAIL", "ERROR":
				if seenOther {
					t.Errorf("COLUMNS=%q: %q comes after a skipped or passing row", tc.columns, l)
				}
			case "SKIP", "PASS":
				seenOther = true
			}
		}
		if tc.columns == "80" {
			t.Logf("COLUMNS=80: %d lines, none over 80 columns", len(lines))
		}
	}

	_, js := checkExample(t, "80", "--format", "json")
	var r struct {
		Findings []struct{ Status, Message string }
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	_, wide := checkExample(t, "80", "--wide")
	longest := 0
	for _, l := range strings.Split(wide, "\n") {
		longest = max(longest, utf8.RuneCountInString(l))
	}
	for _, f := range r.Findings {
		if f.Status != "pass" && !strings.Contains(wide, strings.Join(strings.Fields(f.Message), " ")) {
			t.Errorf("--wide lacks the whole message %q", f.Message)
		}
	}
	if longest <= 80 || strings.Contains(wide, "…") {
		t.Errorf("--wide is cut: longest line %d columns", longest)
	}
}
