package checks

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// defaultLifecycle is the end of servicing of each IoT Edge LTS release, the
// last day it is serviced (learn.microsoft.com "Azure IoT Edge version
// history" and the release notes of Azure/azure-iotedge 1.5.0 and 1.6.0).
var defaultLifecycle = []string{"1.1=2022-12-13", "1.4=2024-11-12", "1.5=2026-11-10", "1.6=2028-11-14"}

var releaseRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

// releaseKey is the pattern of a lifecycle entry's name.
var releaseKey = regexp.MustCompile(`^\d{1,4}\.\d{1,4}$`)

// release is an IoT Edge major.minor release.
type release struct{ major, minor int }

func parseRelease(s string) (release, bool) {
	m := releaseRE.FindStringSubmatch(s)
	if m == nil || m[0] != s {
		return release{}, false
	}
	a, err1 := strconv.Atoi(m[1])
	b, err2 := strconv.Atoi(m[2])
	return release{a, b}, err1 == nil && err2 == nil
}

func (r release) less(o release) bool {
	return r.major < o.major || (r.major == o.major && r.minor < o.minor)
}

// lifecycleEntry is one release of the lifecycle table.
type lifecycleEntry struct {
	name string
	rel  release
	end  time.Time // the last day of servicing, UTC midnight
}

// lifecycle is the table a check judges releases against.
type lifecycle []lifecycleEntry

func lifecycleOf(p policy.Params) lifecycle {
	var out lifecycle
	for name, end := range p.Dates("lifecycle") {
		if rel, ok := parseRelease(name); ok {
			out = append(out, lifecycleEntry{name: name, rel: rel, end: end})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel.less(out[j].rel) })
	return out
}

func (l lifecycle) find(rel release) (lifecycleEntry, bool) {
	for _, e := range l {
		if e.rel == rel {
			return e, true
		}
	}
	return lifecycleEntry{}, false
}

// newest is the release serviced the longest (the latest end; the higher
// release on a tie).
func (l lifecycle) newest() (lifecycleEntry, bool) {
	var best lifecycleEntry
	for i, e := range l {
		if i == 0 || e.end.After(best.end) || (e.end.Equal(best.end) && best.rel.less(e.rel)) {
			best = e
		}
	}
	return best, len(l) > 0
}

// nextAfter is the oldest entry newer than rel.
func (l lifecycle) nextAfter(rel release) (lifecycleEntry, bool) {
	for _, e := range l {
		if rel.less(e.rel) {
			return e, true
		}
	}
	return lifecycleEntry{}, false
}

// LifecycleNewest names the newest entry of the lifecycle table a policy
// judges runtime releases against ("1.6=2028-11-14"), so that a report
// says how fresh its knowledge of IoT Edge releases was.
func LifecycleNewest(p *policy.Policy) string {
	if p == nil {
		return ""
	}
	cp, ok := p.Checks[runtimeVersionSupported.ID]
	if !ok {
		return ""
	}
	if n, ok := lifecycleOf(cp.Params).newest(); ok {
		return n.name + "=" + n.end.Format(time.DateOnly)
	}
	return ""
}

var runtimeVersionSupported = &Check{
	Meta: Meta{
		ID: "runtime-version-supported", Title: "IoT Edge runtime is a supported release",
		Section: SecDevice, Seed: "Tags for the IoT Edge runtime", Severity: policy.Critical,
		Decides: "Reads the release (major.minor) from the image tags of edgeAgent and edgeHub as the deployment names them " +
			"(label net.azure-devices.edge.original-image), falling back to edgeAgent_metadata's edge_agent_version for a digest, " +
			"and judges it against its end of servicing in lifecycle at the snapshot's time: after the last day of servicing it " +
			"fails, naming the date and the newest release of the table; within warningDays of it, it fails as a warning. " +
			"A release not in the table passes when it is newer than every entry, fails when a newer entry has ended, and " +
			"cannot be decided otherwise. When supportedReleases is set, a release it does not list fails too, and a listed " +
			"release the table does not know passes.",
		Remediation: "Move the device to a supported IoT Edge release: upgrade the host packages (aziot-edge) and set the " +
			"edgeAgent and edgeHub images in the deployment to that release (for example mcr.microsoft.com/azureiotedge-hub:1.6.8).",
		Reference: "https://learn.microsoft.com/azure/iot-edge/version-history",
		Needs:     []facts.Fact{NeedContainers},
		Reads:     []facts.Setting{facts.SettingImage},
		Params: []policy.ParamSpec{
			{Name: "lifecycle", Kind: policy.DateTable, Default: defaultLifecycle, KeyPattern: releaseKey,
				KeyDoc: "must name a release as major.minor such as 1.6",
				Doc:    "each release's last day of servicing, as release=YYYY-MM-DD; entries given add to or replace the defaults"},
			{Name: "warningDays", Kind: policy.Int, Max: 3650, Default: 180,
				Doc: "days before the end of servicing from which a release fails as a warning"},
			{Name: "supportedReleases", Kind: policy.StringList, Default: []string{},
				Doc: "when set, the only releases (major.minor) allowed, each still judged by lifecycle; empty: lifecycle alone decides"},
			{Name: "newestPatches", Kind: policy.StringList, Default: []string{"1.6.8"},
				Doc: "the newest patch of each LTS release (1.6.8 released 2026-11-02): `fix` sets edgeAgent and edgeHub to the newest of them"},
		},
	},
	Eval: func(in *Input) []Result {
		if in.Snap.Time.IsZero() {
			return []Result{skip("", "the snapshot has no time to judge the end of servicing against")}
		}
		table := lifecycleOf(in.Params)
		supported := in.Params.Strings("supportedReleases")
		warn := time.Duration(in.Params.Int("warningDays")) * 24 * time.Hour
		newest, _ := table.newest()
		var out []Result
		for _, name := range []string{facts.EdgeAgent, facts.EdgeHub} {
			m := in.Snap.Module(name)
			if m == nil {
				out = append(out, skip(name, "no %s container (see modules-running)", name))
				continue
			}
			img := m.OriginalImage()
			rel, from := "", "image "+img
			if ref, err := parseImage(img); err == nil && ref.tag != "" {
				if mm := releaseRE.FindStringSubmatch(ref.tag); mm != nil {
					rel = mm[1] + "." + mm[2]
				}
			}
			if rel == "" && name == facts.EdgeAgent {
				if v := agentVersion(in.Snap); v != "" {
					if mm := releaseRE.FindStringSubmatch(v); mm != nil {
						rel, from = mm[1]+"."+mm[2], "edgeAgent_metadata version "+v
					}
				}
			}
			r, ok := parseRelease(rel)
			if !ok {
				out = append(out, skip(name, "cannot tell the release of %s from %s", name, from))
				continue
			}
			res := Result{Module: name}.with("release", rel).with("image", img).
				with("lifecycle", newest.name+"="+newest.end.Format(time.DateOnly))
			if len(supported) > 0 {
				res = res.with("supportedReleases", supported)
			}
			out = append(out, judgeRelease(res, name, rel, r, from, table, supported, in.Snap.Time, warn))
		}
		return out
	},
}

// judgeRelease decides one module's release against the lifecycle table and
// supportedReleases at time now.
func judgeRelease(res Result, name, relName string, rel release, from string, table lifecycle, supported []string,
	now time.Time, warn time.Duration) Result {
	runs := fmt.Sprintf("%s runs IoT Edge %s (%s)", name, relName, from)
	newest, haveNewest := table.newest()
	moveTo := "a newer release: the lifecycle table knows none yet, add it to lifecycle"
	if haveNewest && rel.less(newest.rel) {
		moveTo = fmt.Sprintf("%s, the newest release in the lifecycle table (serviced through %s)", newest.name, newest.end.Format(time.DateOnly))
	}
	if len(supported) > 0 && !contains(supported, relName) {
		res.Status, res.Message = Fail, fmt.Sprintf("%s, which supportedReleases does not list (supported: %s)", runs, strings.Join(supported, ", "))
		return res
	}
	e, known := table.find(rel)
	if !known {
		switch next, hasNext := table.nextAfter(rel); {
		case len(supported) > 0:
			res.Status, res.Message = Pass, fmt.Sprintf("%s, a release supportedReleases lists; its end of servicing is not in the lifecycle table", runs)
		case !hasNext:
			res.Status, res.Message = Pass, fmt.Sprintf("%s, newer than every release in the lifecycle table (newest: %s, serviced through %s); add its end of servicing to lifecycle",
				runs, newest.name, newest.end.Format(time.DateOnly))
		case !now.Before(next.end.Add(24 * time.Hour)):
			res.Status, res.Message = Fail, fmt.Sprintf("%s, which is not in the lifecycle table and is older than %s, whose servicing ended on %s: move to %s",
				runs, next.name, next.end.Format(time.DateOnly), moveTo)
		default:
			res.Status, res.Message = Skip, fmt.Sprintf("%s, which is not in the lifecycle table: add its end of servicing to lifecycle to decide", runs)
		}
		return res
	}
	end := e.end.Format(time.DateOnly)
	res = res.with("endOfServicing", end)
	left := e.end.Add(24 * time.Hour).Sub(now) // servicing covers the whole last day (UTC)
	switch {
	case left <= 0:
		res.Status, res.Message = Fail, fmt.Sprintf("%s, whose servicing ended on %s: move to %s", runs, end, moveTo)
	case left <= warn:
		res.Status, res.Severity = Fail, policy.Warning
		n := int(math.Ceil(left.Hours() / 24))
		days := fmt.Sprintf("%d days", n)
		if n == 1 {
			days = "1 day"
		}
		res.Message = fmt.Sprintf("%s, serviced only through %s (%s from now, within warningDays %d): plan the move to %s",
			runs, end, days, int(warn.Hours()/24), moveTo)
	default:
		res.Status, res.Message = Pass, fmt.Sprintf("%s, a supported release (serviced through %s)", runs, end)
	}
	return res
}

func agentVersion(s *facts.Snapshot) string {
	for _, smp := range s.Metrics[facts.EdgeAgent].Find("edgeAgent_metadata", nil) {
		if v := smp.Labels["edge_agent_version"]; v != "" {
			return v
		}
	}
	return ""
}

var containerEngineMoby = &Check{
	Meta: Meta{
		ID: "container-engine-moby", Title: "Container engine is Moby",
		Section: SecDevice, Seed: "Container engine", Severity: policy.Critical,
		Decides: "The engine's server version (GET /version, /info) must carry Microsoft's `+azure` build suffix (moby-engine), " +
			"or the engine must be the Docker snap on Ubuntu Core.",
		Remediation: "Install Microsoft's Moby engine (package moby-engine from packages.microsoft.com) in place of Docker CE " +
			"or the distribution's docker.io, then restart aziot-edged.",
		Reference:    seedRef("container-engine"),
		IotedgeCheck: "container-engine-is-moby (1.1)",
		Needs:        []facts.Fact{NeedEngine},
	},
	Eval: func(in *Input) []Result {
		e := in.Snap.Engine
		r := Result{}.with("serverVersion", e.ServerVersion).with("operatingSystem", e.OperatingSystem)
		isMoby := strings.Contains(e.ServerVersion, "+azure")
		for _, c := range e.Components {
			isMoby = isMoby || strings.Contains(c, "+azure")
		}
		snap := strings.Contains(e.OperatingSystem, "Ubuntu Core") || strings.Contains(e.DockerRootDir, "/snap/docker/")
		switch {
		case isMoby:
			r.Status, r.Message = Pass, "the engine is Moby "+e.ServerVersion
		case snap:
			r.Status, r.Message = Pass, "the engine is the Docker snap on Ubuntu Core ("+e.ServerVersion+")"
		default:
			r.Status, r.Message = Fail, fmt.Sprintf("the engine is %s %s, not Microsoft's Moby (moby-engine, versions ending in +azure), "+
				"the only engine supported in production besides the Docker snap on Ubuntu Core", orName(e.PlatformName, "Docker"), e.ServerVersion)
		}
		return []Result{r}
	},
}

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

var upstreamProtocolInfo = &Check{
	Meta: Meta{
		ID: "upstream-protocol", Title: "Upstream protocol",
		Section: SecDevice, Seed: "Choose upstream protocol", Severity: policy.Info,
		Decides: "Reports the UpstreamProtocol edgeHub and edgeAgent use, the port it needs and whether the probe of IoT Hub " +
			"reached that port; suggests the WebSocket variant (AmqpWs, MqttWs) when a proxy is configured, as only 443 goes " +
			"through it, or when the port is unreachable while 443 is.",
		Remediation: "Choose the protocol the network allows: AmqpWs or MqttWs when only 443 is open or a proxy is used.",
		Reference:   seedRef("choose-upstream-protocol"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.ModuleSetting(facts.EdgeHub, facts.SettingEnv)},
	},
	Eval: func(in *Input) []Result {
		hub := in.Snap.Module(facts.EdgeHub)
		if hub == nil {
			return []Result{skip("", "no edgeHub container (see modules-running)")}
		}
		p := upstreamProtocol(hub)
		port, _ := facts.UpstreamPort(p)
		r := Result{}.with("protocol", p).with("port", port)
		if proxy := engineOrEnvProxy(in.Snap, hub); proxy != "" && port != "443" {
			r.Status, r.Message = Fail, fmt.Sprintf("edgeHub uses %s (port %s) but a proxy is configured: only %sWs on 443 goes through a proxy",
				p, port, strings.TrimSuffix(p, "Ws"))
			return []Result{r}
		}
		reach := ""
		if pr := upstreamProbe(in.Snap); pr != nil {
			r = r.with("reachable", pr.OK())
			if !pr.OK() && port != "443" && reachable443(in.Snap) {
				r.Status, r.Message = Fail, fmt.Sprintf("edgeHub uses %s but port %s is not reachable (%s) while 443 is: use %sWs",
					p, port, probeMessage(pr), strings.TrimSuffix(p, "Ws"))
				return []Result{r}
			}
			reach = " (reachable from this module)"
			if !pr.OK() {
				reach = " (not reachable from this module: see upstream-connectivity)"
			}
		}
		r.Status, r.Message = Pass, fmt.Sprintf("edgeHub connects upstream with %s on port %s%s", shownProtocol(hub, p), port, reach)
		return []Result{r}
	},
}

// upstreamProbe is the probe of IoT Hub (or the parent device), if any.
func upstreamProbe(s *facts.Snapshot) *facts.Probe {
	for i := range s.Probes {
		if s.Probes[i].Purpose == "iothub" {
			return &s.Probes[i]
		}
	}
	return nil
}

// reachable443 tells whether some probe completed a TLS handshake on 443.
func reachable443(s *facts.Snapshot) bool {
	for i := range s.Probes {
		if s.Probes[i].Port == "443" && s.Probes[i].OK() {
			return true
		}
	}
	return false
}

func engineOrEnvProxy(s *facts.Snapshot, c *facts.Container) string {
	if v, ok := c.EnvValue("https_proxy"); ok && v != "" {
		return v
	}
	if s.Engine != nil {
		return s.Engine.HTTPSProxy
	}
	return ""
}

var rfc1035Label = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// deviceHostname is the hostname the device presents to its modules.
func deviceHostname(s *facts.Snapshot) (string, string) {
	if hub := s.Module(facts.EdgeHub); hub != nil {
		if v, ok := hub.EnvValue("EdgeDeviceHostName"); ok && v != "" {
			return v, "edgeHub's EdgeDeviceHostName"
		}
	}
	if v := s.Env["IOTEDGE_GATEWAYHOSTNAME"]; v != "" {
		return v, "IOTEDGE_GATEWAYHOSTNAME"
	}
	return "", ""
}

var hostnameValid = &Check{
	Meta: Meta{
		ID: "hostname-valid", Title: "Device hostname is valid",
		Section: SecDevice, Seed: "Install production certificates", Severity: policy.Warning, Helpful: true, IotedgeCheck: "hostname",
		Decides: "The device hostname (edgeHub's EdgeDeviceHostName, else this module's IOTEDGE_GATEWAYHOSTNAME) must be RFC 1035 " +
			"(labels of letters, digits and hyphens, starting with a letter, at most 63 characters) and at most 64 characters " +
			"long, or an IP address.",
		Remediation: "Set hostname in /etc/aziot/config.toml to a valid name of at most 64 characters and run `sudo iotedge config apply`; the Edge CA issues edgeHub's certificate for it.",
		Reference:   "https://learn.microsoft.com/azure/iot-edge/troubleshoot-common-errors",
		Reads:       []facts.Setting{facts.ModuleSetting(facts.EdgeHub, facts.SettingEnv)},
	},
	Eval: func(in *Input) []Result {
		name, from := deviceHostname(in.Snap)
		if name == "" {
			return []Result{skip("", "the device hostname is unknown: neither edgeHub's EdgeDeviceHostName nor IOTEDGE_GATEWAYHOSTNAME is visible")}
		}
		r := Result{}.with("hostname", name).with("from", from)
		if isIP(name) {
			r.Status, r.Message = Pass, fmt.Sprintf("the device hostname %s (%s) is an IP address", name, from)
			return []Result{r}
		}
		var bad []string
		for _, l := range strings.Split(name, ".") {
			if !rfc1035Label.MatchString(l) {
				bad = append(bad, fmt.Sprintf("label %q is not RFC 1035", l))
			}
		}
		if len(name) > 64 {
			bad = append(bad, fmt.Sprintf("it is %d characters long, too long to be used as a certificate issuer (64 at most)", len(name)))
		}
		if len(bad) > 0 {
			r.Status, r.Message = Fail, fmt.Sprintf("the device hostname %q (%s) is not valid: %s", name, from, strings.Join(bad, "; "))
		} else {
			r.Status, r.Message = Pass, fmt.Sprintf("the device hostname %s (%s) is valid", name, from)
		}
		return []Result{r}
	},
}
