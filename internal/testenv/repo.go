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

// RepoFile returns the path of a file of the repository, rel being
// slash-separated from the repository root (testdata/real/..., say), failing
// the test when it is missing.
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: repository file %s: %v", rel, err)
	}
	return p
}

// ReadRepoFile reads a file of the repository (see RepoFile).
func ReadRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(RepoFile(t, rel))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return b
}
