package fix

import (
	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// fixUpstreamProtocol sets the UpstreamProtocol of whichever of edgeAgent
// and edgeHub leaves it unset to the one the other names; when both name
// one, which the network allows is the owner's choice.
func fixUpstreamProtocol(c *Context, f *checks.Finding) Outcome {
	agent, hub := c.Module(facts.EdgeAgent), c.Module(facts.EdgeHub)
	if agent == nil || hub == nil {
		return decision("edgeAgent or edgeHub is not in the manifest")
	}
	va, vh := envVar(agent, "UpstreamProtocol"), envVar(hub, "UpstreamProtocol")
	aSet, hSet := va != nil && va.Raw != "", vh != nil && vh.Raw != ""
	if (aSet && hasVariable(va.Raw)) || (hSet && hasVariable(vh.Raw)) {
		return placeholder("UpstreamProtocol is a variable")
	}
	var target, from, to, name string
	switch {
	case aSet && !hSet:
		target, from, to, name = va.Raw, facts.EdgeAgent, facts.EdgeHub, "UpstreamProtocol"
		if vh != nil {
			name = vh.Name
		}
	case hSet && !aSet:
		target, from, to, name = vh.Raw, facts.EdgeHub, facts.EdgeAgent, "UpstreamProtocol"
		if va != nil {
			name = va.Name
		}
	default:
		return decision("edgeAgent and edgeHub name different protocols: choose the one the network allows")
	}
	p, o := c.plan(to)
	if o != nil {
		return *o
	}
	p.setEnv(name, target)
	return fixed("%s's UpstreamProtocol set to %s, as %s's", to, target, from).touching(facts.SettingEnv)
}
