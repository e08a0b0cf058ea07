package checks

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// edgeCA picks the Edge CA: the issuer of edgeHub's server certificate in the
// chain it presents, else the trust bundle's first CA.
func edgeCA(c *facts.Certs) (*facts.Cert, string) {
	if len(c.EdgeHubChain) > 1 {
		return &c.EdgeHubChain[1], "the chain edgeHub presents on " + c.EdgeHubEndpoint
	}
	for i := range c.TrustBundle {
		if c.TrustBundle[i].IsCA {
			return &c.TrustBundle[i], "the workload API's trust bundle"
		}
	}
	return nil, ""
}

func certsUnknown(c *facts.Certs) string {
	var why []string
	if c.EdgeHubError != "" {
		why = append(why, "edgeHub's TLS endpoint: "+c.EdgeHubError)
	}
	if c.TrustBundleError != "" {
		why = append(why, "the trust bundle: "+c.TrustBundleError)
	}
	if len(why) == 0 {
		why = append(why, "edgeHub presented no CA certificate and no trust bundle is available")
	}
	return "cannot read the Edge CA: " + strings.Join(why, "; ")
}

// testEdgeOwnerCA is the root of IoT Edge 1.1's quickstart certificates.
const testEdgeOwnerCA = "Test Edge Owner CA"

func validityDays(c *facts.Cert) float64 { return c.NotAfter.Sub(c.NotBefore).Hours() / 24 }

var productionCertificates = &Check{
	Meta: Meta{
		ID: "production-certificates", Title: "Production certificates are installed",
		Section: SecDevice, Seed: "Install production certificates", Severity: policy.Critical, IotedgeCheck: "certificates-quickstart (1.1)",
		Decides: "Reads the Edge CA from the chain edgeHub presents (8883, then 5671, 443) or the workload API's trust bundle. " +
			"It fails when the Edge CA is the auto-generated quickstart CA — self-signed with a validity of about 90 days " +
			"(85 to 95), whatever its name, or IoT Edge 1.1's Test Edge Owner CA — or when any certificate in the chain is a " +
			"test-only one (CN ending in _Test_Only).",
		Remediation: "Issue the Edge CA from your PKI (or EST) and configure it in /etc/aziot/config.toml under [edge_ca] (cert and pk), then `sudo iotedge config apply`; the quickstart CA expires after 90 days and is not meant for production.",
		Reference:   seedRef("install-production-certificates"),
		Needs:       []facts.Fact{NeedCerts},
	},
	Eval: func(in *Input) []Result {
		c := in.Snap.Certs
		ca, from := edgeCA(c)
		if ca == nil {
			return []Result{{Status: Error, Message: certsUnknown(c)}}
		}
		r := Result{}.with("edgeCA", ca.Subject).with("issuer", ca.Issuer).with("selfSigned", ca.SelfSigned).
			with("validityDays", math.Round(validityDays(ca))).with("from", from)
		for _, cert := range append(append([]facts.Cert(nil), c.EdgeHubChain...), c.TrustBundle...) {
			if strings.HasSuffix(cert.CommonName, "_Test_Only") {
				r.Status, r.Message = Fail, fmt.Sprintf("the Edge CA chains to the test-only certificate %q (from IoT Edge's test scripts, valid for 30 days)", cert.CommonName)
				return []Result{r}
			}
			// IoT Edge 1.1's quickstart root issues the device CA, which issues the workload CA:
			// it is rarely the certificate next to edgeHub's.
			if cert.CommonName == testEdgeOwnerCA || strings.Contains(cert.Issuer, "CN="+testEdgeOwnerCA) {
				r.Status, r.Message = Fail, "the Edge CA is or chains to IoT Edge 1.1's quickstart CA (Test Edge Owner CA)"
				return []Result{r}
			}
		}
		d := validityDays(ca)
		switch {
		case ca.SelfSigned && d >= 85 && d <= 95:
			r.Status, r.Message = Fail, fmt.Sprintf("the Edge CA %q is the auto-generated quickstart CA: self-signed, valid for %.0f days (from %s)",
				ca.CommonName, d, from)
		default:
			kind := "issued by " + ca.Issuer
			if ca.SelfSigned {
				kind = "self-signed"
			}
			r.Status, r.Message = Pass, fmt.Sprintf("the Edge CA %q is a production CA (%s, valid for %.0f days)", ca.CommonName, kind, d)
		}
		return []Result{r}
	},
}

var edgeCAExpiry = &Check{
	Meta: Meta{
		ID: "edge-ca-expiry", Title: "Edge CA and edgeHub's certificate are not about to expire",
		Section: SecDevice, Seed: "Install production certificates", Severity: policy.Critical, IotedgeCheck: "certs-preloaded",
		Decides: "Days to expiry of the Edge CA and of edgeHub's server certificate: expired or under criticalDays fails at the " +
			"policy's severity; under warningDays fails as a warning. edgeHub's server certificate, which IoT Edge issues for 30 " +
			"days and renews by itself, warns only within warningDays or the last quarter of its lifetime, whichever is shorter.",
		Remediation: "Renew the Edge CA (or enable [edge_ca] auto-renew in /etc/aziot/config.toml) and run `sudo iotedge config apply`; restart edgeHub if its server certificate is not renewed.",
		Reference:   seedRef("install-production-certificates"),
		Needs:       []facts.Fact{NeedCerts},
		Params: []policy.ParamSpec{
			{Name: "criticalDays", Kind: policy.Int, Max: 3650, Default: 7, Doc: "days to expiry under which a certificate fails critically"},
			{Name: "warningDays", Kind: policy.Int, Max: 3650, Default: 30, Doc: "days to expiry under which a certificate fails as a warning"},
		},
	},
	Eval: func(in *Input) []Result {
		c := in.Snap.Certs
		now := in.Snap.Time
		crit, warn := float64(in.Params.Int("criticalDays")), float64(in.Params.Int("warningDays"))
		var out []Result
		if ca, from := edgeCA(c); ca != nil {
			out = append(out, expiry("the Edge CA", ca, now, crit, warn).with("from", from).about("edge-ca"))
		} else {
			out = append(out, Result{Status: Error, Subject: "edge-ca", Message: certsUnknown(c)})
		}
		if len(c.EdgeHubChain) > 0 {
			leaf := &c.EdgeHubChain[0]
			w := math.Min(warn, validityDays(leaf)/4)
			out = append(out, expiry("edgeHub's server certificate", leaf, now, crit, w).with("endpoint", c.EdgeHubEndpoint).about("edgehub-server"))
		}
		return out
	},
}

func expiry(what string, c *facts.Cert, now time.Time, crit, warn float64) Result {
	days := c.NotAfter.Sub(now).Hours() / 24
	r := Result{}.with("subject", c.Subject).with("notAfter", c.NotAfter).with("daysLeft", math.Floor(days))
	switch {
	case days <= 0:
		r.Status, r.Message = Fail, fmt.Sprintf("%s %q expired on %s", what, c.CommonName, c.NotAfter.Format("2006-01-02"))
	case days < crit:
		r.Status, r.Message = Fail, fmt.Sprintf("%s %q expires in %.0f days (%s), under %.0f", what, c.CommonName, math.Floor(days), c.NotAfter.Format("2006-01-02"), crit)
	case days < warn:
		r.Status, r.Message = Fail, fmt.Sprintf("%s %q expires in %.0f days (%s), under %.0f", what, c.CommonName, math.Floor(days), c.NotAfter.Format("2006-01-02"), warn)
		r.Severity = policy.Warning
	default:
		r.Status, r.Message = Pass, fmt.Sprintf("%s %q is valid for %.0f more days", what, c.CommonName, math.Floor(days))
	}
	return r
}
