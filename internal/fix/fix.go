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
	"strings"
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
	// touched are the module's settings the fix changed.
	touched []facts.Setting
}

// touching records which of the module's settings a fix changed.
func (o Outcome) touching(s ...facts.Setting) Outcome {
	o.touched = s
	return o
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
	// modules are the modules its fix changed.
	modules []string
}

// changed tells whether the item's fix changed the module.
func (it Item) changed(module string) bool { return it.Fixed && slices.Contains(it.modules, module) }

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
			res.Items = append(res.Items, Item{Finding: f, Outcome: placeholder("the file is JSON only once its variables are expanded (a variable stands where JSON wants a value): nothing is fixed in it")})
		}
		return res, nil
	}
	failedBefore := map[string]bool{}
	for _, f := range failing {
		failedBefore[f.Key()] = true
	}
	dropped := map[string]Outcome{}
	file := newDoc(body)
	run := &runState{body: body, m: m, failing: failing, opts: opts, file: file, locs: locateModules(file)}
	for round := 0; ; round++ {
		items, out, err := apply(run, dropped)
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

// verify drops the fixes whose finding still fails after the fix, and,
// for a finding that fails only after the fixes, the fixes of its module
// that changed a setting its check reads (all of the module's, or all
// fixes for a finding about the whole device, when the check names none);
// it tells whether it dropped any.
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
	reads := map[string][]facts.Setting{}
	for _, c := range checks.All() {
		reads[c.ID] = c.Reads
	}
	for i := range after {
		f := &after[i]
		if (f.Status != checks.Fail && f.Status != checks.Error) || failedBefore[f.Key()] {
			continue
		}
		var culprits []Item
		for _, it := range items {
			if it.Fixed && (f.Module == "" || it.changed(f.Module)) {
				culprits = append(culprits, it)
			}
		}
		if narrowed := touchingReads(culprits, reads[f.ID], f.Module); len(narrowed) > 0 {
			culprits = narrowed
		}
		for _, it := range culprits {
			dropped[it.Finding.Key()] = decision("the fix would make %s fail (%s)", f.ID, f.Message)
			again = true
		}
	}
	return again
}

// touchingReads keeps the fixes that changed a setting the check reads.
func touchingReads(items []Item, reads []facts.Setting, module string) []Item {
	var out []Item
	for _, it := range items {
		if slices.ContainsFunc(it.touched, func(s facts.Setting) bool {
			return slices.ContainsFunc(reads, func(r facts.Setting) bool {
				m, rs := r.Split()
				return rs.Base() == s && (m == "" || m == module || module == "")
			})
		}) {
			out = append(out, it)
		}
	}
	return out
}

func runChecks(m *manifest.Manifest, opts Options, t time.Time) []checks.Finding {
	return checks.Run(checks.All(), checks.Input{Snap: manifest.Snapshot(m, t), Self: opts.Self}, opts.Policy)
}

// apply runs the fixes on the failing findings and renders the result.
func apply(run *runState, dropped map[string]Outcome) ([]Item, []byte, error) {
	body, m, failing, opts := run.body, run.m, run.failing, run.opts
	file := newDoc(body)
	c := &Context{file: file, m: m, pol: opts.Policy, locs: run.locs, run: run, plans: map[string]*plan{}}
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
			c.planned = nil
			o = fx.Apply(c, f)
		}
		it := Item{Finding: *f, Outcome: o}
		if o.Fixed {
			it.modules = c.planned
		}
		items = append(items, it)
	}
	// From the end of the file, so that each splice leaves the offsets
	// of the modules before it as they were.
	names := make([]string, 0, len(c.plans))
	for n := range c.plans {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return c.plans[b].at - c.plans[a].at })
	for _, n := range names {
		if err := c.plans[n].render(file); err != nil {
			// A module the fixes cannot write: none of its fixes count.
			return itemsWithout(items, n, run, dropped, err)
		}
	}
	return items, []byte(file.b), nil
}

// itemsWithout runs apply again with every fix of module n dropped.
func itemsWithout(items []Item, n string, run *runState, dropped map[string]Outcome, err error) ([]Item, []byte, error) {
	if run.depth++; run.depth > len(run.failing)+1 {
		return nil, nil, fmt.Errorf("module %s cannot be written (a bug): %w", n, err)
	}
	for _, it := range items {
		if slices.Contains(it.modules, n) {
			if _, ok := dropped[it.Finding.Key()]; !ok {
				dropped[it.Finding.Key()] = decision("the fix cannot be written into this module: %v", err)
			}
		}
	}
	return apply(run, dropped)
}

// runState is what every round of a run shares.
type runState struct {
	body     []byte
	m        *manifest.Manifest
	failing  []checks.Finding
	opts     Options
	file     *doc
	locs     map[string][]string
	majority string // majorityKind, once a fix needs it
	depth    int    // modules dropped because they could not be written
}

// majorityKind is how most modules of the file write createOptions.
func (r *runState) majorityKind() string {
	if r.majority == "" {
		r.majority = majorityKind(r.file, r.locs)
	}
	return r.majority
}

// Context is what a fix works with: the manifest as read (values as
// written and as expanded) and the changes planned so far.
type Context struct {
	file    *doc
	m       *manifest.Manifest
	pol     *policy.Policy
	locs    map[string][]string
	plans   map[string]*plan
	run     *runState
	planned []string // the modules the fix being applied plans changes to
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
	if !slices.Contains(c.planned, name) {
		c.planned = append(c.planned, name)
	}
	if p := c.plans[name]; p != nil {
		return p, nil
	}
	keys, ok := c.locs[name]
	if !ok {
		o := decision("module %s is not written where the fix can change it (a layered key that reaches into its settings)", name)
		return nil, &o
	}
	r := c.file.get(keys)
	p := &plan{name: name, keys: keys, src: r.Raw, at: r.Index, template: c.m.Template}
	c.plans[name] = p
	return p, nil
}

// majorityKind is how most modules write createOptions ("string" unless
// most write an object): a module that has none gets the same.
func majorityKind(d *doc, locs map[string][]string) string {
	str, obj := 0, 0
	for _, keys := range locs {
		d.get(keys).ForEach(func(k, settings gjson.Result) bool {
			if !strings.EqualFold(k.Str, "settings") || !settings.IsObject() {
				return true
			}
			settings.ForEach(func(k, v gjson.Result) bool {
				if createOptionsKeyRE().MatchString(k.Str) {
					if v.IsObject() {
						obj++
					} else {
						str++
					}
				}
				return true
			})
			return true
		})
	}
	if obj > str {
		return "object"
	}
	return "string"
}
