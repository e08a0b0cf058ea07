// Package redact keeps secrets on the device. Checks name environment
// variables, not their values, except the few that decide a check; a Scrubber
// then removes any secret value that still reaches an output (report, table,
// logs), and patterns catch SAS tokens, keys and connection strings.
package redact

import (
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// Mask replaces a redacted value.
const Mask = "[REDACTED]"

// decisive lists the environment variables whose values checks decide on.
// They are not secrets and may appear in findings.
var decisive = map[string]bool{
	"upstreamprotocol":           true,
	"storagefolder":              true,
	"optimizeforperformance":     true,
	"moduleupdatemode":           true,
	"amqpsettings__enabled":      true,
	"mqttsettings__enabled":      true,
	"httpsettings__enabled":      true,
	"metricsenabled":             true,
	"runtimeloglevel":            true,
	"edgedevicehostname":         true,
	"iotedge_gatewayhostname":    true,
	"iotedge_iothubhostname":     true,
	"iotedge_deviceid":           true,
	"iotedge_moduleid":           true,
	"iotedge_parenthostname":     true,
	"https_proxy":                true, // credentials in the URL are still masked
	"http_proxy":                 true,
	"no_proxy":                   true,
	"iotedge_workloaduri":        true,
	"iotedge_apiversion":         true,
	"iotedge_authscheme":         true,
	"iotedge_modulegenerationid": true,
}

// Policy decides which environment values may be shown.
type Policy struct{ allow map[string]bool }

// NewPolicy allows the decisive variables plus the named ones (case-insensitive).
func NewPolicy(allowEnv []string) *Policy {
	p := &Policy{allow: map[string]bool{}}
	for k := range decisive {
		p.allow[k] = true
	}
	for _, n := range allowEnv {
		p.allow[strings.ToLower(n)] = true
	}
	return p
}

// Allowed tells whether the value of variable name may be shown.
func (p *Policy) Allowed(name string) bool { return p.allow[strings.ToLower(name)] }

// Value returns the value to show for variable name: the value itself when
// allowed (with URL credentials masked), else Mask.
func (p *Policy) Value(name, value string) string {
	if !p.Allowed(name) {
		return Mask
	}
	return maskURLUserinfo(value)
}

func maskURLUserinfo(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil || u.Host == "" {
		return v
	}
	u.User = url.User(Mask)
	return u.String()
}

var secretName = regexp.MustCompile(`(?i)(key|token|secret|passw|pwd|connection|sas|credential|auth|cert|private|signature)`)

// LooksSecretName tells whether a variable name suggests a secret.
func LooksSecretName(name string) bool { return secretName.MatchString(name) }

// patterns catch secrets whatever variable (or log line) they come from.
var patterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(SharedAccessKey|SharedAccessSignature|AccountKey|Password|Pwd|sig)=[^;&"\s,]+`),
	regexp.MustCompile(`SharedAccessSignature sr=[^"\s]+`),
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`),
	regexp.MustCompile(`(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`),
	regexp.MustCompile(`://[^/\s:@"]+:[^/\s@"]+@`), // user:password@ in URLs
	// user:password@ in a reference without a scheme, such as an image's
	// registry login (user:pw@contoso.azurecr.io/sensor:1.0); a digest
	// (alpine:3.19@sha256:...) is no host followed by a path and stays.
	regexp.MustCompile(`\b[\w.$-]+:[^/\s@"']+@((?:[\w-]+\.)+[\w-]+(?::\d+)?/)`),
}

// Scrubber removes known secret values and secret-looking text from output.
// It is safe for concurrent use. Registering the same value again costs
// nothing, so it can be fed every cycle.
type Scrubber struct {
	mu      sync.RWMutex
	known   map[string]struct{}
	secrets []string // longest first
}

// NewScrubber returns an empty Scrubber.
func NewScrubber() *Scrubber { return &Scrubber{known: map[string]struct{}{}} }

// AddEnv registers environment values that must never be printed: every
// value not allowed by p that is secret by its name, or looks like a secret.
func (s *Scrubber) AddEnv(p *Policy, env map[string]string) {
	var add []string
	s.mu.RLock()
	for k, v := range env {
		if p.Allowed(k) {
			continue
		}
		if _, ok := s.known[v]; ok {
			continue
		}
		if (LooksSecretName(k) && len(v) >= 4) || LooksSecretValue(v) {
			add = append(add, v)
		}
	}
	s.mu.RUnlock()
	if len(add) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range add {
		if _, ok := s.known[v]; !ok {
			s.known[v] = struct{}{}
			s.secrets = append(s.secrets, v)
		}
	}
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
}

// LooksSecretValue tells whether a value looks like a credential: a connection
// string, a SAS token, or a long random-looking token.
func LooksSecretValue(v string) bool {
	for _, p := range patterns {
		if p.MatchString(v) {
			return true
		}
	}
	if len(v) < 20 || strings.ContainsAny(v, " /:.") {
		return false
	}
	var upper, lower, digit int
	for _, r := range v {
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsLower(r):
			lower++
		case unicode.IsDigit(r):
			digit++
		}
	}
	return upper > 0 && lower > 0 && digit > 0
}

// Bytes returns b with every secret masked; b itself when it holds none.
func (s *Scrubber) Bytes(b []byte) []byte {
	out, changed := s.scrub(string(b))
	if !changed {
		return b
	}
	return []byte(out)
}

// String is Bytes for strings; v itself, not a copy, when it holds no secret.
func (s *Scrubber) String(v string) string {
	out, _ := s.scrub(v)
	return out
}

// scrub masks the known secrets and what the patterns catch in v, and says
// whether it masked anything. A pattern runs only on text that holds what
// each of its matches holds (needs): a report is thousands of short strings
// with nothing to mask, and each skipped scan is a regular expression not
// run and a copy not made, every cycle.
func (s *Scrubber) scrub(v string) (string, bool) {
	orig := v
	s.mu.RLock()
	for _, sec := range s.secrets {
		if strings.Contains(v, sec) {
			v = strings.ReplaceAll(v, sec, Mask)
		}
	}
	s.mu.RUnlock()
	for i, p := range patterns {
		if !needs[i](v) {
			continue
		}
		switch i {
		case 4:
			v = p.ReplaceAllString(v, "://"+Mask+"@")
			continue
		case 5:
			v = p.ReplaceAllString(v, Mask+"@$1")
			continue
		}
		v = p.ReplaceAllStringFunc(v, func(m string) string {
			if k := strings.IndexByte(m, '='); k > 0 && i == 0 {
				return m[:k+1] + Mask
			}
			return Mask
		})
	}
	if v == orig {
		return orig, false
	}
	return v, true
}

// needs tells, for each of patterns, whether v holds what every match of
// that pattern holds; when it does not, the pattern cannot match v.
var needs = []func(v string) bool{
	func(v string) bool { return strings.IndexByte(v, '=') >= 0 },
	func(v string) bool { return strings.Contains(v, "SharedAccessSignature sr=") },
	func(v string) bool { return strings.Contains(v, "PRIVATE KEY-----") },
	// (?i) folds some non-ASCII letters to ASCII ones (ſ to s, K to k):
	// text with any non-ASCII byte is left to the pattern.
	func(v string) bool {
		return !isASCII(v) || containsFoldASCII(v, "bearer") || containsFoldASCII(v, "basic")
	},
	func(v string) bool { return strings.Contains(v, "://") && strings.IndexByte(v, '@') >= 0 },
	func(v string) bool { return strings.IndexByte(v, '@') >= 0 && strings.IndexByte(v, ':') >= 0 },
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsFoldASCII tells whether v holds word, a lower-case ASCII word, in
// any case.
func containsFoldASCII(v, word string) bool {
	for i := 0; i+len(word) <= len(v); i++ {
		j := 0
		for ; j < len(word); j++ {
			c := v[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				break
			}
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

// Writer wraps w so that everything written through it is scrubbed. Each
// Write is scrubbed on its own, which suits line-oriented writers such as
// zerolog and whole-document writes.
func (s *Scrubber) Writer(w io.Writer) io.Writer { return &writer{s: s, w: w} }

type writer struct {
	s *Scrubber
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(w.s.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
