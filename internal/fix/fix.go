// Package fix repairs a deployment manifest: for each failing finding of
// the checks that has a safe, well-known answer (the runtime images, the
// system modules' storage, log rotation, resource limits, edgeAgent's
// update mode, the upstream protocol) a fix, beside the check it repairs
// (one file per check, registered in All), changes the module's settings;
// every other failing finding is reported as not fixed, with why: a
// decision only the owner can make, or a placeholder ($VAR) the fix must
// not touch. The file keeps its shape: only the values fixed change, new
// members are written in the style of their siblings, createOptions stay a
// string (split into chunks as the tooling does) or an object.
package fix

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tidwall/gjson"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// Fix repairs what one check finds wrong in a manifest.
type Fix struct {
	// Check is the id of the check whose failing findings it repairs.
	Check string
	// Apply changes the finding's module in c, or says why it does not.
	Apply func(c *Context, f *checks.Finding) Outcome
}

// All returns every fix, one line each.
func All() []*Fix {
	return []*Fix{
		{Check: "runtime-version-supported", Apply: fixRuntimeImage},
		{Check: "image-tags-pinned", Apply: fixRuntimeImage},
		{Check: "edge-agent-storage-mounted-from-host", Apply: fixStorage},
		{Check: "edge-hub-storage-mounted-from-host", Apply: fixStorage},
		{Check: "container-engine-logrotate", Apply: fixLogRotation},
		{Check: "module-resource-limits", Apply: fixResourceLimits},
		{Check: "module-update-mode", Apply: fixModuleUpdateMode},
		{Check: "upstream-protocol-consistent", Apply: fixUpstreamProtocol},
	}
}

// Reason is why a failing finding was not fixed.
type Reason string

// Reasons.
const (
	// Decision: only the deployment's owner can choose (which version of a
	// custom image, whether a module needs its privileges, ...).
	Decision Reason = "owner's decision"
	// Placeholder: a variable stands where the fix would write.
	Placeholder Reason = "placeholder"
	// NotSelected: --checks left the check out.
	NotSelected Reason = "not selected"
)

// Outcome is what a fix did with one finding.
type Outcome struct {
	Fixed bool
	// Review marks a fix whose value is a default to size for the module
	// (resource limits).
	Review bool
	Reason Reason
	// Note says what changed, or why nothing did.
	Note string
}

func fixed(format string, args ...any) Outcome {
	return Outcome{Fixed: true, Note: fmt.Sprintf(format, args...)}
}

func decision(format string, args ...any) Outcome {
	return Outcome{Reason: Decision, Note: fmt.Sprintf(format, args...)}
}

func placeholder(format string, args ...any) Outcome {
	return Outcome{Reason: Placeholder, Note: fmt.Sprintf(format, args...)}
}

// notEditable says why a module's createOptions cannot be edited.
func notEditable(err error) Outcome {
	if errors.Is(err, errPlaceholder) {
		return placeholder("%v", err)
	}
	return decision("%v", err)
}

// Options say how to read the manifest and what to fix.
type Options struct {
	Manifest manifest.Options
	Policy   *policy.Policy
	// Checks, when not empty, limits the fixes to these checks' findings.
	Checks []string
	// Self is this module's name, for the built-in exemption.
	Self string
	// Now stamps the snapshots (exemptions expire); nil means time.Now.
	Now func() time.Time
}

// Item is a failing finding and what became of it.
type Item struct {
	Finding checks.Finding
	Outcome
}

// Result is a fixed manifest.
type Result struct {
	// Input and Output are the file before and after.
	Input, Output []byte
	// Items are the failing findings of the input, in report order.
	Items []Item
	// Changes are the edits, one per module changed, in file order.
	Changes []Change
	// Patch is the change as an RFC 6902 JSON Patch.
	Patch []PatchOp
}

// Changed tells whether the fix changed the file.
func (r *Result) Changed() bool { return !bytes.Equal(r.Input, r.Output) }

// maxRounds bounds the rounds that drop a fix which does not make its
// check pass, or makes another check fail.
const maxRounds = 8

// Run fixes a manifest read from data (path names it).
func Run(data []byte, path string, opts Options) (*Result, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	m, err := manifest.Parse(data, path, opts.Manifest)
	if err != nil {
		return nil, err
	}
	findings := runChecks(m, opts, now())
	res := &Result{Input: data, Output: data}
	var failing []checks.Finding
	for _, f := range findings {
		if f.Status == checks.Fail || f.Status == checks.Error {
			failing = append(failing, f)
		}
	}
	bom := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		bom = 3
	}
	body := data[bom:]
	if !gjson.ValidBytes(body) {
		for _, f := range failing {
			res.Items = append(res.Items, Item{f, placeholder("the file is JSON only once its variables are expanded (a variable stands where JSON wants a value): nothing is fixed in it")})
		}
		return res, nil
	}
	failedBefore := map[string]bool{}
	for _, f := range failing {
		failedBefore[f.Key()] = true
	}
	dropped := map[string]Outcome{}
	for round := 0; ; round++ {
		items, out, err := apply(body, m, failing, dropped, opts)
		if err != nil {
			return nil, err
		}
		res.Items, res.Output = items, append(append([]byte(nil), data[:bom]...), out...)
		if !res.Changed() || round == maxRounds {
			break
		}
		after, err := manifest.Parse(res.Output, path, opts.Manifest)
		if err != nil {
			return nil, fmt.Errorf("the fixed manifest does not read back (a bug): %w", err)
		}
		if !verify(items, runChecks(after, opts, now()), failedBefore, dropped) {
			break
		}
	}
	if res.Changed() {
		if res.Changes, err = changes(res.Input, res.Output, bom, res.Items); err != nil {
			return nil, err
		}
		if res.Patch, err = patch(body, res.Output[bom:]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// verify drops the fixes whose finding still fails after the fix, and the
// fixes of a module that gained a failure; it tells whether it dropped any.
func verify(items []Item, after []checks.Finding, failedBefore map[string]bool, dropped map[string]Outcome) bool {
	again := false
	byKey := map[string]*checks.Finding{}
	for i := range after {
		byKey[after[i].Key()] = &after[i]
	}
	for _, it := range items {
		if !it.Fixed {
			continue
		}
		if f := byKey[it.Finding.Key()]; f != nil && (f.Status == checks.Fail || f.Status == checks.Error) {
			dropped[it.Finding.Key()] = decision("the fix would leave it failing under this policy (%s)", f.Message)
			again = true
		}
	}
	for i := range after {
		f := &after[i]
		if (f.Status != checks.Fail && f.Status != checks.Error) || failedBefore[f.Key()] {
			continue
		}
		for _, it := range items {
			if it.Fixed && (f.Module == "" || it.Finding.Module == f.Module) {
				dropped[it.Finding.Key()] = decision("the fix would make %s fail (%s)", f.ID, f.Message)
				again = true
			}
		}
	}
	return again
}

func runChecks(m *manifest.Manifest, opts Options, t time.Time) []checks.Finding {
	return checks.Run(checks.All(), checks.Input{Snap: manifest.Snapshot(m, t), Self: opts.Self}, opts.Policy)
}

// apply runs the fixes on the failing findings and renders the result.
func apply(body []byte, m *manifest.Manifest, failing []checks.Finding, dropped map[string]Outcome, opts Options) ([]Item, []byte, error) {
	file := newDoc(append([]byte(nil), body...))
	c := &Context{file: file, m: m, pol: opts.Policy, locs: locateModules(file), plans: map[string]*plan{}}
	c.majority = majorityKind(file, c.locs)
	byCheck := map[string]*Fix{}
	for _, f := range All() {
		byCheck[f.Check] = f
	}
	items := make([]Item, 0, len(failing))
	for i := range failing {
		f := &failing[i]
		var o Outcome
		fx := byCheck[f.ID]
		switch {
		case f.Status == checks.Error:
			o = decision("the check could not decide: %s", f.Message)
		case fx == nil:
			o = decision("no fix without the owner's decision: %s", f.Remediation)
		case len(opts.Checks) > 0 && !slices.Contains(opts.Checks, f.ID):
			o = Outcome{Reason: NotSelected, Note: "--checks leaves " + f.ID + " out"}
		default:
			if d, ok := dropped[f.Key()]; ok {
				o = d
				break
			}
			o = fx.Apply(c, f)
		}
		items = append(items, Item{Finding: *f, Outcome: o})
	}
	names := make([]string, 0, len(c.plans))
	for n := range c.plans {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := c.plans[n].render(file); err != nil {
			// A module the fixes cannot write: none of its fixes count.
			for i := range items {
				if items[i].Fixed && items[i].Finding.Module == n {
					items[i].Outcome = decision("the fix cannot be written into this module: %v", err)
				}
			}
			return itemsWithout(items, n, body, m, failing, dropped, opts, err)
		}
	}
	return items, file.b, nil
}

// itemsWithout runs apply again with every fix of module n dropped.
func itemsWithout(items []Item, n string, body []byte, m *manifest.Manifest, failing []checks.Finding, dropped map[string]Outcome, opts Options, err error) ([]Item, []byte, error) {
	for _, it := range items {
		if it.Finding.Module == n {
			if _, ok := dropped[it.Finding.Key()]; !ok {
				dropped[it.Finding.Key()] = decision("the fix cannot be written into this module: %v", err)
			}
		}
	}
	return apply(body, m, failing, dropped, opts)
}

// Context is what a fix works with: the manifest as read (values as
// written and as expanded) and the changes planned so far.
type Context struct {
	file     *doc
	m        *manifest.Manifest
	pol      *policy.Policy
	locs     map[string][]string
	plans    map[string]*plan
	majority string
}

// Params are the policy's parameters of a check.
func (c *Context) Params(check string) policy.Params {
	if c.pol == nil {
		return nil
	}
	return c.pol.Checks[check].Params
}

// Module is the manifest's module of that name, nil when there is none.
func (c *Context) Module(name string) *manifest.Module {
	for _, mod := range c.m.Modules {
		if mod.Name == name {
			return mod
		}
	}
	return nil
}

// Container is the container the manifest's module makes, as the checks saw it.
func (c *Context) Container(name string) *facts.Container {
	mod := c.Module(name)
	if mod == nil {
		return nil
	}
	ct := mod.Container()
	return &ct
}

// plan returns the changes planned for a module, or an outcome saying why
// the module cannot be changed.
func (c *Context) plan(name string) (*plan, *Outcome) {
	if p := c.plans[name]; p != nil {
		return p, nil
	}
	keys, ok := c.locs[name]
	if !ok {
		o := decision("module %s is not written where the fix can change it (a layered key that reaches into its settings)", name)
		return nil, &o
	}
	p := &plan{name: name, keys: keys, template: c.m.Template}
	c.plans[name] = p
	return p, nil
}

// majorityKind is how most modules write createOptions ("string" unless
// most write an object): a module that has none gets the same.
func majorityKind(d *doc, locs map[string][]string) string {
	str, obj := 0, 0
	for _, keys := range locs {
		s := d.get(append(append([]string(nil), keys...), d.resolve(append(append([]string(nil), keys...), "settings"))[len(keys):]...))
		if len(keys) == 0 || !s.IsObject() {
			continue
		}
		s.ForEach(func(k, v gjson.Result) bool {
			if createOptionsKeyRE.MatchString(k.Str) {
				if v.IsObject() {
					obj++
				} else {
					str++
				}
			}
			return true
		})
	}
	if obj > str {
		return "object"
	}
	return "string"
}
