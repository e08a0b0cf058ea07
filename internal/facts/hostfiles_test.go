package facts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadDaemonJSON(t *testing.T) {
	dir := t.TempDir()
	if d := ReadDaemonJSON(filepath.Join(dir, "missing.json")); d != nil {
		t.Errorf("missing file = %+v, want nil (not mounted)", d)
	}
	good := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(good, []byte(`{"dns":["10.0.0.2","1.1.1.1"],"log-driver":"local","log-opts":{"max-size":"10m"},"other":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	d := ReadDaemonJSON(good)
	if d == nil || d.Error != "" || len(d.DNS) != 2 || d.LogDriver != "local" || d.LogOpts["max-size"] != "10m" {
		t.Errorf("good file = %+v", d)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"dns": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := ReadDaemonJSON(bad); d == nil || !strings.Contains(d.Error, "parsing") {
		t.Errorf("bad file = %+v", d)
	}
}
