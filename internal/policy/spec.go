package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Severity is how much a failed check counts against readiness.
type Severity string

// Severities, from the most to the least serious.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
	Off      Severity = "off"
)

// Rank orders severities: critical 3, warning 2, info 1, off and anything
// else 0. It is the one ranking of severities the outputs sort by.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 3
	case Warning:
		return 2
	case Info:
		return 1
	}
	return 0
}

func parseSeverity(s string) (Severity, bool) {
	switch Severity(s) {
	case Critical, Warning, Info, Off:
		return Severity(s), true
	}
	return "", false
}

// ParamKind is the type of a check parameter.
type ParamKind int

// Parameter kinds.
const (
	Ratio      ParamKind = iota // a number from 0 to 1
	Int                         // a whole number >= 0
	Number                      // any number >= 0
	StringList                  // a list of strings
	Bool
	// DateTable is a list of "name=YYYY-MM-DD" entries, such as releases
	// and their end of servicing (a list, as a twin key cannot hold the
	// dot of "1.6"). A policy's entries are laid over the default table:
	// they add names or move dates, and the defaults they do not name
	// stay. The decoded value is the whole table, sorted by name.
	DateTable
)

func (k ParamKind) String() string {
	switch k {
	case Ratio:
		return "ratio"
	case Int:
		return "integer"
	case Number:
		return "number"
	case StringList:
		return "list of strings"
	case Bool:
		return "boolean"
	case DateTable:
		return "table of dates"
	}
	return "unknown"
}

// ParamSpec declares one parameter of a check and its default.
type ParamSpec struct {
	Name    string
	Kind    ParamKind
	Default any // float64, int, []string (StringList, DateTable) or bool, matching Kind
	Doc     string
	// Max bounds an integer or number parameter (0: no bound beyond the
	// kind's); a larger value is refused with the bound named.
	Max float64
	// KeyPattern, for a DateTable, is what each name must match, and
	// KeyDoc the message when it does not.
	KeyPattern *regexp.Regexp
	KeyDoc     string
}

// CheckSpec is what the policy needs to know about a check.
type CheckSpec struct {
	ID       string
	Severity Severity
	// Helpful marks the seed's "helpful" items and hardening checks: the
	// development profile reports them as info.
	Helpful bool
	Params  []ParamSpec
}

// Params holds a check's effective parameters.
type Params map[string]any

// Float returns a ratio or number parameter.
func (p Params) Float(name string) float64 {
	switch v := p[name].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	panic(fmt.Sprintf("policy: parameter %q is not a number", name))
}

// Int returns an integer parameter.
func (p Params) Int(name string) int {
	switch v := p[name].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	panic(fmt.Sprintf("policy: parameter %q is not an integer", name))
}

// Strings returns a list parameter.
func (p Params) Strings(name string) []string {
	v, _ := p[name].([]string)
	return v
}

// Dates returns a DateTable parameter: name to date (UTC midnight).
func (p Params) Dates(name string) map[string]time.Time {
	raw, _ := p[name].([]string)
	out := make(map[string]time.Time, len(raw))
	for _, e := range raw {
		if k, v, ok := strings.Cut(e, "="); ok {
			if t, err := time.Parse(time.DateOnly, v); err == nil {
				out[k] = t
			}
		}
	}
	return out
}

// Bool returns a boolean parameter.
func (p Params) Bool(name string) bool {
	v, _ := p[name].(bool)
	return v
}

// validKey reports whether s may be a key in a module twin's properties.
func validKey(s string) bool {
	return s != "" && len(s) <= 1024 && !strings.ContainsAny(s, ".$ ") && !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || (r >= 0x7f && r <= 0x9f)
	})
}
