package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/cli"
)

// TestHelpAndBadFlags: -h is asked for, so the flags go to stdout and the
// exit is 0; a bad flag is one line on stderr naming it, with where the
// help is, and exit 2 (not the whole usage after the error).
func TestHelpAndBadFlags(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := cli.Main(context.Background(), cli.Env{Args: args, Stdout: &out, Stderr: &errOut,
			Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
		return code, out.String(), errOut.String()
	}
	for _, cmd := range []string{"check", "run", "fleet", "fix"} {
		for _, h := range []string{"-h", "--help"} {
			code, out, errOut := run(cmd, h)
			if code != cli.ExitOK || errOut != "" {
				t.Errorf("%s %s: exit %d, stderr %q; want 0 and nothing on stderr", cmd, h, code, errOut)
			}
			if !strings.HasPrefix(out, "usage: edge-readiness "+cmd+" [flags]") || !strings.Contains(out, "-timeout") {
				t.Errorf("%s %s: stdout does not hold the usage:\n%s", cmd, h, out)
			}
		}
		code, out, errOut := run(cmd, "--no-such-flag")
		if code != cli.ExitUsage || out != "" {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q; want 2 and nothing on stdout", cmd, code, out)
		}
		want := cmd + ": flag provided but not defined: -no-such-flag (run 'edge-readiness " + cmd + " -h' for its flags)\n"
		if errOut != want {
			t.Errorf("%s --no-such-flag: stderr\n%q\nwant one line\n%q", cmd, errOut, want)
		}
		code, _, errOut = run(cmd, "--timeout", "soon")
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "-timeout") {
			t.Errorf("%s --timeout soon: exit %d, stderr %q; want 2 and one line naming the flag", cmd, code, errOut)
		}
	}
}
