package facts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// DefaultDaemonJSON is where the engine's configuration is, on the host or
// mounted read-only into the module at the same path.
const DefaultDaemonJSON = "/etc/docker/daemon.json"

const maxConfigBytes = 1 << 20

// ReadDaemonJSON reads the engine's daemon.json. It returns nil when the file
// does not exist (not mounted), and a DaemonJSON with Error when it cannot be
// read or parsed.
func ReadDaemonJSON(path string) *DaemonJSON {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	d := &DaemonJSON{Path: path}
	if err != nil {
		d.Error = err.Error()
		return d
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes))
	if err != nil {
		d.Error = err.Error()
		return d
	}
	var raw struct {
		DNS       []string          `json:"dns"`
		LogDriver string            `json:"log-driver"`
		LogOpts   map[string]string `json:"log-opts"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		d.Error = fmt.Sprintf("parsing %s: %v", path, err)
		return d
	}
	d.DNS, d.LogDriver, d.LogOpts = raw.DNS, raw.LogDriver, raw.LogOpts
	return d
}
