// Package hostlock shares between test processes the two things of this host
// that IoT Edge fixes and tests cannot rename: the names of the modules on
// a Docker engine (edgeAgent, edgeHub: a module inspects every container
// the engine runs) and edgeHub's MQTT port, 8883, which the client libraries
// always dial on the gateway's address.
//
// With them held here rather than by running packages one at a time, the
// engine tier runs packages side by side (go test -p 2): tests that put
// modules on an engine take turns through Modules, across processes, and
// each in-process edgeHub listens on a loopback address of its own (the
// whole of 127.0.0.0/8 is loopback on Linux), so that emulators never wait
// for one another's port. The names are held per engine (DOCKER_HOST): a
// test process pointed at a second engine (the Makefile's second lane)
// puts its modules there while others use the first.
//
// It has no dependency on the rest of the project, so that any package's
// tests can use it (internal/testenv builds on it).
package hostlock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dir holds the lock files, shared by every test process of the host.
func dir() (string, error) {
	d := filepath.Join(os.TempDir(), "edge-readiness-hostlock")
	if err := os.MkdirAll(d, 0o777); err != nil {
		return "", fmt.Errorf("hostlock: %w", err)
	}
	return d, nil
}

func open(name string) (*os.File, error) {
	d, err := dir()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(d, name), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("hostlock: %w", err)
	}
	return f, nil
}

// DefaultDockerHost is the engine address when DOCKER_HOST is not set, as
// the Docker client has it.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// DockerHost is the address of the engine this process's tests use:
// DOCKER_HOST, or DefaultDockerHost.
func DockerHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return DefaultDockerHost
}

// Modules holds, until the test ends, the right to put containers labelled
// as IoT Edge modules on the Docker engine of DockerHost; it waits while
// another test, of this process or another, holds it for that engine. A
// flock: the kernel releases it when a process dies, so a killed run leaves
// nothing held.
func Modules(t testing.TB) {
	t.Helper()
	modules(t, DockerHost())
}

func modules(t testing.TB, engine string) {
	t.Helper()
	f, err := open(modulesLockName(engine))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := flock(f, true); err != nil {
		f.Close()
		t.Fatalf("hostlock: the module names of the engine at %s: %v", engine, err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("hostlock: waited %s for the module names of the engine at %s", waited.Round(time.Second), engine)
	}
	t.Cleanup(func() { f.Close() }) // closing the descriptor releases the flock
}

// modulesLockName is the lock file of an engine's module names: one per
// address, the default socket's the same whether DOCKER_HOST names it or
// not.
func modulesLockName(engine string) string {
	if engine == "" || engine == DefaultDockerHost {
		return "engine-modules.lock"
	}
	plain := func(c rune) rune {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-':
			return c
		}
		return '_'
	}
	return "engine-modules-" + strings.Map(plain, engine) + ".lock"
}

// EdgeHubPort is the port the client libraries dial edgeHub on.
const EdgeHubPort = "8883"

// EdgeHubHost reserves for the test, until it ends, a loopback address
// (127.0.0.2 to 127.0.0.254) whose port 8883 no other test of this host
// uses, and returns it: listen on net.JoinHostPort(host, EdgeHubPort) and
// give the module host as its IOTEDGE_GATEWAYHOSTNAME.
func EdgeHubHost(t testing.TB) string {
	t.Helper()
	host, release, err := reserve(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return host
}

// reserve takes the first free address, starting from one that depends on
// the process so that concurrent processes rarely try the same ones.
func reserve(pid int) (string, func(), error) {
	const first, n = 2, 253
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("127.0.0.%d", first+(pid+i)%n)
		f, err := open("edgehub-" + host + ".lock")
		if err != nil {
			return "", nil, err
		}
		if err := flock(f, false); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue
			}
			return "", nil, fmt.Errorf("hostlock: %s: %w", host, err)
		}
		// Held by nobody else; a process outside these tests may still
		// listen there.
		l, err := net.Listen("tcp", net.JoinHostPort(host, EdgeHubPort))
		if err != nil {
			f.Close()
			continue
		}
		l.Close()
		return host, func() { f.Close() }, nil
	}
	return "", nil, errors.New("hostlock: no loopback address from 127.0.0.2 to 127.0.0.254 has port 8883 free")
}

func flock(f *os.File, wait bool) error {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
