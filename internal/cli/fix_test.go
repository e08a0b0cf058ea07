package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/cli"
)

func runFix(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: append([]string{"fix", "--docker-host", "unix:///nonexistent/docker.sock"}, args...),
		Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	return code, stdout.String(), stderr.String()
}

// copyFile copies a file into dir.
func copyFile(t *testing.T, src, dir string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, data, 0o640); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestFixCommand: fix -o writes the fixed manifest and the patch, and
// nothing else (the input is untouched, the folder holds the two files);
// the table lists every failing finding with what became of it; --in-place
// rewrites the input keeping its mode; a second fix changes nothing.
func TestFixCommand(t *testing.T) {
	dir := t.TempDir()
	in := copyFile(t, "../../testdata/manifests/azure-iotedge-quickstart.template.json", dir)
	orig, _ := os.ReadFile(in)
	out, patch := filepath.Join(dir, "fixed.json"), filepath.Join(dir, "fix.patch.json")
	code, table, errs := runFix(t, "--manifest", in, "-o", out, "--patch", patch)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"RESULT", "edge-agent-storage-mounted-from-host  edgeAgent", "fixed, review",
		"not fixed: owner's decision", "11 failing findings: 6 fixed (3 to review), not fixed: 3 owner's decision, 2 placeholder"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	if now, _ := os.ReadFile(in); !bytes.Equal(now, orig) {
		t.Error("fix -o changed its input")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "azure-iotedge-quickstart.template.json fix.patch.json fixed.json" {
		t.Errorf("fix wrote %v", names)
	}
	var ops []map[string]any
	if data, err := os.ReadFile(patch); err != nil || json.Unmarshal(data, &ops) != nil || len(ops) == 0 {
		t.Errorf("the patch file: %v %s", err, data)
	}

	code, _, errs = runFix(t, "--manifest", in, "--in-place")
	fixed, _ := os.ReadFile(out)
	if now, _ := os.ReadFile(in); code != cli.ExitOK || !bytes.Equal(now, fixed) {
		t.Errorf("--in-place: exit %d (%s), the file differs from -o's", code, errs)
	}
	if st, err := os.Stat(in); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("--in-place changed the mode: %v", st.Mode())
	}
	code, table, _ = runFix(t, "--manifest", in, "-o", filepath.Join(dir, "again.json"))
	if again, _ := os.ReadFile(filepath.Join(dir, "again.json")); code != cli.ExitOK || !bytes.Equal(again, fixed) ||
		!strings.Contains(table, "0 fixed") || !strings.Contains(table, "the manifest is unchanged") {
		t.Errorf("a second fix: exit %d\n%s", code, table)
	}
}

// TestFixUsage: the usage errors exit 2 naming what is wrong.
func TestFixUsage(t *testing.T) {
	in := "../../testdata/manifests/azure-iotedge-quickstart.template.json"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "x.json"}, "--manifest FILE is required"},
		{[]string{"--manifest", in}, "give either -o FILE or --in-place"},
		{[]string{"--manifest", in, "-o", "x.json", "--in-place"}, "give either -o FILE or --in-place"},
		{[]string{"--manifest", in, "-o", "x.json", "--checks", "module-resource-limits,no-such-check"}, `unknown check "no-such-check"`},
		{[]string{"--manifest", "../../testdata/manifests/lorawan-cli-gateway.template.json", "-o", "x.json"}, "lorawan-cli-gateway.template.json"},
	} {
		code, _, errs := runFix(t, tc.args...)
		if code != cli.ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
	if _, err := os.Stat("x.json"); err == nil {
		os.Remove("x.json")
		t.Error("a refused fix wrote its output")
	}
}
