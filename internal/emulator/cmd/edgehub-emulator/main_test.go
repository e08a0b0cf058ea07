package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHelpAndBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, f := range []string{"-device-id", "-iothub-hostname", "-gateway-hostname", "-module", "-state-dir", "-mqtt-addr",
		"-service-addr", "-metrics-addr", "-workload-dir", "-metrics-file", "-max-messages", "-log-level", "-billing-block-size",
		"-reauth-period", "-token-clock-skew", "-token-max-age", "-method-subscription-delay", "-reported-sync-interval",
		"-offline-twin-delay", "-min-twin-sync-period"} {
		if !strings.Contains(errOut.String(), f+" ") {
			t.Errorf("usage lacks %s", f)
		}
	}
	if !strings.Contains(errOut.String(), "  -offline\n") { // a boolean flag: no value in the usage
		t.Errorf("usage lacks -offline")
	}
	if code := run([]string{"-nope"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown flag exit %d, want 2", code)
	}
	if code := run([]string{"-log-level", "loud"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("bad log level exit %d, want 2", code)
	}
}

// TestRunStopsOnSIGTERM runs the program in-process, checks its JSON logs
// and service API, then stops it with SIGTERM.
func TestRunStopsOnSIGTERM(t *testing.T) {
	state := t.TempDir()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-module", "readiness", "-state-dir", state, "-mqtt-addr", "127.0.0.1:0",
			"-service-addr", "127.0.0.1:0", "-metrics-addr", ""}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var serviceURL string
	for serviceURL == "" && lines.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", lines.Text())
		}
		if strings.Contains(lines.Text(), "key") && strings.Contains(lines.Text(), "=") {
			t.Fatalf("log line may leak a key: %s", lines.Text())
		}
		if rec["msg"] == "edgehub emulator started" {
			serviceURL, _ = rec["service"].(string)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	resp, err := http.Get(serviceURL + "/emulator/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(state, "workload", "readiness.sock")); err != nil {
		t.Fatalf("workload socket: %v", err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop on SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(state, "workload", "readiness.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// TestStaticBuild checks that the program builds without cgo, as the
// FROM scratch edgeHub container of a simulated device needs.
func TestStaticBuild(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go not in PATH (CI=true: never skipped)")
		}
		t.Skip("go not in PATH")
	}
	out := filepath.Join(t.TempDir(), "edgehub-emulator")
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary is dynamically linked (it has an ELF interpreter)")
		}
	}
}
