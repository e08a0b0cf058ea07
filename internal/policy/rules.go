package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Rule is a user rule as the policy gives it: a CEL expression that is true
// when a module (scope module) or the device (scope device) passes. The
// policy decoder checks its shape; package rules compiles and type-checks
// the expressions.
type Rule struct {
	ID       string
	Title    string
	Severity Severity // the rule's own; checks.<id>.severity overrides it
	Scope    string   // ScopeModule or ScopeDevice
	// Expression is CEL that evaluates to a bool, true when the subject passes.
	Expression string
	// Message is CEL that evaluates to a string explaining a failure; "" for none.
	Message string
}

// Rule scopes.
const (
	ScopeModule = "module"
	ScopeDevice = "device"
)

// Bounds of the rules section.
const (
	MaxRules        = 100
	MaxRuleTitle    = 200
	MaxRuleIDLength = 64
)

var ruleIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// rules reads the rules section, before checks and exemptions so that they
// can name rule ids: each rule joins the specs as a check of its own.
func (d *decoder) rules(p string, v any) []Rule {
	m, ok := d.object(p, v)
	if !ok {
		return nil
	}
	if len(m) > MaxRules {
		d.errf(p, "at most %d rules, got %d", MaxRules, len(m))
		return nil
	}
	var out []Rule
	for _, id := range sortedKeys(m) {
		rp := join(p, id)
		switch {
		case len(id) > MaxRuleIDLength || !ruleIDRE.MatchString(id):
			d.errf(rp, "a rule id is lower-case letters, digits and '-', at most %d characters", MaxRuleIDLength)
			continue
		case d.spec(id) != nil:
			d.errf(rp, "the catalog has a check with this id: give the rule another id")
			continue
		}
		rm, ok := d.object(rp, m[id])
		if !ok {
			continue
		}
		r := Rule{ID: id}
		for _, k := range sortedKeys(rm) {
			kp := join(rp, k)
			switch k {
			case "title":
				r.Title, _ = d.str(kp, rm[k])
			case "severity":
				if s, ok := d.str(kp, rm[k]); ok {
					sev, ok := parseSeverity(s)
					if !ok {
						d.errf(kp, "must be one of critical, warning, info, off, got %q", s)
					}
					r.Severity = sev
				}
			case "scope":
				if s, ok := d.str(kp, rm[k]); ok {
					if s != ScopeModule && s != ScopeDevice {
						d.errf(kp, "must be %q or %q, got %q", ScopeModule, ScopeDevice, s)
					}
					r.Scope = s
				}
			case "expression":
				r.Expression, _ = d.str(kp, rm[k])
			case "message":
				r.Message, _ = d.str(kp, rm[k])
			default:
				d.errf(kp, "unknown key (known: title, severity, scope, expression, message)")
			}
		}
		for _, req := range []struct{ key, val string }{{"title", r.Title}, {"severity", string(r.Severity)}, {"scope", r.Scope}, {"expression", r.Expression}} {
			if _, given := rm[req.key]; !given {
				d.errf(join(rp, req.key), "is required")
			} else if strings.TrimSpace(req.val) == "" && req.key != "severity" && req.key != "scope" {
				d.errf(join(rp, req.key), "must not be empty")
			}
		}
		if len(r.Title) > MaxRuleTitle {
			d.errf(join(rp, "title"), "at most %d characters, got %d", MaxRuleTitle, len(r.Title))
		}
		out = append(out, r)
		d.specs = append(d.specs, CheckSpec{ID: id, Severity: r.Severity})
	}
	return out
}

// String names the rule for logs.
func (r Rule) String() string { return fmt.Sprintf("rule %s (%s)", r.ID, r.Scope) }
