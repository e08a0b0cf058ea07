package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAtMost(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte("a"), n), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name    string
		path    string
		max     int64
		wantErr []string
	}{
		{"at the bound", write("ten", 10), 10, nil},
		{"one byte over", write("eleven", 11), 10, []string{"the env file", "eleven", "larger than 10 bytes"}},
		{"megabytes over", write("big", 2<<20+1), 2 << 20, []string{"larger than 2 MiB"}},
		{"missing", filepath.Join(dir, "none"), 10, []string{"reading the env file", "none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := readAtMost(c.path, c.max, "the env file")
			if c.wantErr == nil {
				if err != nil || int64(len(data)) != c.max {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(data), err, c.max)
				}
				return
			}
			if err == nil {
				t.Fatalf("read %d bytes, want an error", len(data))
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestEnvFileBounded: an env file larger than any .env is refused, naming
// it, rather than read whole.
func TestEnvFileBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".env")
	big := strings.Repeat("# a comment line, over and over\n", maxEnvFile/32+1)
	if err := os.WriteFile(p, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVars(p, nil); err == nil || !strings.Contains(err.Error(), "the env file "+p+" is larger than 1 MiB") {
		t.Fatalf("LoadVars of a %d-byte env file: %v", len(big), err)
	}
}
