// Package rules compiles a policy's user rules, written in CEL
// (cel.dev/cel-go), into checks the runner runs beside the catalog's: each
// rule is type-checked against the view of the facts (view.go) when the
// policy is applied, compiled once per policy, bounded in length and in
// estimated and actual cost, and evaluated once per module (scope module)
// or once per device (scope device). The CEL environment is built only when
// a policy has rules.
package rules

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// envBuilds and viewBuilds count the CEL environments and the views built
// (tests read them: no environment without rules, one view per snapshot).
var envBuilds, viewBuilds atomic.Int64

// Section is the report section of user rules.
const Section = "User rules"

// Bounds of a rule.
const (
	// MaxExpression is the longest expression or message, in bytes.
	MaxExpression = 4096
	// MaxEstimatedCost is the highest cost CEL's estimator may give a rule
	// (with lists and maps of at most maxItems entries, strings of at most
	// maxString bytes) for the policy to be applied.
	MaxEstimatedCost = 10_000_000
	// MaxCost is the cost at which one evaluation stops with an error.
	MaxCost   = 10_000_000
	maxItems  = 256
	maxString = 4096
)

// costLimit is the limit programs are built with: MaxCost, lowered by the
// tests that reach it, so that they need not run ten million steps.
var costLimit uint64 = MaxCost

// Compile compiles the policy's rules into checks, in rule id order. A rule
// that does not compile, is not a bool (a message not a string), reads an
// unknown field, is too long or may cost too much is refused: the error is
// a *policy.Error with one problem per refusal, naming the rule, the
// position and the reason. A policy without rules builds no CEL environment.
func Compile(p *policy.Policy) ([]*checks.Check, error) {
	if len(p.Rules) == 0 {
		return nil, nil
	}
	envs, err := environments()
	if err != nil {
		return nil, fmt.Errorf("building the rules' environment: %w", err)
	}
	var problems []string
	out := make([]*checks.Check, 0, len(p.Rules))
	cache := &viewCache{}
	for _, r := range p.Rules {
		c, probs := compileRule(envs[r.Scope], r, cache)
		problems = append(problems, probs...)
		if c != nil {
			out = append(out, c)
		}
	}
	if len(problems) > 0 {
		return nil, &policy.Error{Problems: problems}
	}
	return out, nil
}

// environments are the CEL environments of the two scopes: a module rule
// sees module and device, a device rule device only.
func environments() (map[string]*cel.Env, error) {
	envBuilds.Add(1)
	base, err := cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[Module](), reflect.TypeFor[Device](), ext.ParseStructTags(true)),
		ext.Strings(), cel.OptionalTypes(),
		cel.Variable("device", cel.ObjectType(typeName("Device"))),
	)
	if err != nil {
		return nil, err
	}
	mod, err := base.Extend(cel.Variable("module", cel.ObjectType(typeName("Module"))))
	if err != nil {
		return nil, err
	}
	return map[string]*cel.Env{policy.ScopeModule: mod, policy.ScopeDevice: base}, nil
}

func typeName(t string) string { return "rules." + t }

// program is one compiled expression and the fields of the view it reads.
type program struct {
	prg    cel.Program
	fields []field
}

func compileRule(env *cel.Env, r policy.Rule, cache *viewCache) (*checks.Check, []string) {
	var problems []string
	expr, probs := compileExpr(env, r, "expression", r.Expression, types.BoolType)
	problems = append(problems, probs...)
	var msg *program
	if r.Message != "" {
		var probs []string
		msg, probs = compileExpr(env, r, "message", r.Message, types.StringType)
		problems = append(problems, probs...)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return newCheck(r, expr, msg, cache), nil
}

// compileExpr compiles and type-checks one expression; each problem is
// "rules.<id>.<key>: line L, column C: reason".
func compileExpr(env *cel.Env, r policy.Rule, key, src string, want *types.Type) (*program, []string) {
	at := "rules." + r.ID + "." + key
	if len(src) > MaxExpression {
		return nil, []string{fmt.Sprintf("%s: %d bytes, longer than the bound of %d", at, len(src), MaxExpression)}
	}
	checked, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		var out []string
		for _, e := range iss.Errors() {
			out = append(out, fmt.Sprintf("%s: line %d, column %d: %s", at, e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, out
	}
	if !checked.OutputType().IsExactType(want) {
		return nil, []string{fmt.Sprintf("%s: line 1, column 1: must evaluate to a %s, evaluates to %s", at,
			want.String(), checked.OutputType().String())}
	}
	est, err := env.EstimateCost(checked, estimator{})
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: line 1, column 1: cannot estimate its cost: %v", at, err)}
	}
	if est.Max > MaxEstimatedCost {
		up := fmt.Sprintf("up to %d", est.Max)
		if est.Max == math.MaxUint64 {
			up = "unbounded"
		}
		return nil, []string{fmt.Sprintf("%s: line 1, column 1: estimated cost %s exceeds the bound of %d (with lists and maps of %d entries, strings of %d bytes): "+
			"iterate over fewer nested lists", at, up, MaxEstimatedCost, maxItems, maxString)}
	}
	// Constant regular expressions compile once, here, not per evaluation.
	prg, err := env.Program(checked, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize), cel.OptimizeRegex(interpreter.MatchesRegexOptimization))
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: line 1, column 1: %v", at, err)}
	}
	return &program{prg: prg, fields: readFields(checked)}, nil
}

// readFields lists the view's fields the expression selects, as
// "module.status", "device.engine", "runtime.daemonVersion".
func readFields(checked *cel.Ast) []field {
	native := checked.NativeRep()
	var out []field
	ast.PreOrderVisit(ast.NavigateAST(native), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.SelectKind {
			return
		}
		sel := e.AsSelect()
		t := native.GetType(sel.Operand().ID())
		if t == nil {
			return
		}
		name, ok := strings.CutPrefix(t.TypeName(), "rules.")
		if !ok {
			return
		}
		f := field(strings.ToLower(name[:1]) + name[1:] + "." + sel.FieldName())
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}))
	return out
}

// estimator bounds the sizes CEL's cost estimator assumes: every list or
// map of the view at most maxItems entries, every string at most maxString
// bytes.
type estimator struct{}

func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	switch n.Type().Kind() {
	case types.ListKind, types.MapKind, types.DynKind: // a value of createOptions: mostly a list or map
		return &cost.SizeEstimate{Min: 0, Max: maxItems}
	case types.StringKind, types.BytesKind:
		return &cost.SizeEstimate{Min: 0, Max: maxString}
	}
	return nil
}

func (estimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// viewCache keeps the views of the last snapshot, so that twenty rules
// build them once per cycle.
type viewCache struct {
	mu   sync.Mutex
	snap *facts.Snapshot
	v    *views
}

// views are a snapshot's views and the variables each evaluation sees.
type views struct {
	modules    []Module
	device     Device
	moduleVars []activation // module i and the device
	deviceVars activation   // the device alone
}

func (c *viewCache) views(s *facts.Snapshot) *views {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != s {
		viewBuilds.Add(1)
		mods := s.Modules()
		v := &views{modules: make([]Module, len(mods)), moduleVars: make([]activation, len(mods))}
		for i, m := range mods {
			v.modules[i] = moduleView(m, s.Deployment)
		}
		v.device = deviceView(s, v.modules)
		for i := range v.modules {
			v.moduleVars[i] = activation{module: &v.modules[i], device: &v.device}
		}
		v.deviceVars = activation{device: &v.device}
		c.snap, c.v = s, v
	}
	return c.v
}

// activation gives an evaluation its variables without a map per evaluation.
type activation struct {
	module *Module
	device *Device
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch {
	case name == "module" && a.module != nil:
		return a.module, true
	case name == "device":
		return a.device, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }
