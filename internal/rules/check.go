package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// newCheck makes a catalog-like check of a compiled rule, so that the runner
// gives it severity, exemptions, missing facts and unresolved variables as
// it gives them to any check, and every output shows it.
func newCheck(r policy.Rule, expr, msg *program, cache *viewCache) *checks.Check {
	fields := append([]field(nil), expr.fields...)
	if msg != nil {
		for _, f := range msg.fields {
			if !containsField(fields, f) {
				fields = append(fields, f)
			}
		}
	}
	c := &checks.Check{Meta: checks.Meta{
		ID: r.ID, Title: r.Title, Section: Section, Seed: "user rule", Severity: r.Severity,
		Decides:     fmt.Sprintf("User rule (CEL, scope %s): passes when %s", r.Scope, r.Expression),
		Remediation: "Change the " + r.Scope + " so that the rule's expression holds, or change the rule in the policy (rules." + r.ID + ").",
	}}
	readsModules := r.Scope == policy.ScopeModule
	for _, f := range fields {
		switch {
		case strings.HasPrefix(string(f), "module."), f == "device.modules":
			readsModules = true
		}
		switch f {
		case "module.image":
			c.Reads = appendSetting(c.Reads, facts.SettingImage)
		case "module.env":
			c.Reads = appendSetting(c.Reads, facts.SettingEnv)
		case "module.createOptions", "module.hostConfig", "module.labels":
			c.Reads = appendSetting(c.Reads, facts.SettingCreateOptions)
		}
	}
	if readsModules {
		c.Needs = []facts.Fact{facts.FactContainers}
	}
	e := &evaluator{rule: r, expr: expr, msg: msg, fields: fields, cache: cache}
	c.Eval = e.eval
	return c
}

func containsField(l []field, f field) bool {
	for _, e := range l {
		if e == f {
			return true
		}
	}
	return false
}

func appendSetting(l []facts.Setting, s facts.Setting) []facts.Setting {
	for _, e := range l {
		if e == s {
			return l
		}
	}
	return append(l, s)
}

type evaluator struct {
	rule   policy.Rule
	expr   *program
	msg    *program
	fields []field
	cache  *viewCache
}

func (e *evaluator) eval(in *checks.Input) []checks.Result {
	// A field the source does not hold: skip (or error, when it failed), naming it.
	for _, f := range e.fields {
		if why, failed := lacking(f, in.Snap); why != "" {
			st := checks.Skip
			if failed {
				st = checks.Error
			}
			return []checks.Result{{Status: st, Message: fmt.Sprintf("rule %s reads %s, which this source does not give: %s", e.rule.ID, f, why),
				Evidence: map[string]any{"field": string(f)}}}
		}
	}
	v := e.cache.views(in.Snap)
	if e.rule.Scope == policy.ScopeDevice {
		return []checks.Result{e.one("", &v.deviceVars)}
	}
	out := make([]checks.Result, 0, len(v.modules))
	for i := range v.modules {
		out = append(out, e.one(v.modules[i].Name, &v.moduleVars[i]))
	}
	if len(out) == 0 {
		return []checks.Result{{Status: checks.Skip, Message: "no modules to check"}}
	}
	return out
}

// one evaluates the rule for one subject: a runtime error (a missing map
// key, the cost limit) is an error finding, never a crash.
func (e *evaluator) one(module string, vars *activation) checks.Result {
	subject := "the device"
	if module != "" {
		subject = module
	}
	val, _, err := e.expr.prg.Eval(vars)
	if err != nil {
		return checks.Result{Module: module, Status: checks.Error, Undecided: checks.FactRule, Message: fmt.Sprintf("rule %s could not be evaluated for %s: %v", e.rule.ID, subject, err)}
	}
	ok, isBool := val.(types.Bool)
	if !isBool {
		return checks.Result{Module: module, Status: checks.Error, Undecided: checks.FactRule, Message: fmt.Sprintf("rule %s gave %s for %s, not a bool", e.rule.ID, typeOf(val), subject)}
	}
	if ok {
		return checks.Result{Module: module, Status: checks.Pass, Message: subject + " satisfies rule " + e.rule.ID}
	}
	msg := fmt.Sprintf("%s fails rule %s: %s", subject, e.rule.ID, e.rule.Title)
	if e.msg != nil {
		mv, _, err := e.msg.prg.Eval(vars)
		switch s, isStr := mv.(types.String); {
		case err != nil:
			msg += fmt.Sprintf(" (its message could not be evaluated: %v)", err)
		case isStr:
			msg = string(s)
		}
	}
	return checks.Result{Module: module, Status: checks.Fail, Message: msg}
}

func typeOf(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().TypeName()
}
