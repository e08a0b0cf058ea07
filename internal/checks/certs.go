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
			return []Result{{Status: Error, Message: certsUnknown(c), Undecided: NeedCerts}}
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

// hubRenewBuffer is how long before its server certificate ends edgeHub
// restarts to renew it (TimeBuffer in edgeHub's CertificateRenewal.cs).
const hubRenewBuffer = 5 * time.Minute

var edgeCAExpiry = &Check{
	Meta: Meta{
		ID: "edge-ca-expiry", Title: "Edge CA and edgeHub's certificate are not about to expire",
		Section: SecDevice, Seed: "Install production certificates", Severity: policy.Critical, IotedgeCheck: "certs-preloaded",
		Decides: "Days to expiry of the Edge CA: expired or under criticalDays fails at the policy's severity; under warningDays " +
			"fails as a warning; the message says whether IoT Edge renews it by itself where the certificate shows it (the " +
			"auto-generated quickstart CA is renewed by default). edgeHub's server certificate, which the workload API issues " +
			"for 30 days and edgeHub renews by itself, restarting 5 minutes before it ends (CertificateRenewal), fails only when " +
			"edgeHub serves it expired or within those 5 minutes, when it should already have been renewed.",
		Remediation: "Renew the Edge CA (or set [edge_ca.auto_renew] in /etc/aziot/config.toml) and run `sudo iotedge config apply`; restart edgeHub if its server certificate is not renewed.",
		Reference:   seedRef("install-production-certificates"),
		Needs:       []facts.Fact{NeedCerts},
		Params: []policy.ParamSpec{
			{Name: "criticalDays", Kind: policy.Int, Max: 3650, Default: 7, Doc: "days to expiry under which the Edge CA fails critically"},
			{Name: "warningDays", Kind: policy.Int, Max: 3650, Default: 30, Doc: "days to expiry under which the Edge CA fails as a warning"},
		},
	},
	Eval: func(in *Input) []Result {
		c := in.Snap.Certs
		now := in.Snap.Time
		crit, warn := float64(in.Params.Int("criticalDays")), float64(in.Params.Int("warningDays"))
		var out []Result
		if ca, from := edgeCA(c); ca != nil {
			r := expiry("the Edge CA", ca, now, crit, warn).with("from", from).about("edge-ca")
			renew := caRenewal(ca)
			r = r.with("autoRenew", renew.state)
			if r.Status == Fail {
				r.Message += "; " + renew.text
			}
			out = append(out, r)
		} else {
			out = append(out, Result{Status: Error, Subject: "edge-ca", Message: certsUnknown(c), Undecided: NeedCerts})
		}
		if len(c.EdgeHubChain) > 0 {
			out = append(out, hubServerExpiry(&c.EdgeHubChain[0], now).with("endpoint", c.EdgeHubEndpoint).about("edgehub-server"))
		}
		return out
	},
}

// renewal is what the facts show of the Edge CA's auto-renewal.
type renewal struct{ state, text string }

// caRenewal tells whether IoT Edge renews the Edge CA by itself, as far as
// the certificate shows: the auto-generated quickstart CA is renewed by
// default (at 80 % of its life); a CA from a PKI is renewed only when
// [edge_ca.auto_renew] or EST is set in config.toml, which a module cannot
// read.
func caRenewal(ca *facts.Cert) renewal {
	if d := validityDays(ca); ca.SelfSigned && d >= 85 && d <= 95 {
		return renewal{"yes", "it is the quickstart Edge CA, which IoT Edge renews by itself at 80 % of its life: it was not renewed"}
	}
	return renewal{"unknown", "whether it renews by itself ([edge_ca.auto_renew] or EST in /etc/aziot/config.toml) is not visible from here"}
}

// hubServerExpiry judges edgeHub's own server certificate, which edgeHub
// renews hubRenewBuffer before it ends.
func hubServerExpiry(c *facts.Cert, now time.Time) Result {
	left := c.NotAfter.Sub(now)
	r := Result{}.with("subject", c.Subject).with("notAfter", c.NotAfter).with("daysLeft", math.Floor(left.Hours()/24)).
		with("validityDays", math.Round(validityDays(c)))
	switch {
	case left <= 0:
		r.Status, r.Message = Fail, fmt.Sprintf("edgeHub's server certificate %q ended %s ago (%s) and edgeHub still serves it: it was not renewed, "+
			"so modules and downstream devices cannot connect", c.CommonName, roundAge(-left), c.NotAfter.UTC().Format(time.RFC3339))
	case left <= hubRenewBuffer:
		r.Status, r.Message = Fail, fmt.Sprintf("edgeHub's server certificate %q ends in %s (%s): edgeHub renews it %s before it ends, so it should "+
			"already have been renewed", c.CommonName, roundAge(left), c.NotAfter.UTC().Format(time.RFC3339), roundAge(hubRenewBuffer))
	default:
		r.Status, r.Message = Pass, fmt.Sprintf("edgeHub's server certificate %q is valid for %s more (until %s); edgeHub renews it by itself %s before it ends",
			c.CommonName, roundAge(left), c.NotAfter.UTC().Format("2006-01-02 15:04 MST"), roundAge(hubRenewBuffer))
	}
	return r
}

// roundAge writes a duration as days, hours or minutes.
func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.0f days", math.Floor(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.0f hours", math.Floor(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%.0f minutes", math.Floor(d.Minutes()))
	}
	return d.Round(time.Second).String()
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
