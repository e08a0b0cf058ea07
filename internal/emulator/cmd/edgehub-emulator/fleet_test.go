package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amenzhinsky/iothub/iotservice"
)

func TestFleetFlags(t *testing.T) {
	var errOut bytes.Buffer
	run([]string{"-h"}, io.Discard, &errOut)
	for _, f := range []string{"-service-tls-addr", "-fleet"} {
		if !strings.Contains(errOut.String(), f+" ") {
			t.Errorf("usage lacks %s", f)
		}
	}
	errOut.Reset()
	if code := run([]string{"-service-tls-addr", "127.0.0.1:0"}, io.Discard, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "-service-tls-addr needs -state-dir") {
		t.Errorf("TLS without a state dir: exit %d, %s", code, errOut.String())
	}
	if code := run([]string{"-fleet", "-1"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("negative fleet: exit %d", code)
	}
}

// TestFleetOverTLS runs the program with -fleet and -service-tls-addr and
// queries the fleet as a service client would, with the policy key and CA
// from the state directory.
func TestFleetOverTLS(t *testing.T) {
	state := t.TempDir()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-state-dir", state, "-mqtt-addr", "127.0.0.1:0", "-service-addr", "127.0.0.1:0",
			"-service-tls-addr", "127.0.0.1:0", "-metrics-addr", "", "-fleet", "50"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var tlsURL string
	seeded := false
	for !seeded && lines.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", lines.Text())
		}
		switch rec["msg"] {
		case "edgehub emulator started":
			tlsURL, _ = rec["serviceTLS"].(string)
		case "fleet seeded":
			seeded = true
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	defer func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d after SIGTERM", code)
			}
		case <-time.After(10 * time.Second):
			t.Error("did not stop on SIGTERM")
		}
	}()
	if !strings.HasPrefix(tlsURL, "https://127.0.0.1:") || !seeded {
		t.Fatalf("service TLS URL %q, seeded %v", tlsURL, seeded)
	}

	var policy struct{ Name, Key string }
	b, err := os.ReadFile(filepath.Join(state, "service-policy.json"))
	if err == nil {
		err = json.Unmarshal(b, &policy)
	}
	if err != nil || policy.Name != "iothubowner" || policy.Key == "" {
		t.Fatalf("service-policy.json: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(state, "service-policy.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("service-policy.json mode: %v, %v", fi.Mode(), err)
	}
	ca, err := os.ReadFile(filepath.Join(state, "edge-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	cs := "HostName=" + strings.TrimPrefix(tlsURL, "https://") + ";SharedAccessKeyName=" + policy.Name + ";SharedAccessKey=" + policy.Key
	c, err := iotservice.NewFromConnectionString(cs, iotservice.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]int{}
	err = c.QueryDevices(context.Background(), "SELECT * FROM devices.modules WHERE moduleId = 'readiness'", func(v map[string]any) error {
		props, _ := v["properties"].(map[string]any)
		rep, _ := props["reported"].(map[string]any)
		r, _ := rep["readiness"].(map[string]any)
		st, _ := r["status"].(string)
		if st == "" {
			st = "none"
		}
		statuses[st]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"ready": 20, "degraded": 10, "notReady": 15, "none": 5}; len(statuses) != 4 ||
		statuses["ready"] != want["ready"] || statuses["degraded"] != want["degraded"] || statuses["notReady"] != want["notReady"] || statuses["none"] != want["none"] {
		t.Errorf("statuses = %v, want %v", statuses, want)
	}
}
