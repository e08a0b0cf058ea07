package checks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

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
