package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amenzhinsky/iothub/iotservice"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
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
	// The fleet is seeded before the service API listens: a query made as
	// soon as the emulator says it started sees every device (an early
	// fleet run used to print "on 0 devices").
	for tlsURL == "" && lines.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", lines.Text())
		}
		switch rec["msg"] {
		case "edgehub emulator started":
			tlsURL, _ = rec["serviceTLS"].(string)
			if !seeded {
				t.Error("the emulator started serving before the fleet was seeded")
			}
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

// TestFleetAtScale runs the fleet command on 2,000 devices seeded as -fleet
// seeds them (the module's own summary per device, over every check of the
// catalog, and the layered deployment's desired policy) and measures what
// the query reads with the emulator's meter: at most 2 KB a device, against
// SELECT * of whole twins. A page throttled once (429, Retry-After) is
// asked again and the view is whole; a page that fails is a partial view,
// said so, exit 3; a module no device has is said so, exit 3.
//
// The fast tier (-short) seeds 500 devices: the bytes a device are the same,
// the 2,000 of the engine tier take half a minute on a loaded machine.
func TestFleetAtScale(t *testing.T) {
	devices := 2000
	if testing.Short() {
		devices = 500
	}
	emu, err := emulator.New(emulator.Config{StateDir: t.TempDir(), MQTTAddr: "127.0.0.1:0", ServiceAddr: "127.0.0.1:0",
		ServiceTLSAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.SeedFleetTwins("readiness", devices, sampleFleet(time.Now())); err != nil {
		t.Fatal(err)
	}
	// A smaller fleet of another module for the table and the faults.
	const small = 300
	if err := emu.SeedFleetTwins("small", small, sampleFleet(time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	caFile := filepath.Join(t.TempDir(), "edge-ca.pem")
	if err := os.WriteFile(caFile, emu.TrustBundlePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cs := emu.ServiceConnectionString()
	fleet := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := cli.Main(context.Background(), cli.Env{Args: append([]string{"fleet", "--ca-file", caFile}, args...),
			Stdout: &out, Stderr: &errOut, Environ: func() []string { return nil },
			Getenv: func(k string) string {
				if k == cli.EnvConnectionString {
					return cs
				}
				return ""
			}})
		return code, out.String(), errOut.String()
	}
	type view struct {
		Total    int            `json:"total"`
		ByStatus map[string]int `json:"byStatus"`
		Failing  []struct {
			ID string `json:"id"`
		} `json:"failingChecks"`
		Stale   []json.RawMessage `json:"stale"`
		Partial *struct {
			DevicesRead int   `json:"devicesRead"`
			PagesRead   int64 `json:"pagesRead"`
		} `json:"partial"`
	}
	decode := func(out string) view {
		t.Helper()
		var v view
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return v
	}

	// What fleet reads: the projection, 20 pages of 100.
	emu.ResetBilling()
	pages := emu.QueryPages()
	code, out, errOut := fleet("--format", "json")
	v := decode(out)
	b := emu.Billing()
	perDevice := float64(b.Bytes[emulator.BillQuery]) / float64(devices)
	t.Logf("fleet on %d devices: %d pages, %d bytes (%.0f a device), %d billed messages",
		devices, emu.QueryPages()-pages, b.Bytes[emulator.BillQuery], perDevice, b.ByKind[emulator.BillQuery])
	if code != cli.ExitOK || errOut != "" || v.Total != devices || v.Partial != nil || emu.QueryPages()-pages != int64(devices/fleetPage) {
		t.Fatalf("fleet: exit %d, total %d, %d pages, stderr %s", code, v.Total, emu.QueryPages()-pages, errOut)
	}
	if perDevice > 2048 {
		t.Errorf("fleet read %.0f bytes a device, want at most 2 KB", perDevice)
	}
	if want := map[string]int{"ready": devices * 4 / 10, "degraded": devices * 2 / 10, "notReady": devices * 3 / 10, "unknown": devices / 10}; fmt.Sprint(v.ByStatus) != fmt.Sprint(want) {
		t.Errorf("by status %v, want %v", v.ByStatus, want)
	}
	catalog := map[string]bool{}
	for _, c := range checks.All() {
		catalog[c.ID] = true
	}
	for _, c := range v.Failing {
		if !catalog[c.ID] {
			t.Errorf("the seeded fleet fails %q, which is not in the catalog", c.ID)
		}
	}
	if len(v.Failing) < 4 {
		t.Errorf("%d failing checks, want a ranking", len(v.Failing))
	}

	// The same devices as whole twins (SELECT *), as fleet read them before.
	emu.ResetBilling()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(emu.TrustBundlePEM())
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	c, err := iotservice.NewFromConnectionString(cs, iotservice.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := c.QueryDevices(context.Background(), "SELECT * FROM devices.modules WHERE moduleId = 'readiness'",
		func(map[string]any) error { n++; return nil }); err != nil || n != devices {
		t.Fatalf("SELECT *: %d twins, %v", n, err)
	}
	whole := emu.Billing()
	t.Logf("SELECT * on %d devices: %d bytes (%.0f a device), %d billed messages", devices,
		whole.Bytes[emulator.BillQuery], float64(whole.Bytes[emulator.BillQuery])/float64(devices), whole.ByKind[emulator.BillQuery])
	if whole.Bytes[emulator.BillQuery] < 2*b.Bytes[emulator.BillQuery] {
		t.Errorf("whole twins (%d bytes) are not much larger than the projection (%d): the seeded twins are not realistic",
			whole.Bytes[emulator.BillQuery], b.Bytes[emulator.BillQuery])
	}

	// The table caps the stale list (69 devices here).
	code, out, _ = fleet("--module", "small")
	if shown := strings.Count(out, "never reported  -"); code != cli.ExitOK || shown != fleetStaleRows ||
		!strings.Contains(out, "... and 49 more (never reported first") {
		t.Errorf("table: exit %d, %d stale lines shown, want %d and a count of the rest:\n%s", code, shown, fleetStaleRows, out)
	}

	// A page throttled once is asked again after its Retry-After.
	emu.FailQueryPages(emulator.QueryFault{Status: http.StatusTooManyRequests, RetryAfter: 1}, emu.QueryPages()+3)
	code, out, errOut = fleet("--module", "small", "--format", "json")
	if v := decode(out); code != cli.ExitOK || v.Total != small || v.Partial != nil || errOut != "" {
		t.Errorf("a 429 on page 3: exit %d, total %d, partial %v, stderr %s", code, v.Total, v.Partial, errOut)
	}

	// A page that fails: what was read is shown, marked partial, exit 3.
	emu.FailQueryPages(emulator.QueryFault{Status: http.StatusInternalServerError}, emu.QueryPages()+3)
	code, out, errOut = fleet("--module", "small", "--format", "json")
	v = decode(out)
	if code != cli.ExitIncomplete || v.Partial == nil || v.Partial.DevicesRead != 200 || v.Partial.PagesRead != 2 || v.Total != 200 ||
		!strings.HasPrefix(errOut, "fleet: PARTIAL: 200 devices read in 2 pages, then IoT Hub") {
		t.Errorf("a lost page 3: exit %d, total %d, partial %+v, stderr %s", code, v.Total, v.Partial, errOut)
	}
	emu.FailQueryPages(emulator.QueryFault{Status: http.StatusInternalServerError}, emu.QueryPages()+2)
	code, out, _ = fleet("--module", "small")
	if code != cli.ExitIncomplete || !strings.HasPrefix(out, "PARTIAL: the query failed after 100 devices (1 pages)") {
		t.Errorf("a lost page 2, table: exit %d\n%s", code, out)
	}

	// No device has the module: said so, and not exit 0.
	code, out, errOut = fleet("--module", "nosuchmodule")
	if code != cli.ExitIncomplete || out != "" || !strings.Contains(errOut, `has a module named "nosuchmodule": nothing to report`) {
		t.Errorf("no device with the module: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

const (
	fleetPage      = 100 // fleet.PageSize
	fleetStaleRows = 20  // fleet.MaxStaleRows
)
