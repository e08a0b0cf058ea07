package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/fix"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// fixCmd writes a deployment manifest with the safe fixes applied and
// prints every failing finding: fixed, or not fixed and why. It reads and
// writes files only: never a device.
func fixCmd(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("fix", flag.ContinueOnError)
	c := common{environ: env.environ()}
	c.register(fs, env.Getenv)
	mf := registerManifestFlags(fs)
	out := fs.String("o", "", "write the fixed manifest to this file (- for stdout; the table then goes to stderr)")
	inPlace := fs.Bool("in-place", false, "rewrite the manifest itself")
	patchOut := fs.String("patch", "", "also write the change as an RFC 6902 JSON Patch to this file")
	only := fs.String("checks", "", "fix only these checks' findings (comma-separated ids)")
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "fix: "+format+"\n", a...)
		return ExitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case mf.path == "":
		return usageErr("--manifest FILE is required")
	case (*out == "") == !*inPlace:
		return usageErr("give either -o FILE or --in-place")
	}
	var selected []string
	if *only != "" {
		known := map[string]bool{}
		for _, ck := range checks.All() {
			known[ck.ID] = true
		}
		for _, id := range strings.Split(*only, ",") {
			id = strings.TrimSpace(id)
			if !known[id] {
				return usageErr("--checks: unknown check %q", id)
			}
			selected = append(selected, id)
		}
	}
	pol, err := c.loadPolicy()
	if err != nil {
		return usageErr("%v", err)
	}
	vars, err := manifest.LoadVars(mf.envFile, env.environ()())
	if err != nil {
		return usageErr("%v", err)
	}
	data, err := manifest.ReadFile(mf.path)
	if err != nil {
		return usageErr("%v", err)
	}
	res, err := fix.Run(data, mf.path, fix.Options{
		Manifest: manifest.Options{Vars: vars, ModulesDir: mf.modulesDir, Platform: mf.platform},
		Policy:   pol.Policy, Checks: selected, Self: c.self,
	})
	if err != nil {
		return usageErr("manifest %s: %v", mf.path, err)
	}
	dest := *out
	if *inPlace {
		dest = mf.path
	}
	table := env.Stdout
	if dest == "-" {
		table = env.Stderr
		if _, err := env.Stdout.Write(res.Output); err != nil {
			return usageErr("writing the manifest: %v", err)
		}
	} else if !*inPlace || res.Changed() {
		if err := writeFileLike(dest, res.Output, mf.path); err != nil {
			return usageErr("%v", err)
		}
	}
	if *patchOut != "" {
		b, err := json.MarshalIndent(res.Patch, "", "  ")
		if err != nil {
			return usageErr("writing the patch: %v", err)
		}
		if err := writeFileLike(*patchOut, append(b, '\n'), ""); err != nil {
			return usageErr("%v", err)
		}
	}
	// Messages quote the manifest's values: the table passes the scrubber.
	writeFixTable(redact.NewScrubber().Writer(table), res)
	return ExitOK
}

// writeFileLike writes data to path through a temporary file in the same
// folder and a rename, with the mode of like (or 0644).
func writeFileLike(path string, data []byte, like string) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(like); like != "" && err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeFixTable prints every failing finding and what became of it, then
// the counts.
func writeFixTable(w io.Writer, res *fix.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tMODULE\tSEVERITY\tRESULT\tWHAT CHANGED, OR WHY NOT")
	fixedN, review := 0, 0
	why := map[fix.Reason]int{}
	for _, it := range res.Items {
		result := "not fixed: " + string(it.Reason)
		switch {
		case it.Fixed && it.Review:
			result, review = "fixed, review", review+1
			fixedN++
		case it.Fixed:
			result = "fixed"
			fixedN++
		default:
			why[it.Reason]++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Finding.ID, orDash(it.Finding.Module), it.Finding.Severity, result, it.Note)
	}
	tw.Flush()
	var left []string
	for _, r := range []fix.Reason{fix.Decision, fix.Placeholder, fix.NotSelected} {
		if why[r] > 0 {
			left = append(left, fmt.Sprintf("%d %s", why[r], r))
		}
	}
	summary := fmt.Sprintf("%d failing findings: %d fixed (%d to review)", len(res.Items), fixedN, review)
	if len(left) > 0 {
		summary += ", not fixed: " + strings.Join(left, ", ")
	}
	if !res.Changed() {
		summary += "; the manifest is unchanged"
	}
	fmt.Fprintln(w, summary)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fixes are the changes fix would make to the manifest, by the key of the
// finding each repairs, for check's SARIF (its results' suggested fixes).
// A change that would carry a secret (a createOptions string rewritten
// whole, with a literal password in it) is left out rather than masked,
// as a masked replacement would corrupt the file it is applied to.
func (m *manifestFlags) fixes(environ []string, pol *policy.Policy, self string, scrub *redact.Scrubber) (map[string]sink.Fix, error) {
	vars, err := manifest.LoadVars(m.envFile, environ)
	if err != nil {
		return nil, err
	}
	data, err := manifest.ReadFile(m.path)
	if err != nil {
		return nil, err
	}
	res, err := fix.Run(data, m.path, fix.Options{
		Manifest: manifest.Options{Vars: vars, ModulesDir: m.modulesDir, Platform: m.platform}, Policy: pol, Self: self})
	if err != nil {
		return nil, err
	}
	notes := map[string]string{}
	for _, it := range res.Items {
		if it.Fixed {
			notes[it.Finding.Key()] = it.Finding.ID + ": " + it.Note
		}
	}
	out := map[string]sink.Fix{}
	for _, ch := range res.Changes {
		if scrub.String(ch.Text) != ch.Text {
			continue
		}
		var all []string
		for _, k := range ch.Findings {
			all = append(all, notes[k])
		}
		for _, k := range ch.Findings {
			desc := "edge-readiness fix: " + notes[k]
			if len(all) > 1 {
				desc += ". The same change to " + ch.Module + " also applies: " + strings.Join(others(all, notes[k]), "; ")
			}
			out[k] = sink.Fix{Description: desc, Replacements: []sink.Replacement{{CharOffset: ch.CharOffset, CharLength: ch.CharLength, Text: ch.Text}}}
		}
	}
	return out, nil
}

func others(all []string, but string) []string {
	var out []string
	for _, s := range all {
		if s != but {
			out = append(out, s)
		}
	}
	return out
}
