package manifest

import (
	"fmt"
	"io"
	"os"
)

// Bounds on what the reader reads from disk: a deployment is at most 32 KB
// in IoT Hub and a template with comments and layers is larger, never
// megabytes; a module.json or an env file is a few hundred bytes.
const (
	maxFile       = 16 << 20
	maxModuleJSON = 1 << 20
	maxEnvFile    = 1 << 20
)

// ReadFile reads a manifest file as Load does, refusing one larger than any
// deployment manifest: for commands that edit the text (fix).
func ReadFile(path string) ([]byte, error) {
	return readAtMost(path, maxFile, "the manifest")
}

// readAtMost reads the file at path, refusing one larger than max bytes;
// what names it in errors ("the manifest", "the env file").
func readAtMost(path string, max int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s %s is larger than %s, more than one can hold: not read", what, path, sizeLimit(max))
	}
	return data, nil
}

func sizeLimit(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
