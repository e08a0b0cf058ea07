package checks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

const agentDigest = "mcr.microsoft.com/azureiotedge-agent@sha256:4a1e4bd6e1bbbd1d5e5a87cb1b6d2f6b5ce9d1c6c6c0f8d2e1e3b0a9f8e7d6c5"

func setAgentVersion(s *facts.Snapshot, v string) {
	for i, smp := range s.Metrics[facts.EdgeAgent].Samples {
		if smp.Name == "edgeAgent_metadata" {
			s.Metrics[facts.EdgeAgent].Samples[i].Labels["edge_agent_version"] = v
		}
	}
}

// at sets the snapshot's time.
func at(ts string) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			panic(err)
		}
		s.Time = t
	}
}

// runtimeOn sets edgeAgent's and edgeHub's images to a release at a time.
func runtimeOn(version, ts string) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:"+version)
		setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:"+version)
		at(ts)(s)
	}
}

func both(status checks.Status, sev policy.Severity, msg string) []want {
	return []want{{module: "edgeAgent", status: status, severity: sev, msg: msg}, {module: "edgeHub", status: status, severity: sev, msg: msg}}
}

func TestRuntimeVersionSupported(t *testing.T) {
	runCases(t, "runtime-version-supported", []checkCase{
		{
			name: "1.5.21 in 2025 passes",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent runs IoT Edge 1.5 (image contoso.azurecr.io/azureiotedge-agent:1.5.21), a supported release (serviced through 2026-11-10)"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub runs IoT Edge 1.5"},
			},
		},
		{
			name:   "1.6.8 today passes",
			mutate: runtimeOn("1.6.8", "2026-12-07T15:00:00Z"),
			want:   both(checks.Pass, "", "1.6.8), a supported release (serviced through 2028-11-14)"),
		},
		{
			name:   "1.5.21 today fails critically, naming its end and 1.6",
			mutate: runtimeOn("1.5.21", "2026-12-07T15:00:00Z"),
			want: both(checks.Fail, policy.Critical, "1.5.21), whose servicing ended on 2026-11-10: "+
				"move to 1.6, the newest release in the lifecycle table (serviced through 2028-11-14)"),
		},
		{
			name:   "1.5.21 on 2026-03-01 passes (254 days left)",
			mutate: runtimeOn("1.5.21", "2026-03-01T00:00:00Z"),
			want:   both(checks.Pass, "", "a supported release (serviced through 2026-11-10)"),
		},
		{
			name:   "1.6.8 on 2028-09-01 warns",
			mutate: runtimeOn("1.6.8", "2028-09-01T00:00:00Z"),
			want: both(checks.Fail, policy.Warning, "serviced only through 2028-11-14 (75 days from now, within warningDays 180): "+
				"plan the move to a newer release: the lifecycle table knows none yet, add it to lifecycle"),
		},
		{
			name:   "1.6.8 on 2028-12-01 fails critically",
			mutate: runtimeOn("1.6.8", "2028-12-01T00:00:00Z"),
			want:   both(checks.Fail, policy.Critical, "whose servicing ended on 2028-11-14: move to a newer release"),
		},
		{
			name:   "1.4.27 today fails critically",
			mutate: runtimeOn("1.4.27", "2026-12-07T15:00:00Z"),
			want:   both(checks.Fail, policy.Critical, "1.4.27), whose servicing ended on 2024-11-12: move to 1.6"),
		},
		{
			name:   "edgeHub rolling 1.4 fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:1.4") },
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: "2024-11-12"}},
		},
		{
			name:   "1.1 fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.1.18") },
			want:   []want{{module: "edgeAgent", status: checks.Fail, msg: "runs IoT Edge 1.1 (image mcr.microsoft.com/azureiotedge-agent:1.1.18), whose servicing ended on 2022-12-13"}},
		},
		{
			name:   "1.2, not in the table and older than the ended 1.4, fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.2.10") },
			want: []want{{module: "edgeAgent", status: checks.Fail, severity: policy.Critical,
				msg: "runs IoT Edge 1.2 (image mcr.microsoft.com/azureiotedge-agent:1.2.10), which is not in the lifecycle table and is older than 1.4, whose servicing ended on 2024-11-12"}},
		},
		{
			name:   "1.7, newer than every entry, passes and asks for its date",
			mutate: runtimeOn("1.7.0", "2026-12-07T15:00:00Z"),
			want: both(checks.Pass, "", "1.7.0), newer than every release in the lifecycle table "+
				"(newest: 1.6, serviced through 2028-11-14); add its end of servicing to lifecycle"),
		},
		{
			name:   "a lifecycle entry added by policy names the next release",
			mutate: runtimeOn("1.6.8", "2028-12-01T00:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"lifecycle":["1.7=2030-11-12"]}}}}`,
			want:   both(checks.Fail, policy.Critical, "whose servicing ended on 2028-11-14: move to 1.7, the newest release in the lifecycle table (serviced through 2030-11-12)"),
		},
		{
			name:   "a policy extends 1.5's date",
			mutate: runtimeOn("1.5.21", "2026-12-07T15:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"lifecycle":["1.5=2027-12-31"],"warningDays":0}}}}`,
			want:   both(checks.Pass, "", "serviced through 2027-12-31"),
		},
		{
			name:   "warningDays 30 lets 1.6.8 on 2028-09-01 pass",
			mutate: runtimeOn("1.6.8", "2028-09-01T00:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"warningDays":30}}}}`,
			want:   both(checks.Pass, "", "serviced through 2028-11-14"),
		},
		{
			name: "without the original-image label the container's image is read",
			mutate: func(s *facts.Snapshot) {
				c := mod(s, "edgeHub")
				delete(c.Labels, facts.OriginalImageLabel)
				c.Image = "mcr.microsoft.com/azureiotedge-hub:1.4.27-linux-arm32v7"
			},
			want: []want{{module: "edgeHub", status: checks.Fail, msg: "IoT Edge 1.4 (image mcr.microsoft.com/azureiotedge-hub:1.4.27-linux-arm32v7)"}},
		},
		{
			name:   "digest-only edgeAgent falls back to edgeAgent_metadata",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), agentDigest) },
			want: []want{{module: "edgeAgent", status: checks.Pass,
				msg: "edgeAgent runs IoT Edge 1.5 (edgeAgent_metadata version 1.5.21.94152683"}},
		},
		{
			name: "digest-only edgeAgent with 1.4 metadata fails",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "edgeAgent"), agentDigest)
				setAgentVersion(s, "1.4.27.82633486 (d1a0f4b1d3b4f0a5e0b58b2e8b0cdd2c5f7e7f44)")
			},
			want: []want{{module: "edgeAgent", status: checks.Fail, msg: "edgeAgent_metadata version 1.4.27.82633486"}},
		},
		{
			name: "digest-only edgeAgent without metrics cannot be told",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "edgeAgent"), agentDigest)
				delete(s.Metrics, facts.EdgeAgent)
			},
			want: []want{{module: "edgeAgent", status: checks.Skip, msg: "cannot tell the release of edgeAgent from image " + agentDigest}},
		},
		{
			name:   "supportedReleases still judges a listed release by its end of servicing",
			mutate: runtimeOn("1.4.27", "2026-12-07T15:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.4","1.6"]}}}}`,
			want:   both(checks.Fail, policy.Critical, "whose servicing ended on 2024-11-12"),
		},
		{
			name:   "supportedReleases without 1.5 fails a serviced 1.5",
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.6"]}}}}`,
			want:   both(checks.Fail, policy.Critical, "which supportedReleases does not list (supported: 1.6)"),
		},
		{
			name:   "supportedReleases admits a release the table does not know",
			mutate: runtimeOn("1.7.1", "2026-12-07T15:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.7"]}}}}`,
			want:   both(checks.Pass, "", "a release supportedReleases lists; its end of servicing is not in the lifecycle table"),
		},
		{
			name:   "a snapshot without a time cannot be judged",
			mutate: func(s *facts.Snapshot) { s.Time = time.Time{} },
			want:   []want{{status: checks.Skip, msg: "the snapshot has no time to judge the end of servicing against"}},
		},
		{
			name:   "no edgeHub container skips edgeHub",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "no edgeHub container (see modules-running)"}},
		},
	})
}

// TestRuntimeLifecycleBoundaries judges every release of the default table
// a minute before and after each of its boundaries: the start of warningDays
// and the end of its last day of servicing (UTC).
func TestRuntimeLifecycleBoundaries(t *testing.T) {
	ends := map[string]string{"1.1": "2022-12-13", "1.4": "2024-11-12", "1.5": "2026-11-10", "1.6": "2028-11-14"}
	for rel, end := range ends {
		last, err := time.Parse(time.DateOnly, end)
		if err != nil {
			t.Fatal(err)
		}
		over := last.Add(24 * time.Hour) // servicing covers the whole last day
		warnFrom := over.Add(-180 * 24 * time.Hour)
		for _, tc := range []struct {
			at     time.Time
			status checks.Status
			sev    policy.Severity
			msg    string
		}{
			{warnFrom.Add(-time.Minute), checks.Pass, policy.Critical, "a supported release (serviced through " + end + ")"},
			{warnFrom.Add(time.Minute), checks.Fail, policy.Warning, "serviced only through " + end + " (180 days from now"},
			{over.Add(-time.Minute), checks.Fail, policy.Warning, "serviced only through " + end + " (1 day from now"},
			{over.Add(time.Minute), checks.Fail, policy.Critical, "whose servicing ended on " + end},
		} {
			t.Run(rel+" at "+tc.at.Format(time.RFC3339), func(t *testing.T) {
				s := goodDevice(t)
				runtimeOn(rel+".3", tc.at.Format(time.RFC3339))(s)
				got := byID(runAll(s, decodePolicy(t, "")), "runtime-version-supported")
				expectFindings(t, got, both(tc.status, tc.sev, tc.msg))
			})
		}
	}
}

func TestContainerEngineMoby(t *testing.T) {
	runCases(t, "container-engine-moby", []checkCase{
		{
			name: "Moby +azure passes",
			want: []want{{status: checks.Pass, msg: "the engine is Moby 20.10.11+azure-3"}},
		},
		{
			name: "Docker CE fails",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "24.0.7"
				s.Engine.PlatformName = "Docker Engine - Community"
				s.Engine.Components = []string{"Engine 24.0.7", "containerd 1.6.25", "runc 1.1.10", "docker-init 0.19.0"}
			},
			want: []want{{status: checks.Fail, msg: "the engine is Docker Engine - Community 24.0.7, not Microsoft's Moby"}},
		},
		{
			name: "Debian docker.io fails",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "20.10.24+dfsg1"
				s.Engine.Components = []string{"Engine 20.10.24+dfsg1", "containerd 1.6.20~ds1", "runc 1.1.5+ds1"}
				s.Engine.OperatingSystem = "Debian GNU/Linux 12 (bookworm)"
			},
			want: []want{{status: checks.Fail, msg: "20.10.24+dfsg1, not Microsoft's Moby"}},
		},
		{
			name: "Docker snap on Ubuntu Core passes",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "24.0.5"
				s.Engine.Components = []string{"Engine 24.0.5", "containerd 1.6.24", "runc 1.1.9"}
				s.Engine.OperatingSystem = "Ubuntu Core 22"
				s.Engine.DockerRootDir = "/var/snap/docker/common/var-lib-docker"
			},
			want: []want{{status: checks.Pass, msg: "the Docker snap on Ubuntu Core (24.0.5)"}},
		},
		{
			name: "Ubuntu Core is recognized by its name alone",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "24.0.5"
				s.Engine.Components = nil
				s.Engine.OperatingSystem = "Ubuntu Core 22"
				s.Engine.DockerRootDir = ""
			},
			want: []want{{status: checks.Pass, msg: "the Docker snap on Ubuntu Core"}},
		},
		{
			name: "engine unreachable is an error saying why",
			mutate: func(s *facts.Snapshot) {
				s.Engine = nil
				s.DockerError = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
			},
			want: []want{{status: checks.Error, msg: "cannot decide without the Docker engine: Cannot connect to the Docker daemon at unix:///var/run/docker.sock"}},
		},
	})
}

// issued is a generated certificate and its key.
type issued struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64

// issue generates a certificate for cn valid from notBefore for days, signed
// by parent (self-signed when parent is nil). CAs get the key usages IoT
// Edge's certd gives them; leaves are TLS server certificates.
func issue(tb testing.TB, cn string, ca bool, notBefore time.Time, days float64, parent *issued) *issued {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(time.Duration(days * 24 * float64(time.Hour))),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{cn, "edgeHub"}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &issued{cert: c, key: key}
}

// presented sets the chain edgeHub presents (leaf first) and the trust bundle.
func presented(chain []*issued, bundle ...*issued) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		certs := func(l []*issued) []*x509.Certificate {
			out := make([]*x509.Certificate, len(l))
			for i, c := range l {
				out[i] = c.cert
			}
			return out
		}
		s.Certs = &facts.Certs{
			EdgeHubEndpoint: "edge-01.contoso.local:8883",
			EdgeHubChain:    facts.CertsFrom(certs(chain)),
			TrustBundle:     facts.CertsFrom(certs(bundle)),
		}
	}
}

const day = 24 * time.Hour

// ago is d days before the snapshots' time.
func ago(d float64) time.Time { return snapTime.Add(-time.Duration(d * float64(day))) }

// quickstart is the Edge CA aziot-edged makes without [edge_ca]: self-signed,
// 90 days, CN=aziot-edge CA <device id>; issued 10 days ago.
func quickstart(tb testing.TB, cn string) (ca, leaf *issued) {
	ca = issue(tb, cn, true, ago(10), 90, nil)
	leaf = issue(tb, "edge-01.contoso.local", false, ago(2), 30, ca)
	return ca, leaf
}

// productionChain is root → intermediate Edge CA → edgeHub's server certificate.
func productionChain(tb testing.TB, caDays, caAge, leafDays, leafAge float64) (root, ca, leaf *issued) {
	root = issue(tb, "Contoso Root CA", true, ago(2000), 3650, nil)
	ca = issue(tb, "Contoso Edge CA edge-01", true, ago(caAge), caDays, root)
	leaf = issue(tb, "edge-01.contoso.local", false, ago(leafAge), leafDays, ca)
	return root, ca, leaf
}

func TestCertsFromGenerated(t *testing.T) {
	ca, leaf := quickstart(t, "aziot-edge CA device1")
	got := facts.CertsFrom([]*x509.Certificate{leaf.cert, ca.cert})
	if !got[1].SelfSigned || !got[1].IsCA || got[1].HasAKID || got[1].CommonName != "aziot-edge CA device1" {
		t.Errorf("quickstart CA: %+v, want a self-signed CA without authority key id", got[1])
	}
	if got[0].SelfSigned || got[0].IsCA || !got[0].HasAKID || got[0].Issuer != "CN=aziot-edge CA device1" {
		t.Errorf("leaf: %+v, want issued by the CA, with an authority key id", got[0])
	}
	if d := got[1].NotAfter.Sub(got[1].NotBefore); d != 90*day {
		t.Errorf("validity %v, want 90 days", d)
	}
}

func TestProductionCertificates(t *testing.T) {
	qsCA, qsLeaf := quickstart(t, "aziot-edge CA device1")
	customCA, customLeaf := quickstart(t, "Contoso Edge CA")
	root, ca, leaf := productionChain(t, 365, 30, 30, 1)
	// IoT Edge's certGen.sh: root and intermediate CN ending in _Test_Only, 30 days.
	testRoot := issue(t, "Azure_IoT_Hub_CA_Cert_Test_Only", true, ago(5), 30, nil)
	testInter := issue(t, "Azure_IoT_Hub_Intermediate_Cert_Test_Only", true, ago(5), 30, testRoot)
	testCA := issue(t, "MyEdgeDeviceCA", true, ago(5), 30, testInter)
	testLeaf := issue(t, "edge-01.contoso.local", false, ago(1), 30, testCA)
	// IoT Edge 1.1's quickstart: Test Edge Owner CA → device CA → workload CA → edgeHub.
	owner := issue(t, "Test Edge Owner CA", true, ago(10), 90, nil)
	device := issue(t, "iotedged device ca", true, ago(10), 90, owner)
	workload := issue(t, "iotedged workload ca", true, ago(10), 90, device)
	leaf11 := issue(t, "edge-01.contoso.local", false, ago(1), 30, workload)
	// A customer's own self-signed Edge CA with a long validity.
	ownRoot := issue(t, "Contoso Edge Root", true, ago(100), 1095, nil)
	ownLeaf := issue(t, "edge-01.contoso.local", false, ago(1), 30, ownRoot)

	runCases(t, "production-certificates", []checkCase{
		{
			name: "good device: an Edge CA issued by the company root",
			want: []want{{status: checks.Pass, severity: policy.Critical, msg: `the Edge CA "Contoso Edge CA edge-01" is a production CA (issued by CN=Contoso Root CA,O=Contoso`}},
		},
		{
			name:   "generated chain root → intermediate Edge CA passes",
			mutate: presented([]*issued{leaf, ca}, ca, root),
			want:   []want{{status: checks.Pass, msg: `"Contoso Edge CA edge-01" is a production CA (issued by CN=Contoso Root CA, valid for 365 days)`}},
		},
		{
			name:   "quickstart CA fails",
			mutate: presented([]*issued{qsLeaf, qsCA}, qsCA),
			want: []want{{status: checks.Fail, severity: policy.Critical,
				msg: `the Edge CA "aziot-edge CA device1" is the auto-generated quickstart CA: self-signed, valid for 90 days (from the chain edgeHub presents on edge-01.contoso.local:8883)`}},
		},
		{
			name:   "quickstart CA with a custom subject still fails: not decided by the name",
			mutate: presented([]*issued{customLeaf, customCA}),
			want:   []want{{status: checks.Fail, msg: `the Edge CA "Contoso Edge CA" is the auto-generated quickstart CA: self-signed, valid for 90 days`}},
		},
		{
			name:   "quickstart CA read from the trust bundle when edgeHub presents only its leaf",
			mutate: presented([]*issued{qsLeaf}, qsCA),
			want:   []want{{status: checks.Fail, msg: "valid for 90 days (from the workload API's trust bundle)"}},
		},
		{
			name:   "test-only chain from certGen.sh fails",
			mutate: presented([]*issued{testLeaf, testCA, testInter, testRoot}),
			want:   []want{{status: checks.Fail, msg: `chains to the test-only certificate "Azure_IoT_Hub_Intermediate_Cert_Test_Only"`}},
		},
		{
			name:   "test-only root only in the trust bundle fails",
			mutate: presented([]*issued{testLeaf, testCA}, testCA, testRoot),
			want:   []want{{status: checks.Fail, msg: `test-only certificate "Azure_IoT_Hub_CA_Cert_Test_Only"`}},
		},
		{
			name:   "IoT Edge 1.1 quickstart: the owner CA is the issuer of the device CA",
			mutate: presented([]*issued{leaf11, workload, device}),
			want:   []want{{status: checks.Fail, msg: "IoT Edge 1.1's quickstart CA (Test Edge Owner CA)"}},
		},
		{
			name:   "IoT Edge 1.1 quickstart: the owner CA in the trust bundle",
			mutate: presented([]*issued{leaf11}, owner),
			want:   []want{{status: checks.Fail, msg: "IoT Edge 1.1's quickstart CA (Test Edge Owner CA)"}},
		},
		{
			name:   "a self-signed Edge CA of three years is not the quickstart CA",
			mutate: presented([]*issued{ownLeaf, ownRoot}),
			want:   []want{{status: checks.Pass, msg: `the Edge CA "Contoso Edge Root" is a production CA (self-signed, valid for 1095 days)`}},
		},
		{
			name: "nothing readable is an error naming both sources",
			mutate: func(s *facts.Snapshot) {
				s.Certs = &facts.Certs{EdgeHubError: "edge-01.contoso.local:8883: connection refused",
					TrustBundleError: "no IOTEDGE_WORKLOADURI"}
			},
			want: []want{{status: checks.Error, severity: policy.Critical,
				msg: "cannot read the Edge CA: edgeHub's TLS endpoint: edge-01.contoso.local:8883: connection refused; the trust bundle: no IOTEDGE_WORKLOADURI"}},
		},
		{
			name:   "certificates not gathered",
			mutate: func(s *facts.Snapshot) { s.Certs = nil },
			want:   []want{{status: checks.Error, msg: "cannot decide without certificates: not gathered"}},
		},
		{
			name:   "the development profile keeps it critical: it is not a helpful item",
			mutate: presented([]*issued{qsLeaf, qsCA}),
			policy: `{"profile":"development"}`,
			want:   []want{{status: checks.Fail, severity: policy.Critical, msg: "auto-generated quickstart CA"}},
		},
		{
			name:   "an exemption for a lab device",
			mutate: presented([]*issued{qsLeaf, qsCA}),
			policy: `{"exemptions":{"lab":{"checks":["production-certificates"],"reason":"lab device, quickstart CA on purpose","expires":"2099-01-01"}}}`,
			want:   []want{{status: checks.Skip, msg: "exempted by policy (lab): lab device, quickstart CA on purpose"}},
		},
	})
}

func TestEdgeCAExpiry(t *testing.T) {
	chain := func(caDays, caAge, leafDays, leafAge float64) func(*facts.Snapshot) {
		root, ca, leaf := productionChain(t, caDays, caAge, leafDays, leafAge)
		return presented([]*issued{leaf, ca}, ca, root)
	}
	runCases(t, "edge-ca-expiry", []checkCase{
		{
			name: "good device",
			want: []want{
				{subject: "edge-ca", status: checks.Pass, msg: `the Edge CA "Contoso Edge CA edge-01" is valid for 227 more days`},
				{subject: "edgehub-server", status: checks.Pass, msg: `server certificate "edge-01.contoso.local" is valid for 17 days more`},
			},
		},
		{
			name:   "Edge CA expiring in 3 days fails critically",
			mutate: chain(365, 362, 30, 0),
			want: []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Critical,
				msg: `the Edge CA "Contoso Edge CA edge-01" expires in 3 days (2025-06-04), under 7; whether it renews by itself`}},
		},
		{
			name:   "Edge CA with five days left fails critically",
			mutate: chain(365, 360, 30, 0),
			want: []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Critical,
				msg: `the Edge CA "Contoso Edge CA edge-01" expires in 5 days (2025-06-06), under 7`}},
		},
		{
			name: "a quickstart Edge CA with five days left says IoT Edge renews it by itself and did not",
			mutate: func(s *facts.Snapshot) {
				ca := issue(t, "aziot-edge CA edge-01", true, ago(85), 90, nil)
				leaf := issue(t, "edge-01.contoso.local", false, ago(1), 30, ca)
				presented([]*issued{leaf, ca})(s)
			},
			want: []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Critical,
				msg: "expires in 5 days (2025-06-06), under 7; it is the quickstart Edge CA, which IoT Edge renews by itself at 80 % of its life: it was not renewed"}},
		},
		{
			name:   "Edge CA expiring in 20 days fails as a warning",
			mutate: chain(365, 345, 30, 0),
			want: []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Warning,
				msg: "expires in 20 days (2025-06-21), under 30"}},
		},
		{
			name:   "expired Edge CA fails critically",
			mutate: chain(365, 366, 30, 0),
			want: []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Critical,
				msg: `the Edge CA "Contoso Edge CA edge-01" expired on 2025-05-31`}},
		},
		// edgeHub's 30-day server certificate on days 1, 24, 29 and 31 of its life.
		{
			name:   "a 30-day server certificate on day 1 passes",
			mutate: chain(365, 30, 30, 0.5),
			want:   []want{{subject: "edgehub-server", status: checks.Pass, msg: "is valid for 29 days more"}},
		},
		{
			name:   "a 30-day server certificate on day 24 passes: edgeHub renews it by itself",
			mutate: chain(365, 30, 30, 23.5),
			want: []want{{subject: "edgehub-server", status: checks.Pass,
				msg: `edgeHub's server certificate "edge-01.contoso.local" is valid for 6 days more (until 2025-06-08 00:00 UTC); edgeHub renews it by itself 5 minutes before it ends`}},
		},
		{
			name:   "a 30-day server certificate on day 29 passes",
			mutate: chain(365, 30, 30, 28.5),
			want:   []want{{subject: "edgehub-server", status: checks.Pass, msg: "is valid for 36 hours more"}},
		},
		{
			name:   "a 30-day server certificate with ten minutes left passes: renewal is due in five",
			mutate: chain(365, 30, 30, 30-10.0/(24*60)),
			want:   []want{{subject: "edgehub-server", status: checks.Pass, msg: "is valid for 10 minutes more"}},
		},
		{
			name:   "a 30-day server certificate with three minutes left fails: edgeHub should have renewed it",
			mutate: chain(365, 30, 30, 30-3.0/(24*60)),
			want: []want{{subject: "edgehub-server", status: checks.Fail, severity: policy.Critical,
				msg: "ends in 3 minutes (2025-06-01T12:03:00Z): edgeHub renews it 5 minutes before it ends, so it should already have been renewed"}},
		},
		{
			name:   "a 30-day server certificate that ended three hours ago fails critically",
			mutate: chain(365, 30, 30, 30+3.0/24),
			want: []want{{subject: "edgehub-server", status: checks.Fail, severity: policy.Critical,
				msg: `edgeHub's server certificate "edge-01.contoso.local" ended 3 hours ago (2025-06-01T09:00:00Z) and edgeHub still serves it: it was not renewed`}},
		},
		{
			name:   "a 30-day server certificate on day 31 (ended a day ago) fails critically",
			mutate: chain(365, 30, 30, 30.5),
			want:   []want{{subject: "edgehub-server", status: checks.Fail, severity: policy.Critical, msg: "ended 12 hours ago"}},
		},
		{
			name:   "a one-year server certificate 25 days from its end passes: edgeHub renews it too",
			mutate: chain(730, 30, 365, 340),
			want:   []want{{subject: "edgehub-server", status: checks.Pass, msg: "is valid for 25 days more"}},
		},
		{
			name:   "criticalDays raised by policy",
			mutate: chain(365, 345, 30, 0),
			policy: `{"checks":{"edge-ca-expiry":{"params":{"criticalDays":21}}}}`,
			want:   []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Critical, msg: "under 21"}},
		},
		{
			name:   "severity override to warning caps the critical threshold",
			mutate: chain(365, 362, 30, 0),
			policy: `{"checks":{"edge-ca-expiry":{"severity":"warning"}}}`,
			want:   []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Warning, msg: "under 7"}},
		},
		{
			name:   "the development profile keeps it critical",
			mutate: chain(365, 362, 30, 0),
			policy: `{"profile":"development"}`,
			want:   []want{{subject: "edge-ca", status: checks.Fail, severity: policy.Critical, msg: "under 7"}},
		},
		{
			name: "no Edge CA readable is an error",
			mutate: func(s *facts.Snapshot) {
				presented(nil)(s)
				s.Certs.EdgeHubError = "edge-01.contoso.local:8883: i/o timeout"
			},
			want: []want{{subject: "edge-ca", status: checks.Error, msg: "cannot read the Edge CA: edgeHub's TLS endpoint: edge-01.contoso.local:8883: i/o timeout"}},
		},
	})
}

func TestUpstreamProtocol(t *testing.T) {
	unreachable := func(s *facts.Snapshot) { probeOf(s, "iothub").TLSError = "dial tcp 203.0.113.10:5671: i/o timeout" }
	runCases(t, "upstream-protocol", []checkCase{
		{
			name: "good device: the default protocol, reachable",
			want: []want{{status: checks.Pass, severity: policy.Info,
				msg: "edgeHub connects upstream with Amqp (UpstreamProtocol unset: the default) on port 5671 (reachable from this module)"}},
		},
		{
			name: "Mqtt behind a proxy fails (as info)",
			mutate: func(s *facts.Snapshot) {
				setEnv(mod(s, "edgeHub"), "UpstreamProtocol", "Mqtt")
				s.Engine.HTTPSProxy = "http://proxy.contoso.local:3128"
			},
			want: []want{{status: checks.Fail, severity: policy.Info,
				msg: "edgeHub uses Mqtt (port 8883) but a proxy is configured: only MqttWs on 443 goes through a proxy"}},
		},
		{
			name: "MqttWs behind edgeHub's own proxy passes",
			mutate: func(s *facts.Snapshot) {
				setEnv(mod(s, "edgeHub"), "UpstreamProtocol", "MqttWs")
				setEnv(mod(s, "edgeHub"), "https_proxy", "http://proxy.contoso.local:3128")
				probeOf(s, "iothub").Port = "443"
			},
			want: []want{{status: checks.Pass, msg: "edgeHub connects upstream with MqttWs on port 443 (reachable from this module)"}},
		},
		{
			name:   "5671 unreachable while 443 is: suggests AmqpWs",
			mutate: unreachable,
			want: []want{{status: checks.Fail, severity: policy.Info,
				msg: "edgeHub uses Amqp but port 5671 is not reachable (no TLS handshake with contoso-hub.azure-devices.net:5671: dial tcp 203.0.113.10:5671: i/o timeout) while 443 is: use AmqpWs"}},
		},
		{
			name: "nothing reachable: reports it, suggests nothing",
			mutate: func(s *facts.Snapshot) {
				unreachable(s)
				probeOf(s, "registry").TLSError = "i/o timeout"
			},
			want: []want{{status: checks.Pass, msg: "on port 5671 (not reachable from this module: see upstream-connectivity)"}},
		},
		{
			name:   "no probes: reports the protocol only",
			mutate: func(s *facts.Snapshot) { s.Probes = nil },
			want:   []want{{status: checks.Pass, msg: "on port 5671"}},
		},
		{
			name:   "no edgeHub: skip",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want:   []want{{status: checks.Skip, msg: "no edgeHub container"}},
		},
	})
}

func TestHostnameValid(t *testing.T) {
	hostname := func(h string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { setEnv(mod(s, "edgeHub"), "EdgeDeviceHostName", h) }
	}
	long := strings.Repeat("a", 40) + "." + strings.Repeat("b", 29) // 70 characters, labels valid
	runCases(t, "hostname-valid", []checkCase{
		{name: "good device", want: []want{{status: checks.Pass, severity: policy.Warning, msg: "the device hostname edge-01.contoso.local (edgeHub's EdgeDeviceHostName) is valid"}}},
		{name: "underscore", mutate: hostname("edge_01"), want: []want{{status: checks.Fail, msg: `the device hostname "edge_01" (edgeHub's EdgeDeviceHostName) is not valid: label "edge_01" is not RFC 1035`}}},
		{name: "label starting with a digit", mutate: hostname("01edge.contoso.local"), want: []want{{status: checks.Fail, msg: `label "01edge" is not RFC 1035`}}},
		{name: "empty label", mutate: hostname("edge..local"), want: []want{{status: checks.Fail, msg: `label "" is not RFC 1035`}}},
		{name: "longer than 64 characters", mutate: hostname(long), want: []want{{status: checks.Fail, msg: "it is 70 characters long, too long to be used as a certificate issuer (64 at most)"}}},
		{name: "64 characters pass", mutate: hostname(long[:64]), want: []want{{status: checks.Pass, msg: "is valid"}}},
		{name: "an IP address", mutate: hostname("192.0.2.10"), want: []want{{status: checks.Pass, msg: "is an IP address"}}},
		{
			name:   "from this module's IOTEDGE_GATEWAYHOSTNAME when edgeHub has none",
			mutate: func(s *facts.Snapshot) { delete(mod(s, "edgeHub").Env, "EdgeDeviceHostName") },
			want:   []want{{status: checks.Pass, msg: "edge-01.contoso.local (IOTEDGE_GATEWAYHOSTNAME) is valid"}},
		},
		{
			name: "unknown: skip",
			mutate: func(s *facts.Snapshot) {
				delete(mod(s, "edgeHub").Env, "EdgeDeviceHostName")
				delete(s.Env, "IOTEDGE_GATEWAYHOSTNAME")
			},
			want: []want{{status: checks.Skip, msg: "the device hostname is unknown"}},
		},
		{name: "the development profile reports it as info", mutate: hostname("edge_01"), policy: `{"profile":"development"}`,
			want: []want{{status: checks.Fail, severity: policy.Info, msg: "not RFC 1035"}}},
	})
}
