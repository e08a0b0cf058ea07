package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
	"github.com/edge-readiness/edge-readiness/internal/testenv/hostlock"
)

// reportedDevice is the correct device plus historian, a module that runs,
// and sensor with a health check that passes; broken, sensor's health check
// fails, historian exits at once and is left alone, and edgeAgent reports
// filter at 95% of its memory limit.
func reportedDevice(t *testing.T, broken bool) *testenv.Device {
	d := testenv.NewDevice(t)
	historian := testenv.CustomModule("historian", "myregistry.azurecr.io/historian:1.2.3")
	d.Modules = append(d.Modules, historian)
	sensor := d.Module("sensor")
	probe := "exit 0"
	sensor.WaitHealth = "healthy"
	if broken {
		probe = "echo probe failed: HTTP 503 from /health; exit 1"
		sensor.WaitHealth = "unhealthy"
		historian.Cmd, historian.WaitExit = testenv.ExitCmd(3), true
		d.Agent.UsedMemory = map[string]int64{"filter": d.Module("filter").Memory * 95 / 100}
	}
	sensor.Cmd = testenv.SleepCmd()
	sensor.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/bin/busybox", "sh", "-c", probe},
		Interval: 500 * time.Millisecond, Timeout: 2 * time.Second, Retries: 1}
	return d
}

// gatherAt gathers the device as the module would, with the clock at now.
func gatherAt(t *testing.T, d *testenv.Device, now time.Time, configure func(*facts.Gatherer)) *facts.Snapshot {
	t.Helper()
	g := facts.OpenGatherer(facts.Config{DockerHost: hostlock.DockerHost(), MetricsExplicit: true,
		EdgeHubMetrics: metricsURL(t, d, facts.EdgeHub), EdgeAgentMetrics: metricsURL(t, d, facts.EdgeAgent)})
	t.Cleanup(func() { _ = g.Close() })
	g.Now = func() time.Time { return now }
	g.NoProbes = true
	g.DaemonJSONPath = filepath.Join(t.TempDir(), "absent.json")
	g.Environ = func() []string { return []string{"IOTEDGE_MODULEID=readiness", "IOTEDGE_DEVICEID=" + d.DeviceID} }
	if configure != nil {
		configure(g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := g.Gather(ctx)
	if s.DockerError != "" || !s.Metrics[facts.EdgeAgent].OK() {
		t.Fatalf("gather: docker %q, edgeAgent metrics %+v", s.DockerError, s.Metrics[facts.EdgeAgent])
	}
	return s
}

// reportedCounting lists the findings of the Reported failures section that
// count against readiness, as check/module.
func reportedCounting(fs []checks.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Section == checks.SecReported && f.Counts() {
			out = append(out, f.ID+"/"+f.Module+f.Subject)
		}
	}
	sort.Strings(out)
	return out
}

// TestReportedFailuresOnEngine: a device whose sensor fails its health
// check, whose historian exited and was left alone (the clock ten minutes
// on, past edgeAgent's longest back-off of five), and whose filter uses 95%
// of its memory limit is notReady with exactly those three reasons from the
// Reported failures checks; the same device fixed has none of them and is
// ready under the simulated device's policy.
func TestReportedFailuresOnEngine(t *testing.T) {
	testenv.RequireDocker(t)
	pol, err := policy.Decode([]byte(simulatedPolicy(`"container-engine-moby": {"severity": "off"}`)), checks.Specs(checks.All()))
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(10 * time.Minute) }

	t.Run("broken", func(t *testing.T) {
		d := reportedDevice(t, true)
		d.Start(t)
		s := gatherAt(t, d, later(), nil)
		fs := checks.Run(checks.All(), checks.Input{Snap: s, Self: "readiness"}, pol)
		want := []string{"module-memory-headroom/filter", "module-unhealthy/sensor", "restart-given-up/historian"}
		if got := reportedCounting(fs); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("counting Reported failures findings %v, want %v", got, want)
		}
		if st := report.Summarize(fs).Status; st != report.NotReady {
			t.Errorf("status %s, want notReady", st)
		}
		rep := &report.Report{Findings: fs}
		for _, c := range []struct {
			id, module string
			sev        policy.Severity
			contains   []string
		}{
			{"module-unhealthy", "sensor", policy.Warning, []string{"sensor is unhealthy", `last output: "probe failed: HTTP 503 from /health"`,
				"edgeAgent does not restart unhealthy modules"}},
			{"restart-given-up", "historian", policy.Critical, []string{"historian exited (code 3)", "longest back-off of 5m0s"}},
			{"module-memory-headroom", "filter", policy.Warning, []string{"filter uses 121.6 MiB of its 128.0 MiB memory limit (95%)"}},
		} {
			f := one(t, rep, c.id, c.module)
			if f.Status != checks.Fail || f.Severity != c.sev {
				t.Errorf("%s/%s: %s/%s (%s), want fail/%s", c.id, c.module, f.Status, f.Severity, f.Message, c.sev)
			}
			for _, sub := range c.contains {
				if !strings.Contains(f.Message, sub) {
					t.Errorf("%s/%s: message %q does not name %q", c.id, c.module, f.Message, sub)
				}
			}
		}
		if h := s.Module("sensor").State.Health; h == nil || h.Status != "unhealthy" || h.FailingStreak < 1 {
			t.Errorf("sensor's health as the engine reports it: %+v", h)
		}
		// The clock as it is: historian exited moments ago, within the back-off.
		now := gatherAt(t, d, time.Now(), nil)
		fs = checks.Run(checks.All(), checks.Input{Snap: now, Self: "readiness"}, pol)
		if f := one(t, &report.Report{Findings: fs}, "restart-given-up", "historian"); f.Status != checks.Pass ||
			!strings.Contains(f.Message, "edgeAgent restarts it after its back-off") {
			t.Errorf("restart-given-up/historian right after the exit: %s (%s), want pass", f.Status, f.Message)
		}
	})

	t.Run("fixed", func(t *testing.T) {
		d := reportedDevice(t, false)
		d.Start(t)
		s := gatherAt(t, d, later(), nil)
		fs := checks.Run(checks.All(), checks.Input{Snap: s, Self: "readiness"}, pol)
		if got := reportedCounting(fs); len(got) != 0 {
			t.Errorf("counting Reported failures findings %v, want none", got)
		}
		rep := &report.Report{Findings: fs}
		if f := one(t, rep, "module-unhealthy", "sensor"); f.Status != checks.Pass || !strings.Contains(f.Message, "reports healthy") {
			t.Errorf("module-unhealthy/sensor: %s (%s), want pass", f.Status, f.Message)
		}
		if st := report.Summarize(fs).Status; st != report.Ready {
			t.Errorf("status %s, want ready:\n%s", st, dump(rep))
		}

		// The same device as a child of a parent whose certificate holds
		// another name: a local TLS server plays the parent.
		parent, roots := parentServer(t, "parent.contoso.local")
		s = gatherAt(t, d, later(), func(g *facts.Gatherer) {
			g.NoProbes = false
			g.ProbeTimeout = 2 * time.Second
			g.ProbeRoots = roots
			g.ParentPorts = facts.ParentPorts{MQTT: parent, HTTPS: parent}
			g.Environ = func() []string {
				return []string{"IOTEDGE_MODULEID=readiness", "IOTEDGE_DEVICEID=" + d.DeviceID, "IOTEDGE_PARENTHOSTNAME=127.0.0.1"}
			}
		})
		fs = checks.Run(checks.All(), checks.Input{Snap: s, Self: "readiness"}, pol)
		got := byIDStatus(fs, "nested-parent-tls")
		if got["127.0.0.1:"+parent] != checks.Fail || got["127.0.0.1 registry"] != checks.Skip {
			t.Errorf("nested-parent-tls = %v, want the parent's port failing and the registry not asked", got)
		}
		for _, f := range fs {
			if f.ID == "nested-parent-tls" && f.Status == checks.Fail &&
				!strings.Contains(f.Message, "does not hold the name 127.0.0.1 (it holds parent.contoso.local)") {
				t.Errorf("nested-parent-tls: %q", f.Message)
			}
		}
	})
}

func byIDStatus(fs []checks.Finding, id string) map[string]checks.Status {
	out := map[string]checks.Status{}
	for _, f := range fs {
		if f.ID == id {
			out[f.Module+f.Subject] = f.Status
		}
	}
	return out
}

// parentServer serves TLS on 127.0.0.1 with a certificate for name, issued
// by a CA of its own; it returns the port and the CA as roots.
func parentServer(t *testing.T, name string) (string, *x509.CertPool) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "parent Edge CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey := key()
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, pool
}
