package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// NoDNSResolvConf is the resolv.conf HermeticCommand gives a process: a
// loopback name server where none listens, so every DNS lookup fails at
// once and no query leaves the machine.
const NoDNSResolvConf = "# written by internal/testenv: no name server, on purpose\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"

var hermetic struct {
	once   sync.Once
	ok     bool
	resolv string
	why    string
}

// HermeticAvailable tells whether HermeticCommand can isolate DNS here
// (root and unshare(1) with mount namespaces), and why not otherwise.
func HermeticAvailable() (bool, string) {
	hermetic.once.Do(func() {
		dir, err := os.MkdirTemp("", "testenv-hermetic-")
		if err != nil {
			hermetic.why = err.Error()
			return
		}
		p := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(p, []byte(NoDNSResolvConf), 0o644); err != nil {
			hermetic.why = err.Error()
			return
		}
		hermetic.resolv = p
		out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount --bind "$0" /etc/resolv.conf && cat /etc/resolv.conf`, p).CombinedOutput()
		if err != nil || string(out) != NoDNSResolvConf {
			hermetic.why = "unshare --mount with a bind mount over /etc/resolv.conf failed: " + string(out)
			if err != nil {
				hermetic.why += err.Error()
			}
			return
		}
		hermetic.ok = true
	})
	return hermetic.ok, hermetic.why
}

// HermeticCommand returns a command that runs name with args in the host's
// network namespace (so it reaches the engine and the containers' addresses)
// but in a private mount namespace whose /etc/resolv.conf names no working
// server: host names outside /etc/hosts never resolve, so the program cannot
// reach IoT Hub, registries or anything else beyond this machine, and its
// connectivity findings do not depend on the network the tests run on.
// Where that isolation is unavailable (not root, no unshare), the command
// runs as is and the test says so in its log.
func HermeticCommand(ctx context.Context, t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	if ok, why := HermeticAvailable(); !ok {
		t.Logf("testenv: running %s without DNS isolation: %s", filepath.Base(name), why)
		return exec.CommandContext(ctx, name, args...)
	}
	full := append([]string{"--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /etc/resolv.conf && exec "$@"`, hermetic.resolv, name}, args...)
	return exec.CommandContext(ctx, "unshare", full...)
}
