// Package policy decodes and validates the module's policy: which checks run,
// at which severity, with which parameters and exemptions. The same document
// is the module twin's desired properties and the file given to `check --policy`.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the policy schema this build understands.
const SchemaVersion = "1"

// Defaults, in one place.
const (
	DefaultInterval        = 5 * time.Minute
	MinInterval            = 10 * time.Second
	DefaultHeartbeat       = time.Hour
	MinHeartbeat           = time.Minute
	DefaultFullReport      = 24 * time.Hour
	MinFullReport          = time.Minute
	DefaultEdgeHubMetrics  = "http://edgeHub:9600/metrics"
	DefaultEdgeAgentMetric = "http://edgeAgent:9600/metrics"
	ProfileProduction      = "production"
	ProfileDevelopment     = "development"
)

// Policy is a decoded, validated policy with every default filled in.
type Policy struct {
	SchemaVersion string
	Profile       string
	Interval      time.Duration
	// Heartbeat is how often module mode refreshes the twin's heartbeat
	// when nothing changed (reported properties only).
	Heartbeat time.Duration
	// FullReport is how often module mode sends the full report message
	// when nothing changed; a change sends one at once.
	FullReport time.Duration
	// Compress sends report messages gzip-compressed (contentEncoding gzip).
	Compress   bool
	Checks     map[string]CheckPolicy
	Exemptions []Exemption // sorted by name
	Metrics    Endpoints
	// AllowEnv lists environment variable names whose values may appear in output.
	AllowEnv []string
	// Exporter is module mode's Prometheus endpoint.
	Exporter Exporter
	// Rules are the user rules (package rules compiles them), sorted by id;
	// each also has its entry in Checks (severity, overridable as a check's).
	Rules []Rule
}

// Exporter configures the Prometheus endpoint of module mode.
type Exporter struct {
	Enabled bool   // default true
	Address string // host:port to listen on; empty: the --metrics-addr flag (default :9600)
	// Page serves the latest report as an HTML page at / of the same
	// listener (default true).
	Page bool
}

// CheckPolicy is the effective setting of one check.
type CheckPolicy struct {
	Severity Severity
	Params   Params
}

// Endpoints are the metrics endpoints to scrape.
type Endpoints struct {
	EdgeHub   string
	EdgeAgent string
	// Explicit is true when the policy set them (then no fallback to container addresses).
	Explicit bool
}

// Exemption silences checks for matching modules, with a reason.
type Exemption struct {
	Name    string
	Checks  []string // check ids; empty = every check
	Modules []string // glob patterns (path.Match); empty = every module and device-wide findings
	Reason  string
	Expires time.Time // zero = never
}

// Expired tells whether the exemption no longer applies at t.
func (e Exemption) Expired(t time.Time) bool { return !e.Expires.IsZero() && !t.Before(e.Expires) }

// Matches tells whether the exemption covers check id for module (empty module = device-wide).
func (e Exemption) Matches(id, module string) bool {
	if len(e.Checks) > 0 && !contains(e.Checks, id) {
		return false
	}
	if len(e.Modules) == 0 {
		return true
	}
	for _, p := range e.Modules {
		if ok, _ := path.Match(p, module); ok && module != "" {
			return true
		}
	}
	return false
}

// Error lists every problem found in a policy, each naming its path.
type Error struct{ Problems []string }

func (e *Error) Error() string { return "invalid policy: " + strings.Join(e.Problems, "; ") }

var tooLarge = fmt.Sprintf("larger than %d bytes (%d KiB), the bound on a policy: "+
	"IoT Hub keeps a module twin's desired properties to 32 KB", MaxBytes, MaxBytes>>10)

// ReadFile reads a policy file, at most MaxBytes+1 bytes of it: /dev/zero
// or a wrong path to a large file is refused, not read whole. Its errors
// name the file and the bound.
func ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy %s: %w", name, err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s: %w", name, &Error{Problems: []string{tooLarge}})
	}
	return data, nil
}

// Default returns the policy in force when none is given.
func Default(specs []CheckSpec) *Policy {
	p, err := Decode([]byte(`{}`), specs)
	if err != nil {
		panic("policy: defaults do not validate: " + err.Error())
	}
	return p
}

// MaxBytes bounds a policy document, from a file or the module twin's
// desired properties: IoT Hub keeps desired properties to 32 KB, and the
// bound leaves room for a file's indentation. A larger document is refused
// before it is parsed; a reader stops one byte after it (ReadFile).
const MaxBytes = 128 << 10

// Decode parses and validates a policy document. Unknown keys, wrong types,
// unknown check ids and out-of-range values are all reported, each with its
// path. Twin metadata ($version, $metadata) is ignored. A document over
// MaxBytes is refused unread.
func Decode(data []byte, specs []CheckSpec) (*Policy, error) {
	if len(data) > MaxBytes {
		return nil, &Error{Problems: []string{tooLarge}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, &Error{Problems: []string{"not valid JSON: " + err.Error()}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Problems: []string{"not valid JSON: trailing data after the document"}}
	}
	d := &decoder{specs: specs}
	p := d.policy(raw)
	if len(d.problems) > 0 {
		return nil, &Error{Problems: d.problems}
	}
	return p, nil
}

type decoder struct {
	specs    []CheckSpec
	problems []string
}

func (d *decoder) errf(p, format string, args ...any) {
	if p == "" {
		p = "(top level)"
	}
	d.problems = append(d.problems, p+": "+fmt.Sprintf(format, args...))
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// object returns the value as a JSON object, or reports it.
func (d *decoder) object(p string, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.errf(p, "must be an object, got %s", describe(v))
	}
	return m, ok
}

func (d *decoder) str(p string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.errf(p, "must be a string, got %s", describe(v))
	}
	return s, ok
}

func (d *decoder) strList(p string, v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		d.errf(p, "must be a list of strings, got %s", describe(v))
		return nil, false
	}
	out := make([]string, 0, len(l))
	good := true
	for i, e := range l {
		s, ok := d.str(fmt.Sprintf("%s[%d]", p, i), e)
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + x.String()
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (d *decoder) policy(raw any) *Policy {
	p := &Policy{
		SchemaVersion: SchemaVersion,
		Profile:       ProfileProduction,
		Interval:      DefaultInterval,
		Heartbeat:     DefaultHeartbeat,
		FullReport:    DefaultFullReport,
		Compress:      true,
		Exporter:      Exporter{Enabled: true, Page: true},
		Metrics:       Endpoints{EdgeHub: DefaultEdgeHubMetrics, EdgeAgent: DefaultEdgeAgentMetric},
	}
	top, ok := d.object("", raw)
	if !ok {
		return p
	}
	// The profile decides check defaults, so read it first.
	if v, ok := top["profile"]; ok {
		if s, ok := d.str("profile", v); ok {
			if s != ProfileProduction && s != ProfileDevelopment {
				d.errf("profile", "must be %q or %q, got %q", ProfileProduction, ProfileDevelopment, s)
			} else {
				p.Profile = s
			}
		}
	}
	// Rules join the checks before checks and exemptions are read, so that
	// those can name them.
	if v, ok := top["rules"]; ok {
		d.specs = append([]CheckSpec(nil), d.specs...) // the caller's list stays as it is
		p.Rules = d.rules("rules", v)
	}
	p.Checks = d.defaults(p.Profile)
	for _, k := range sortedKeys(top) {
		v := top[k]
		switch k {
		case "$version", "$metadata", "profile", "rules":
		case "schemaVersion":
			if s, ok := d.str(k, v); ok && s != SchemaVersion {
				d.errf(k, "unsupported schema version %q (this build reads %q)", s, SchemaVersion)
			}
		case "interval":
			d.duration(k, v, MinInterval, &p.Interval)
		case "reporting":
			if m, ok := d.object(k, v); ok {
				for _, rk := range sortedKeys(m) {
					switch rk {
					case "heartbeat":
						d.duration(join(k, rk), m[rk], MinHeartbeat, &p.Heartbeat)
					case "fullReport":
						d.duration(join(k, rk), m[rk], MinFullReport, &p.FullReport)
					case "compress":
						if b, ok := m[rk].(bool); ok {
							p.Compress = b
						} else {
							d.errf(join(k, rk), "must be a boolean, got %s", describe(m[rk]))
						}
					default:
						d.errf(join(k, rk), "unknown key (known: compress, fullReport, heartbeat)")
					}
				}
			}
		case "checks":
			d.checks(k, v, p.Checks)
		case "exemptions":
			p.Exemptions = d.exemptions(k, v)
		case "metrics":
			d.metrics(k, v, &p.Metrics)
		case "redaction":
			if m, ok := d.object(k, v); ok {
				for _, rk := range sortedKeys(m) {
					if rk != "allowEnv" {
						d.errf(join(k, rk), "unknown key (known: allowEnv)")
						continue
					}
					p.AllowEnv, _ = d.strList(join(k, rk), m[rk])
				}
			}
		case "exporter":
			d.exporter(k, v, &p.Exporter)
		default:
			d.errf(k, "unknown key (known: schemaVersion, profile, interval, reporting, checks, exemptions, metrics, redaction, exporter, rules)")
		}
	}
	return p
}

// exporter reads {"enabled": bool, "address": "host:port", "page": bool}.
func (d *decoder) exporter(p string, v any, dst *Exporter) {
	m, ok := d.object(p, v)
	if !ok {
		return
	}
	for _, k := range sortedKeys(m) {
		kp := join(p, k)
		switch k {
		case "enabled", "page":
			b, ok := m[k].(bool)
			if !ok {
				d.errf(kp, "must be a boolean, got %s", describe(m[k]))
				continue
			}
			if k == "page" {
				dst.Page = b
			} else {
				dst.Enabled = b
			}
		case "address":
			s, ok := d.str(kp, m[k])
			if !ok {
				continue
			}
			if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
				d.errf(kp, "must be host:port or :port, got %q", s)
				continue
			}
			dst.Address = s
		default:
			d.errf(kp, "unknown key (known: address, enabled, page)")
		}
	}
}

func (d *decoder) duration(p string, v any, min time.Duration, dst *time.Duration) {
	s, ok := d.str(p, v)
	if !ok {
		return
	}
	iv, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.errf(p, "must be a duration such as \"5m\", got %q", s)
	case iv < min:
		d.errf(p, "must be at least %s, got %s", min, s)
	default:
		*dst = iv
	}
}

func (d *decoder) defaults(profile string) map[string]CheckPolicy {
	out := make(map[string]CheckPolicy, len(d.specs))
	for _, s := range d.specs {
		sev := s.Severity
		if profile == ProfileDevelopment && s.Helpful && sev != Off {
			sev = Info
		}
		params := make(Params, len(s.Params))
		for _, ps := range s.Params {
			params[ps.Name] = ps.Default
		}
		out[s.ID] = CheckPolicy{Severity: sev, Params: params}
	}
	return out
}

func (d *decoder) spec(id string) *CheckSpec {
	for i := range d.specs {
		if d.specs[i].ID == id {
			return &d.specs[i]
		}
	}
	return nil
}

func (d *decoder) checks(p string, v any, out map[string]CheckPolicy) {
	m, ok := d.object(p, v)
	if !ok {
		return
	}
	for _, id := range sortedKeys(m) {
		cp := join(p, id)
		spec := d.spec(id)
		if spec == nil {
			d.errf(cp, "unknown check id")
			continue
		}
		cm, ok := d.object(cp, m[id])
		if !ok {
			continue
		}
		eff := out[id]
		for _, k := range sortedKeys(cm) {
			switch k {
			case "severity":
				if s, ok := d.str(join(cp, k), cm[k]); ok {
					sev, ok := parseSeverity(s)
					if !ok {
						d.errf(join(cp, k), "must be one of critical, warning, info, off, got %q", s)
					} else {
						eff.Severity = sev
					}
				}
			case "params":
				d.params(join(cp, k), cm[k], spec, eff.Params)
			default:
				d.errf(join(cp, k), "unknown key (known: severity, params)")
			}
		}
		out[id] = eff
	}
}

func (d *decoder) params(p string, v any, spec *CheckSpec, out Params) {
	m, ok := d.object(p, v)
	if !ok {
		return
	}
	for _, k := range sortedKeys(m) {
		pp := join(p, k)
		var ps *ParamSpec
		for i := range spec.Params {
			if spec.Params[i].Name == k {
				ps = &spec.Params[i]
			}
		}
		if ps == nil {
			var known []string
			for _, s := range spec.Params {
				known = append(known, s.Name)
			}
			if len(known) == 0 {
				d.errf(pp, "unknown parameter (%s takes none)", spec.ID)
			} else {
				d.errf(pp, "unknown parameter (known: %s)", strings.Join(known, ", "))
			}
			continue
		}
		if val, ok := d.param(pp, ps, m[k]); ok {
			out[k] = val
		}
	}
}

func (d *decoder) param(p string, ps *ParamSpec, v any) (any, bool) {
	switch ps.Kind {
	case StringList:
		return d.strList(p, v)
	case Bool:
		b, ok := v.(bool)
		if !ok {
			d.errf(p, "must be a boolean, got %s", describe(v))
		}
		return b, ok
	case DateTable:
		return d.dateTable(p, ps, v)
	}
	n, ok := v.(json.Number)
	if !ok {
		d.errf(p, "must be a %s, got %s", ps.Kind, describe(v))
		return nil, false
	}
	f, err := n.Float64()
	if err != nil {
		d.errf(p, "must be a %s, got %s", ps.Kind, n)
		return nil, false
	}
	switch ps.Kind {
	case Ratio:
		if f < 0 || f > 1 {
			d.errf(p, "must be between 0 and 1, got %s", n)
			return nil, false
		}
		return f, true
	case Int:
		i, err := n.Int64()
		if err != nil || i < 0 {
			d.errf(p, "must be a whole number of 0 or more, got %s", n)
			return nil, false
		}
		if ps.Max > 0 && float64(i) > ps.Max {
			d.errf(p, "must be at most %s, got %s", strconv.FormatFloat(ps.Max, 'f', -1, 64), n)
			return nil, false
		}
		return int(i), true
	default:
		if f < 0 {
			d.errf(p, "must be 0 or more, got %s", n)
			return nil, false
		}
		if ps.Max > 0 && f > ps.Max {
			d.errf(p, "must be at most %s, got %s", strconv.FormatFloat(ps.Max, 'f', -1, 64), n)
			return nil, false
		}
		return f, true
	}
}

// maxDateTable bounds a DateTable: a policy is not a database.
const maxDateTable = 100

// dateTable decodes ["name=YYYY-MM-DD", ...] and lays it over the
// parameter's default table.
func (d *decoder) dateTable(p string, ps *ParamSpec, v any) (any, bool) {
	l, ok := d.strList(p, v)
	if !ok {
		return nil, false
	}
	table := map[string]string{}
	def, _ := ps.Default.([]string)
	for _, e := range def {
		if k, val, ok := strings.Cut(e, "="); ok {
			table[k] = val
		}
	}
	good := true
	for i, e := range l {
		ep := fmt.Sprintf("%s[%d]", p, i)
		k, val, ok := strings.Cut(e, "=")
		if !ok {
			d.errf(ep, "must be name=YYYY-MM-DD such as \"1.6=2028-11-14\", got %q", e)
			good = false
			continue
		}
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if ps.KeyPattern != nil && !ps.KeyPattern.MatchString(k) {
			d.errf(ep, "%s, got %q", ps.KeyDoc, k)
			good = false
			continue
		}
		if _, err := time.Parse(time.DateOnly, val); err != nil {
			d.errf(ep, "must end in a date such as 2028-11-14, got %q", val)
			good = false
			continue
		}
		table[k] = val
	}
	if len(table) > maxDateTable {
		d.errf(p, "must hold at most %d entries, got %d", maxDateTable, len(table))
		good = false
	}
	out := make([]string, 0, len(table))
	for _, k := range sortedKeys(anyMap(table)) {
		out = append(out, k+"="+table[k])
	}
	return out, good
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (d *decoder) exemptions(p string, v any) []Exemption {
	m, ok := d.object(p, v)
	if !ok {
		return nil
	}
	var out []Exemption
	for _, name := range sortedKeys(m) {
		ep := join(p, name)
		if !validKey(name) {
			d.errf(ep, "exemption names must be valid twin keys (no '.', '$' or spaces)")
			continue
		}
		em, ok := d.object(ep, m[name])
		if !ok {
			continue
		}
		e := Exemption{Name: name}
		for _, k := range sortedKeys(em) {
			kp := join(ep, k)
			switch k {
			case "checks":
				if ids, ok := d.strList(kp, em[k]); ok {
					for i, id := range ids {
						if d.spec(id) == nil {
							d.errf(fmt.Sprintf("%s[%d]", kp, i), "unknown check id %q", id)
						}
					}
					e.Checks = ids
				}
			case "modules":
				if pats, ok := d.strList(kp, em[k]); ok {
					for i, pat := range pats {
						if _, err := path.Match(pat, ""); err != nil || pat == "" {
							d.errf(fmt.Sprintf("%s[%d]", kp, i), "bad module name pattern %q", pat)
						}
					}
					e.Modules = pats
				}
			case "reason":
				e.Reason, _ = d.str(kp, em[k])
			case "expires":
				if s, ok := d.str(kp, em[k]); ok {
					t, err := parseExpiry(s)
					if err != nil {
						d.errf(kp, "must be a date (2027-01-31) or an RFC 3339 time, got %q", s)
					}
					e.Expires = t
				}
			default:
				d.errf(kp, "unknown key (known: checks, modules, reason, expires)")
			}
		}
		if strings.TrimSpace(e.Reason) == "" {
			d.errf(join(ep, "reason"), "is required: say why the exemption is acceptable")
		}
		out = append(out, e)
	}
	return out
}

func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Add(24 * time.Hour), nil // the whole named day is included
	}
	return time.Parse(time.RFC3339, s)
}

func (d *decoder) metrics(p string, v any, out *Endpoints) {
	m, ok := d.object(p, v)
	if !ok {
		return
	}
	for _, k := range sortedKeys(m) {
		kp := join(p, k)
		var dst *string
		switch k {
		case "edgeHub":
			dst = &out.EdgeHub
		case "edgeAgent":
			dst = &out.EdgeAgent
		default:
			d.errf(kp, "unknown key (known: edgeHub, edgeAgent)")
			continue
		}
		s, ok := d.str(kp, m[k])
		if !ok {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errf(kp, "must be an http(s) URL, got %q", withoutUserinfo(s))
			continue
		}
		if u.User != nil { // the URL is reported: credentials would leave the device
			d.errf(kp, "must not carry a user or password")
			continue
		}
		*dst = s
		out.Explicit = true
	}
}

// withoutUserinfo hides what may be a user or password in a value that is
// not a URL, so that the error (acknowledged in the twin, logged) cannot
// carry it: "user:pw@host:9600" is shown as "…@host:9600".
func withoutUserinfo(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return s[:start] + "…" + s[at:]
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
