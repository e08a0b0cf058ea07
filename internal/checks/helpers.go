// Helpers that checks of several catalog sections share. A helper of one
// section stays in that section's file; text formatting is in format.go,
// metrics counters in counters.go, image references in image.go.

package checks

import (
	"fmt"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// contains tells whether l holds s.
func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// upstreamProtocol is the UpstreamProtocol a system module uses (Amqp unless set).
func upstreamProtocol(c *facts.Container) string {
	if v, ok := c.EnvValue("UpstreamProtocol"); ok && v != "" {
		return v
	}
	return "Amqp"
}

// shownProtocol writes p for a message, saying when it is the default.
func shownProtocol(c *facts.Container, p string) string {
	if v, ok := c.EnvValue("UpstreamProtocol"); !ok || v == "" {
		return p + " (UpstreamProtocol unset: the default)"
	}
	return p
}

// probeMessage says what a probe of a host found.
func probeMessage(p *facts.Probe) string {
	via := ""
	if p.ViaProxy {
		via = " through the proxy"
	}
	switch {
	case p.DNSError != "":
		return fmt.Sprintf("%s cannot be resolved: %s", p.Host, p.DNSError)
	case p.TLSError != "":
		return fmt.Sprintf("no TLS handshake with %s:%s%s: %s", p.Host, p.Port, via, p.TLSError)
	}
	return fmt.Sprintf("TLS handshake with %s:%s%s in %d ms", p.Host, p.Port, via, p.LatencyMs)
}

// MaxGrowthCycles bounds growthCycles: the runner keeps that many earlier
// snapshots for edgehub-queue-backlog and module-memory-headroom, so any
// allowed value can be decided.
const MaxGrowthCycles = 6
