package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root: the nearest directory at or above the
// test's working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SharedFile returns the path of a file in the shared folder that lies beside
// the repository (../shared from the repository root; CI checks it out
// there), failing the test when it is missing.
func SharedFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(RepoRoot(t)), "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: shared file %s: %v (the shared/ folder must be checked out beside the repository)", rel, err)
	}
	return p
}

// ReadShared reads a file of the shared folder.
func ReadShared(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(SharedFile(t, rel))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return b
}
